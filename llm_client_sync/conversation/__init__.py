"""``Conversation``: a chat history that returns what fits a model's context window.

Truncation never separates an assistant's tool_calls from their tool results, and always keeps
the system message and the newest user message; see ``Conversation`` for the three strategies.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

from .._atomic import atomic_write
from .._checks import check_message, check_str
from .._redact import redact
from ..errors import ConfigurationError
from ..models import ModelProfile
from ..tokens import Tokenizer, get_tokenizer
from ..types import Message, thaw
from ._truncate import STRATEGIES, Marker, select

__all__ = ["Conversation"]

FORMAT_VERSION = 1
#: ``load`` refuses larger files: a conversation file is text a model read, not a data dump.
MAX_FILE_BYTES = 256 * 1024 * 1024


_copy = thaw  # a plain-JSON deep copy (FrozenDict/tuples become dict/list)


def _tool_call_dict(call: Any) -> dict[str, Any]:
    if hasattr(call, "to_openai"):
        return call.to_openai()
    if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping) and call.get("id"):
        out = _copy(call)
        out.setdefault("type", "function")
        return out
    raise ConfigurationError(f"a tool call must be a ToolCall or an OpenAI tool_calls entry, got {call!r}")


def _checked(message: Any) -> dict[str, Any]:
    check_message(message)
    out = _copy(message)
    if message["role"] == "assistant" and message.get("tool_calls"):
        calls = message["tool_calls"]
        if not isinstance(calls, (list, tuple)):
            raise ConfigurationError(f"tool_calls must be a list, got {type(calls).__name__}")
        out["tool_calls"] = [_tool_call_dict(c) for c in calls]
    return out


@dataclass(slots=True)
class _Entry:
    message: dict[str, Any]
    tool_name: str | None = None  # the function a tool result answers (rendered by the API)
    counts: dict[str, int] = field(default_factory=dict)  # Tokenizer.key -> tokens

    def tokens(self, tok: Tokenizer) -> int:
        found = self.counts.get(tok.key)
        if found is None:
            found = self.counts[tok.key] = tok.message(self.message, self.tool_name)
        return found


class Conversation:
    """A chat history with token-aware truncation; every method is thread-safe (one RLock).

    ``get_messages()`` returns the system message plus what fits in ``max_tokens -
    reserve_tokens`` (counted with tiktoken for ``model``, reply priming included), choosing by
    ``truncation_strategy``:

    - ``"drop_oldest"``: drop whole turns (a user message and what follows it) from the oldest.
    - ``"sliding"`` (default): keep the first user message (the task) and the most recent turns
      that fit; the turns in between go, oldest first.
    - ``"drop_middle"``: keep the earliest and the latest turns, drop turns from the middle
      outward, and put a system message ``[N messages omitted ...]`` where they were.

    In every strategy the system message stays, an assistant message with tool_calls is never
    separated from its tool results, and the newest user message and the newest message are kept
    (when the newest turn alone is too long its oldest tool rounds go). If what must stay does not
    fit, ``ContextWindowExceededError`` says by how many tokens (``tokens_over``).

        >>> conv = Conversation("You are terse.", max_tokens=8000)
        >>> conv.add_user("Hi")
        >>> [m["role"] for m in conv.get_messages()]
        ['system', 'user']
    """

    marker_role = "system"

    def __init__(self, system_message: str | None = None, max_tokens: int = 4000,
                 truncation_strategy: str = "sliding", reserve_tokens: int = 0,
                 model: str | ModelProfile = "gpt-5-nano") -> None:
        if truncation_strategy not in STRATEGIES:
            raise ConfigurationError(f"truncation_strategy must be one of {STRATEGIES}, got {truncation_strategy!r}")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
            raise ConfigurationError(f"max_tokens must be a positive int, got {max_tokens!r}")
        if not isinstance(reserve_tokens, int) or isinstance(reserve_tokens, bool) or not (
                0 <= reserve_tokens < max_tokens):
            raise ConfigurationError(f"reserve_tokens must be an int in [0, max_tokens), got {reserve_tokens!r}")
        if system_message is not None and not isinstance(system_message, str):
            raise ConfigurationError(f"system_message must be a str or None, got {type(system_message).__name__}")
        if not isinstance(model, (str, ModelProfile)) or not model:
            raise ConfigurationError(f"model must be a model name or a ModelProfile, got {model!r}")
        self.max_tokens = max_tokens
        self.truncation_strategy = truncation_strategy
        self.reserve_tokens = reserve_tokens
        self.model = model
        self._lock = threading.RLock()
        self._system: _Entry | None = _Entry({"role": "system", "content": system_message}) \
            if system_message is not None else None
        self._entries: list[_Entry] = []
        self._call_names: dict[str, str] = {}
        self._version = 0
        self._memo: tuple[Any, list[int | Marker]] | None = None

    # ----- adding -----------------------------------------------------------------------------

    def add_user(self, text: str | list[dict[str, Any]]) -> None:
        """Append a user message (a string, or a list of content parts)."""
        self.add_message({"role": "user", "content": text})

    def add_assistant(self, content: str | None = None, tool_calls: Iterable[Any] | None = None) -> None:
        """Append an assistant message: text and/or tool calls (ToolCall values or OpenAI dicts)."""
        calls = list(tool_calls or ())
        if content is None and not calls:
            raise ConfigurationError("an assistant message needs content or tool_calls")
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = calls
        self.add_message(message)

    def add_tool_result(self, tool_call_id: str, content: Any, name: str | None = None) -> None:
        """Append the result of one tool call (non-string content is sent as JSON)."""
        check_str(tool_call_id, "tool_call_id")
        text = content if isinstance(content, str) else json.dumps(content, default=str)
        with self._lock:
            self._append({"role": "tool", "tool_call_id": str(tool_call_id), "content": text}, name)

    def add_message(self, message: Mapping[str, Any]) -> None:
        """Append any chat message dict (copied); a system message into an empty history becomes
        the system message."""
        checked = _checked(message)
        with self._lock:
            if checked["role"] == "system" and self._system is None and not self._entries:
                self._system = _Entry(checked)
                self._changed()
                return
            self._append(checked, None)

    def _append(self, message: dict[str, Any], tool_name: str | None) -> None:
        for call in message.get("tool_calls") or ():
            self._call_names[str(call.get("id"))] = str(call["function"].get("name") or "")
        if message["role"] == "tool":
            tool_name = tool_name or message.get("name") or self._call_names.get(str(message["tool_call_id"]))
        self._entries.append(_Entry(message, tool_name or None))
        self._changed()

    def _changed(self) -> None:
        self._version += 1
        self._memo = None

    # ----- reading ----------------------------------------------------------------------------

    @property
    def system_message(self) -> str | None:
        with self._lock:
            return self._system.message.get("content") if self._system else None

    @property
    def messages(self) -> list[Message]:
        """A copy of the whole history, system message first."""
        with self._lock:
            return [_copy(e.message) for e in self._all()]

    def _all(self) -> list[_Entry]:
        return ([self._system] if self._system else []) + self._entries

    def get_messages(self, model: str | ModelProfile | None = None, max_tokens: int | None = None,
                     tools: list[dict[str, Any]] | None = None) -> list[Message]:
        """The messages to send: the system message plus what fits ``max_tokens - reserve_tokens``
        (minus the tokens of ``tools``, the definitions that will be sent alongside).

        Raises:
            ContextWindowExceededError: the messages that must stay do not fit.
        """
        tok = get_tokenizer(model if model is not None else self.model)
        budget = (max_tokens if max_tokens is not None else self.max_tokens) - self.reserve_tokens
        if tools:
            budget -= tok.tools(tools)
        with self._lock:
            key = (self._version, tok.key, tok.reply_priming, budget, self.truncation_strategy)
            if self._memo is not None and self._memo[0] == key:
                plan = self._memo[1]
            else:
                fixed = tok.reply_priming + (self._system.tokens(tok) if self._system else 0)
                costs = [e.tokens(tok) for e in self._entries]
                marker_costs: dict[int, int] = {}

                def marker_cost(n: int) -> int:
                    # asked for every dropped block; numbers encode in 1-3 digit groups, so the
                    # digit count (and the plural) decides the cost
                    key = len(str(n)) if n != 1 else 0
                    if key not in marker_costs:
                        marker_costs[key] = tok.message(self._marker(n))
                    return marker_costs[key]

                plan = select([e.message for e in self._entries], costs, fixed=fixed, budget=budget,
                              strategy=self.truncation_strategy, marker_cost=marker_cost)
                self._memo = (key, plan)
            out = [_copy(self._system.message)] if self._system else []
            for item in plan:
                out.append(self._marker(item.omitted) if isinstance(item, Marker)
                           else _copy(self._entries[item].message))
            return out

    def _marker(self, omitted: int) -> dict[str, Any]:
        noun = "message" if omitted == 1 else "messages"
        return {"role": self.marker_role,
                "content": f"[{omitted} {noun} omitted to fit the context window]"}

    def count_tokens(self, model: str | ModelProfile | None = None) -> int:
        """Prompt tokens of the whole history (untruncated), reply priming included."""
        tok = get_tokenizer(model if model is not None else self.model)
        with self._lock:
            return tok.reply_priming + sum(e.tokens(tok) for e in self._all())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries) + (1 if self._system else 0)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.messages)  # a snapshot: other threads may keep adding

    def __repr__(self) -> str:
        return (f"Conversation({len(self)} messages, max_tokens={self.max_tokens}, "
                f"truncation_strategy={self.truncation_strategy!r})")

    # ----- copies -----------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every message except the system message."""
        with self._lock:
            self._entries = []
            self._call_names = {}
            self._changed()

    def _settings(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "truncation_strategy": self.truncation_strategy,
                "reserve_tokens": self.reserve_tokens, "model": self.model}

    def _copy_from(self, entries: list[_Entry]) -> "Conversation":
        new = Conversation(self.system_message, **self._settings())
        new.marker_role = self.marker_role
        for e in entries:
            new._entries.append(_Entry(_copy(e.message), e.tool_name, dict(e.counts)))
            for call in e.message.get("tool_calls") or ():
                new._call_names[str(call.get("id"))] = str(call["function"].get("name") or "")
        new._changed()
        return new

    def fork(self) -> "Conversation":
        """An independent copy: changes to either never show in the other."""
        with self._lock:
            return self._copy_from(self._entries)

    def branch(self, at_index: int) -> "Conversation":
        """A copy holding ``messages[:at_index]`` (indices as in ``messages``; the system message
        is kept either way). Negative indices count from the end, as in slicing."""
        with self._lock:
            total = len(self)
            if not isinstance(at_index, int) or not -total <= at_index <= total:
                raise ConfigurationError(f"at_index must be an int in [{-total}, {total}], got {at_index!r}")
            stop = at_index + total if at_index < 0 else at_index
            offset = 1 if self._system else 0
            return self._copy_from(self._entries[: max(stop - offset, 0)])

    # ----- persistence ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``version``, settings, ``system_message`` and ``messages`` (without it)."""
        with self._lock:
            model = self.model.key if isinstance(self.model, ModelProfile) else self.model
            return {"version": FORMAT_VERSION, "system_message": self.system_message,
                    **self._settings(), "model": model,
                    "messages": [_copy(e.message) for e in self._entries]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Conversation":
        """Inverse of ``to_dict``; ConfigurationError (a ValueError) on a foreign or corrupt shape."""
        if not isinstance(data, Mapping) or not isinstance(data.get("messages"), list):
            raise ConfigurationError("not a serialised Conversation (no messages list)")
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise ConfigurationError(f"unsupported Conversation format version {version!r} "
                                     f"(this library reads version {FORMAT_VERSION})")
        kwargs = {k: data[k] for k in ("max_tokens", "truncation_strategy", "reserve_tokens", "model")
                  if data.get(k) is not None}
        conv = cls(data.get("system_message"), **kwargs)
        try:
            for message in data["messages"]:
                conv.add_message(message)
        except RecursionError as exc:
            raise ConfigurationError("a message in the serialised Conversation is nested too deeply") from exc
        _check_paired(conv._entries)
        return conv

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``to_dict()`` as JSON atomically (temp file in the same directory + rename)."""
        target = os.fspath(path)
        # an API key pasted into a message or echoed by a tool never reaches the file
        payload = json.dumps(redact(self.to_dict()), ensure_ascii=False, indent=1)
        atomic_write(target, payload)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> "Conversation":
        """Read a file written by ``save``.

        Raises:
            ConfigurationError: the file is larger than ``max_bytes``, not UTF-8, truncated or
                not JSON, nested too deeply, not a Conversation, or its tool calls and tool
                results are not paired (the API would refuse the history with a 400).
            OSError: the file cannot be opened (FileNotFoundError, PermissionError, ...).
        """
        target = os.fspath(path)
        with open(target, "rb") as fh:
            raw = fh.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise ConfigurationError(f"{target} is not a valid conversation file: larger than "
                                     f"max_bytes={max_bytes}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigurationError(f"{target} is not a valid conversation file: not UTF-8 text "
                                     f"(byte {exc.start})") from exc
        try:
            data = json.loads(text)
        except RecursionError as exc:
            raise ConfigurationError(f"{target} is not a valid conversation file: nested too deeply") from exc
        except ValueError as exc:
            raise ConfigurationError(f"{target} is not a valid conversation file: not JSON (truncated, "
                                     f"or not written by Conversation.save): {exc}") from exc
        try:
            return cls.from_dict(data)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{target} is not a valid conversation file: {exc}") from exc
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            raise ConfigurationError(f"{target} is not a valid conversation file: "
                                     f"{type(exc).__name__}: {exc}") from exc


def _check_paired(entries: list[_Entry]) -> None:
    """Every assistant tool call is answered by one tool message before the next other message,
    and every tool message answers a pending call."""
    pending: dict[str, int] = {}
    for pos, entry in enumerate(entries, start=1):
        message = entry.message
        role = message["role"]
        if role == "tool":
            call_id = str(message["tool_call_id"])
            if call_id not in pending:
                raise ConfigurationError(f"message {pos} is a tool result for {call_id!r}, which no "
                                         "preceding assistant message called (or was answered already)")
            del pending[call_id]
            continue
        if pending:
            raise ConfigurationError(f"tool call(s) {sorted(pending)} of message {min(pending.values())} "
                                     f"have no tool result before message {pos}")
        if role == "assistant":
            for call in message.get("tool_calls") or ():
                call_id = str(call.get("id"))
                if call_id in pending:
                    raise ConfigurationError(f"message {pos} repeats tool call id {call_id!r}")
                pending[call_id] = pos
    if pending:
        raise ConfigurationError(f"tool call(s) {sorted(pending)} of message {min(pending.values())} "
                                 "have no tool result (the history ends before them)")
