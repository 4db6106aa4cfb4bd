"""Result values: frozen dataclasses for completions, tool calls, usage, stream events, embeddings.

Every value round-trips through plain JSON (``to_dict`` / ``from_dict``) so caches and batch
checkpoints store JSON, never pickle.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, TypedDict

__all__ = [
    "Choice",
    "CompletionResult",
    "EmbeddingResult",
    "FrozenDict",
    "StreamEvent",
    "StreamEventType",
    "ToolCall",
    "Usage",
    "freeze",
    "thaw",
]


class FrozenDict(dict):
    """A dict that refuses mutation; JSON-serialisable and picklable like a plain dict."""

    __slots__ = ()

    def _readonly(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("this mapping is part of a frozen result and cannot be changed")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly  # type: ignore[assignment]
    __ior__ = _readonly  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(json.dumps(self, sort_keys=True, default=str))


def freeze(value: Any) -> Any:
    """Deep-convert dicts to FrozenDict and lists to tuples (a FrozenDict is frozen already)."""
    if isinstance(value, FrozenDict):
        return value
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The one deep-thaw: mappings (FrozenDict too) to dicts, lists and tuples to lists, as
    plain mutable JSON (a copy; leaves are shared)."""
    kind = type(value)
    if kind is str or value is None:  # the common leaves first: this runs for every message sent
        return value
    if kind is dict or isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if kind is list or isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


_thaw = thaw  # the name other modules imported


class _Role(TypedDict):
    role: str


class Message(_Role, total=False):
    """A chat message as the API takes it (what ``Conversation.get_messages()`` returns).

    ``role`` is always there; the other keys depend on it (``tool_calls`` on an assistant turn,
    ``tool_call_id`` on a tool result, ``output_items`` for state a provider needs back).
    """

    content: str | list[dict[str, object]] | None
    name: str
    tool_calls: list[dict[str, object]]
    tool_call_id: str
    refusal: str | None
    output_items: list[dict[str, object]]


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one or more calls (``+`` adds them up)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cached_tokens + other.cached_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    @classmethod
    def from_api(cls, data: Mapping[str, Any] | None) -> "Usage":
        """Parse a chat (prompt/completion) or Responses (input/output) usage object.

        Missing or null counts are 0; a count that is not a non-negative integer (or a usage
        that is not an object) raises ValueError naming the field, which the wire parsers turn
        into APIResponseValidationError.
        """
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise ValueError(f"usage must be an object, got {type(data).__name__}")
        prompt = _count(data, "prompt_tokens", "input_tokens")
        completion = _count(data, "completion_tokens", "output_tokens")
        pdet = _details(data, "prompt_tokens_details", "input_tokens_details")
        cdet = _details(data, "completion_tokens_details", "output_tokens_details")
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=_count(data, "total_tokens") or prompt + completion,
            reasoning_tokens=_count(cdet, "reasoning_tokens"),
            cached_tokens=_count(pdet, "cached_tokens"),
            cache_write_tokens=_count(pdet, "cache_write_tokens"),
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cached_tokens": self.cached_tokens,
            "cache_write_tokens": self.cache_write_tokens,
        }


def _count(data: Mapping[str, Any], *names: str) -> int:
    for name in names:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"usage field {name!r} must be a non-negative integer, got {value!r}")
        return value
    return 0


