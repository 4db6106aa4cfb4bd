"""The JSON form of a StreamEvent, shared by the SSE, WebSocket and Pusher adapters."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from typing import Any, Mapping

from .._redact import redact
from ..errors import APIStatusError, ConfigurationError, LLMClientError
from ..types import StreamEvent, StreamEventType, ToolCall, Usage

__all__ = ["clean_text", "dumps", "error_summary", "event_payload", "resolve_names", "result_summary",
           "safe_text"]

_SURROGATE = re.compile("[\ud800-\udfff]")

# Attributes copied from a DONE result; duck-typed so an agent's result works as well.
_RESULT_FIELDS = ("content", "reasoning", "finish_reason", "refusal", "model", "request_id",
                  "response_id", "cost", "usage", "tool_calls", "status", "num_turns", "all_tool_calls",
                  "error")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, ToolCall):
        return tool_call_summary(obj)
    if isinstance(obj, Usage):
        return obj.to_dict()
    if isinstance(obj, BaseException):
        return error_summary(obj)
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return str(obj)


def clean_text(text: str) -> str:
    """``text`` encodable as UTF-8: a surrogate pair held as two code points is joined, a lone
    surrogate (half of a pair the model's stream split across chunks) becomes U+FFFD."""
    if _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def safe_text(text: str) -> str:
    """What may be sent to a browser: UTF-8 encodable, with every secret redacted."""
    return redact(clean_text(text))


def dumps(obj: Any) -> str:
    """Compact JSON, UTF-8 text kept as is; unknown objects fall back to a dict or ``str``.

    Every adapter's payload goes through here, so it is also where secrets are redacted and
    split surrogates made encodable (``safe_text``).
    """
    return safe_text(json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_jsonable))


def tool_call_summary(tc: ToolCall) -> dict[str, Any]:
    return {"id": tc.id, "name": tc.name, "arguments": dict(tc.arguments),
            "raw_arguments": tc.raw_arguments, "arguments_error": tc.arguments_error}


def result_summary(result: Any) -> dict[str, Any] | None:
    """The fields of a CompletionResult (or an agent's result) a client needs; no raw body."""
    if result is None:
        return None
    if isinstance(result, Mapping):
        return dict(result)
    out: dict[str, Any] = {}
    for name in _RESULT_FIELDS:
        if hasattr(result, name):
            out[name] = getattr(result, name)
    if "content" not in out and hasattr(result, "text"):
        out["content"] = result.text
    return out


def error_summary(exc: BaseException) -> dict[str, Any]:
    """What a web client may see of an exception: the library's own errors in full, anything
    else only by class name (its message may hold internals)."""
    if not isinstance(exc, LLMClientError):
        return {"type": type(exc).__name__, "message": "internal error"}
    out: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, APIStatusError):
        out["status_code"] = exc.status_code
        if exc.code:
            out["code"] = exc.code
    return out


def event_payload(event: StreamEvent) -> dict[str, Any]:
    """``{"type": ..., <fields>}`` for one event (``choice`` only when not 0)."""
    kind = event.type
    data = event.data
    out: dict[str, Any] = {"type": kind.value}
    if kind in (StreamEventType.TOKEN, StreamEventType.REASONING):
        out["text"] = data
    elif kind is StreamEventType.META:
        out["data"] = data
    elif kind in (StreamEventType.TOOL_CALL_START, StreamEventType.TOOL_CALL_DELTA):
        out.update(data if isinstance(data, Mapping) else {"data": data})
        out["type"] = kind.value
    elif kind is StreamEventType.TOOL_CALL_END:
        out["tool_call"] = tool_call_summary(data) if isinstance(data, ToolCall) else data
    elif kind is StreamEventType.USAGE:
        out["usage"] = data
    elif kind is StreamEventType.DONE:
        out["result"] = result_summary(data)
    elif kind is StreamEventType.ERROR:
        out["error"] = error_summary(data) if isinstance(data, BaseException) else data
    if event.choice:
        out["choice"] = event.choice
    return out


def resolve_names(overrides: Mapping[Any, str | None] | None) -> dict[StreamEventType, str | None]:
    """Event type → wire name (None: not sent); keys may be types or their string values."""
    names: dict[StreamEventType, str | None] = {t: t.value for t in StreamEventType}
    if overrides is not None and not isinstance(overrides, Mapping):
        raise ConfigurationError(f"event_names must be a dict, got {type(overrides).__name__}")
    for key, name in (overrides or {}).items():
        try:
            kind = StreamEventType(key)
        except ValueError as exc:
            raise ConfigurationError(f"event_names: unknown event type {key!r}; valid: "
                                     f"{[t.value for t in StreamEventType]}") from exc
        if name is not None and not isinstance(name, str):
            raise ConfigurationError(f"event_names[{key!r}] must be a str or None, got {type(name).__name__}")
        names[kind] = name
    return names
