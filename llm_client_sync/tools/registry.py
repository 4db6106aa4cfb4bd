"""ToolRegistry and ToolResult: find a tool by name, check the model's arguments, run it safely."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from .._checks import check_int
from ..errors import ToolError
from ..types import ToolCall
from ._decorator import InvalidArguments, Tool

__all__ = ["DEFAULT_MAX_OUTPUT_CHARS", "ToolRegistry", "ToolResult", "encode_output", "truncate_output"]

DEFAULT_MAX_OUTPUT_CHARS = 32_000
_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What one tool call produced, ready to send back to the model.

    ``error_kind`` says why ``is_error`` is set: "unknown_tool", "invalid_arguments",
    "exception", "timeout", "refused" or "cancelled" (None on success).
    """

    tool_call_id: str
    name: str
    content: str
    is_error: bool = False
    duration: float = 0.0
    error_kind: str | None = None

    def to_message(self) -> dict[str, Any]:
        """The ``role: tool`` message for the next model call."""
        return {"role": "tool", "tool_call_id": self.tool_call_id, "content": self.content}


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def encode_output(value: Any) -> str:
    """A tool's return value as text: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=_json_default)


def truncate_output(text: str, limit: int | None) -> str:
    """Cut ``text`` to ``limit`` characters plus a marker saying how much was dropped."""
    if limit is None or len(text) <= limit:
        return text
    dropped = len(text) - limit
    return f"{text[:limit]}\n...[output truncated: {dropped} more characters]"


class ToolRegistry:
    """Tools by name: the ``tools`` request parameter and safe execution of the model's calls.

    Registering takes a lock; executing reads an immutable snapshot, so one registry can serve
    many threads (and many agents) at once.

        >>> registry = ToolRegistry([get_weather])              # doctest: +SKIP
        >>> registry.execute("get_weather", '{"city": "Tokyo"}').content  # doctest: +SKIP
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = (), *,
                 max_output_chars: int | None = DEFAULT_MAX_OUTPUT_CHARS, clock: Callable[[], float] = time.perf_counter) -> None:
        self.max_output_chars = check_int(max_output_chars, "max_output_chars", allow_none=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._tools: dict[str, Tool] = {}
        if isinstance(tools, (str, bytes)) or not hasattr(tools, "__iter__"):
            raise ToolError(f"tools must be a list of @tool functions or Tool objects, got {type(tools).__name__}")
        for t in tools:
            self.register(t)

    def register(self, fn: Tool | Callable[..., Any], *, name: str | None = None,
                 description: str | None = None, strict: bool | None = None, replace: bool = False) -> Tool:
        """Add a Tool or plain function (wrapped with ``@tool``); a taken name raises ToolError."""
        if isinstance(fn, Tool) and name is None and description is None and strict is None:
            t = fn
        else:
            base = fn.fn if isinstance(fn, Tool) else fn
            t = Tool(base, name=name or (fn.name if isinstance(fn, Tool) else None),
                     description=description if description is not None else (
                         fn.description if isinstance(fn, Tool) else None),
                     strict=bool(strict if strict is not None else getattr(fn, "strict", False)))
        with self._lock:
            if t.name in self._tools and not replace:
                raise ToolError(f"a tool named {t.name!r} is already registered")
            tools = dict(self._tools)
            tools[t.name] = t
            self._tools = tools  # swapped whole: executing threads keep a consistent snapshot
        return t

    def unregister(self, name: str) -> None:
        with self._lock:
            tools = dict(self._tools)
            tools.pop(name, None)
            self._tools = tools

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names()!r})"

    def to_openai(self) -> list[dict[str, Any]]:
        """The Chat Completions ``tools`` parameter."""
        return [t.to_openai() for t in self._tools.values()]

    def to_responses(self) -> list[dict[str, Any]]:
        """The Responses API ``tools`` parameter."""
        return [t.to_responses() for t in self._tools.values()]

    def execute(self, name: str, arguments: str | Mapping[str, Any] | None = None, *, tool_call_id: str = "",
                max_output_chars: Any = _UNSET) -> ToolResult:
        """Run one call and always return a ToolResult; nothing the model sends can raise here.

        ``arguments`` is the JSON text from the model or a decoded dict. Malformed JSON, missing,
        extra or mistyped fields and unknown tools come back as error results that tell the model
        what to fix; an exception in the tool becomes an error result with its message.
        """
        limit = self.max_output_chars if max_output_chars is _UNSET else max_output_chars
        start = self._clock()

        def result(content: str, kind: str | None = None) -> ToolResult:
            return ToolResult(tool_call_id, name, truncate_output(content, limit), kind is not None,
                              max(0.0, self._clock() - start), kind)

        t = self._tools.get(name)
        if t is None:
            available = ", ".join(self._tools) or "none"
            return result(f"Error: unknown tool {name!r}. Available tools: {available}.", "unknown_tool")
        parsed, problem = _decode(arguments)
        if problem is None:
            try:
                value = t.invoke(parsed)
            except InvalidArguments as exc:
                problem = str(exc)
            except Exception as exc:
                return result(f"Error: {name} raised {type(exc).__name__}: {exc}", "exception")
            else:
                try:
                    return result(encode_output(value))
                except Exception as exc:  # a return value json cannot encode
                    return result(f"Error: {name} returned a value that cannot be encoded: {exc}", "exception")
        schema = json.dumps(t.parameters, separators=(",", ":"))
        return result(f"Error: invalid arguments for {name}: {problem}. Expected arguments matching this "
                      f"JSON schema: {schema}. Call the tool again with corrected arguments.", "invalid_arguments")

    def execute_call(self, call: ToolCall, *, max_output_chars: Any = _UNSET) -> ToolResult:
        """Run a ToolCall from a CompletionResult (its JSON error, if any, goes back to the model)."""
        arguments: Any = call.raw_arguments if call.arguments_error or not call.arguments else dict(call.arguments)
        return self.execute(call.name, arguments, tool_call_id=call.id, max_output_chars=max_output_chars)


def _decode(arguments: str | Mapping[str, Any] | None) -> tuple[Any, str | None]:
    if arguments is None:
        return {}, None
    if isinstance(arguments, Mapping):
        return arguments, None
    if isinstance(arguments, (bytes, bytearray)):
        arguments = arguments.decode("utf-8", "replace")
    if not isinstance(arguments, str):
        return None, f"arguments must be a JSON object, got {type(arguments).__name__}"
    if not arguments.strip():
        return {}, None  # some servers send "" for a call without parameters
    try:
        value = json.loads(arguments)
    except ValueError as exc:
        return None, f"the arguments are not valid JSON ({exc})"
    except RecursionError:
        return None, "the arguments are nested too deeply; send a flatter JSON object"
    if not isinstance(value, dict):
        return None, f"arguments must be a JSON object, got {type(value).__name__}"
    return value, None