def _details(data: Mapping[str, Any], *names: str) -> Mapping[str, Any]:
    for name in names:
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, Mapping):
            raise ValueError(f"usage field {name!r} must be an object, got {type(value).__name__}")
        return value
    return {}


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call the model asked for.

    ``arguments`` is the decoded JSON object (empty when ``raw_arguments`` is not valid JSON:
    ``arguments_error`` then says why, and the tool registry reports it back to the model).
    ``extra_content`` keeps vendor data the server wants back with the call (Gemini's
    ``{"google": {"thought_signature": ...}}``); ``to_openai()`` sends it back.
    """

    id: str
    name: str
    arguments: Mapping[str, Any] = field(default_factory=FrozenDict)
    raw_arguments: str = ""
    arguments_error: str | None = None
    type: str = "function"
    extra_content: Mapping[str, Any] | None = None

    @classmethod
    def from_raw(cls, id: str, name: str, raw_arguments: str) -> "ToolCall":
        """Build a ToolCall, decoding ``raw_arguments`` leniently."""
        error = None
        args: Any = {}
        text = raw_arguments or ""
        if text.strip():
            try:
                args = json.loads(text)
            except ValueError as exc:
                error = f"arguments are not valid JSON: {exc}"
                args = {}
            except RecursionError:
                error, args = "arguments are nested too deeply", {}
        if not isinstance(args, dict):
            error = error or f"arguments must be a JSON object, got {type(args).__name__}"
            args = {}
        try:
            frozen = freeze(args)
        except RecursionError:  # parsed, but too deep to copy: the model gets the error back
            error, frozen = "arguments are nested too deeply", FrozenDict()
        return cls(id=id, name=name, arguments=frozen, raw_arguments=text, arguments_error=error)

    def to_openai(self) -> dict[str, Any]:
        """The ``tool_calls[]`` entry of an assistant message."""
        out: dict[str, Any] = {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.raw_arguments or "{}"},
        }
        if self.extra_content:
            out["extra_content"] = _thaw(self.extra_content)
        return out

    def to_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "name": self.name, "raw_arguments": self.raw_arguments}
        if self.extra_content:
            out["extra_content"] = _thaw(self.extra_content)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ToolCall":
        return cls.from_raw(data["id"], data["name"], data.get("raw_arguments", "")).with_extra(data.get("extra_content"))

    def with_extra(self, extra_content: Mapping[str, Any] | None) -> "ToolCall":
        """This call carrying ``extra_content`` (vendor data to send back), or itself when there is none."""
        return replace(self, extra_content=freeze(dict(extra_content))) if extra_content else self


@dataclass(frozen=True, slots=True)
class Choice:
    """One of ``n`` alternatives in a chat completion."""

    index: int
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """A failed attempt of a fail-over chain: who was tried, why it failed, how long it took.

    Failed attempts are listed on the result but never billed into its ``cost``.
    """

    provider: str
    model: str
    error_type: str
    message: str
    status_code: int | None = None
    elapsed: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "error_type": self.error_type,
                "message": self.message, "status_code": self.status_code, "elapsed": self.elapsed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Attempt":
        return cls(str(data["provider"]), str(data["model"]), str(data["error_type"]), str(data["message"]),
                   data.get("status_code"), float(data.get("elapsed") or 0.0))


@dataclass(frozen=True, slots=True)
class CompletionResult:
    """The assembled answer of one model call (streamed or not).

    The top-level fields describe the first choice; ``choices`` holds all of them when ``n > 1``.
    ``cost`` is in USD from the model profile's prices (None for models with unknown prices).
    ``output_items`` keeps Responses-API output items other than messages (reasoning, function
    calls, built-in tool calls such as ``web_search_call``); they are sent back on the next turn.
    ``annotations`` keeps citations (``url_citation``, ``file_citation``, ...) of the answer text.
    """

    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    model: str | None = None
    finish_reason: str | None = None
    refusal: str | None = None
    request_id: str | None = None
    raw: Mapping[str, Any] | None = None
    parsed: Any = None
    reasoning: str | None = None
    choices: tuple[Choice, ...] = ()
    response_id: str | None = None
    output_items: tuple[Mapping[str, Any], ...] = ()
    cached: bool = False
    provider: str | None = None
    attempts: tuple[Attempt, ...] = ()
    annotations: tuple[Mapping[str, Any], ...] = ()

    @property
    def text(self) -> str:
        """``content`` or the empty string."""
        return self.content or ""

    def to_message(self) -> dict[str, Any]:
        """The assistant message to append to a conversation."""
        msg: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            msg["tool_calls"] = [tc.to_openai() for tc in self.tool_calls]
        if self.refusal:
            msg["refusal"] = self.refusal
        if self.output_items:
            # Responses API: reasoning/function_call items must go back on the next turn
            msg["output_items"] = _thaw(list(self.output_items))
        return msg

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (for caches and checkpoints); ``parsed`` is re-derived on load."""
        return {
            "content": self.content,
            "tool_calls": [tc.to_dict() for tc in self.tool_calls],
            "usage": self.usage.to_dict(),
            "cost": self.cost,
            "model": self.model,
            "finish_reason": self.finish_reason,
            "refusal": self.refusal,
            "request_id": self.request_id,
            "raw": _thaw(self.raw) if self.raw is not None else None,
            "reasoning": self.reasoning,
            "choices": [
                {
                    "index": c.index,
                    "content": c.content,
                    "tool_calls": [tc.to_dict() for tc in c.tool_calls],
                    "finish_reason": c.finish_reason,
                    "refusal": c.refusal,
                }
                for c in self.choices
            ],
            "response_id": self.response_id,
            "output_items": _thaw(list(self.output_items)),
            "provider": self.provider,
            "attempts": [a.to_dict() for a in self.attempts],
            "annotations": _thaw(list(self.annotations)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, parsed: Any = None, cached: bool = False) -> "CompletionResult":
        """Inverse of ``to_dict``; raises KeyError/TypeError/ValueError on a foreign shape."""
        if not isinstance(data, Mapping) or "content" not in data:
            raise ValueError("not a serialised CompletionResult")
        choices = tuple(
            Choice(
                index=int(c["index"]),
                content=c.get("content"),
                tool_calls=tuple(ToolCall.from_dict(t) for t in c.get("tool_calls") or ()),
                finish_reason=c.get("finish_reason"),
                refusal=c.get("refusal"),
            )
            for c in data.get("choices") or ()
        )
        return cls(
            content=data["content"],
            tool_calls=tuple(ToolCall.from_dict(t) for t in data.get("tool_calls") or ()),
            usage=Usage(**(data.get("usage") or {})),
            cost=data.get("cost"),
            model=data.get("model"),
            finish_reason=data.get("finish_reason"),
            refusal=data.get("refusal"),
            request_id=data.get("request_id"),
            raw=freeze(data.get("raw")),
            parsed=parsed,
            reasoning=data.get("reasoning"),
            choices=choices,
            response_id=data.get("response_id"),
            output_items=freeze(list(data.get("output_items") or ())),
            cached=cached,
            provider=data.get("provider"),
            attempts=tuple(Attempt.from_dict(a) for a in data.get("attempts") or ()),
            annotations=freeze(list(data.get("annotations") or ())),
        )


class StreamEventType(str, enum.Enum):
    """Kinds of events a stream yields.

    Data by type: META dict (model, request_id, ... or agent events ``{"event": ...}``); TOKEN
    str; REASONING str; TOOL_CALL_START dict(index, id, name); TOOL_CALL_DELTA dict(index,
    arguments fragment); TOOL_CALL_END ToolCall; USAGE Usage; DONE the CompletionResult (or an
    AgentResult from an agent); ERROR the exception.
    """

    META = "meta"
    TOKEN = "token"
    REASONING = "reasoning"
    TOOL_CALL_START = "tool_call_start"
    TOOL_CALL_DELTA = "tool_call_delta"
    TOOL_CALL_END = "tool_call_end"
    USAGE = "usage"
    DONE = "done"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a stream; ``choice`` is the choice index (0 unless ``n > 1``)."""

    type: StreamEventType
    data: Any = None
    choice: int = 0


@dataclass(frozen=True, slots=True)
class EmbeddingResult:
    """Embedding vectors in input order (each a list of floats)."""

    vectors: tuple[list[float], ...]
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    cost: float | None = None
    cached: bool = False

    def __len__(self) -> int:
        return len(self.vectors)

    def __iter__(self) -> Iterable[list[float]]:  # type: ignore[override]
        return iter(self.vectors)

    def to_dict(self) -> dict[str, Any]:
        return {"vectors": [list(v) for v in self.vectors], "usage": self.usage.to_dict(),
                "model": self.model, "cost": self.cost}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, cached: bool = False) -> "EmbeddingResult":
        if not isinstance(data, Mapping) or "vectors" not in data:
            raise ValueError("not a serialised EmbeddingResult")
        return cls(vectors=tuple([float(x) for x in v] for v in data["vectors"]),
                   usage=Usage(**(data.get("usage") or {})), model=data.get("model"),
                   cost=data.get("cost"), cached=cached)
