"""Argument checks every public entry point runs before it sends anything: one message style
("<name> must be <what is valid>, got <what came>"), always a ConfigurationError.

A leaf module (it imports only errors.py), so constructors anywhere in the package can use it.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

from .errors import ConfigurationError

__all__ = [
    "check_completion_params", "check_headers", "check_iterable", "check_mapping", "check_message",
    "check_int", "check_number", "check_str", "check_texts",
]

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 token
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
#: every reasoning_effort value a profile knows (OpenAI, Claude, Gemini); models without a profile are checked against it
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def _got(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def check_int(value: Any, name: str, *, minimum: int = 1, maximum: int | None = None,
              allow_none: bool = False) -> Any:
    """An int (not a bool) in [minimum, maximum]; returns it."""
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
            maximum is not None and value > maximum):
        span = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ConfigurationError(f"{name} must be an int {span}{' or None' if allow_none else ''}, got {_got(value)}")
    return value


def check_number(value: Any, name: str, *, minimum: float = 0.0, maximum: float | None = None,
                 allow_zero: bool = False, allow_none: bool = False) -> Any:
    """A finite int or float (not a bool), > minimum (>= when ``allow_zero``), <= maximum."""
    if value is None and allow_none:
        return value
    ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
          and (value >= minimum if allow_zero else value > minimum)
          and (maximum is None or value <= maximum))
    if not ok:
        low = f"{'>=' if allow_zero else '>'} {minimum:g}"
        span = low if maximum is None else f"{low} and <= {maximum:g}"
        raise ConfigurationError(f"{name} must be a finite number {span}{' or None' if allow_none else ''}, "
                                 f"got {_got(value)}")
    return value


def check_str(value: Any, name: str, *, allow_none: bool = False, allow_empty: bool = False) -> Any:
    if value is None and allow_none:
        return value
    if not isinstance(value, str) or (not allow_empty and not value):
        what = "a str" if allow_empty else "a non-empty str"
        raise ConfigurationError(f"{name} must be {what}{' or None' if allow_none else ''}, got {_got(value)}")
    return value


def check_mapping(value: Any, name: str, *, allow_none: bool = True) -> Any:
    if value is None and allow_none:
        return value
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a dict{' or None' if allow_none else ''}, got {_got(value)}")
    return value


def check_iterable(value: Any, name: str) -> Any:
    """Something to iterate (not a str/bytes, which would iterate characters)."""
    if value is None or isinstance(value, (str, bytes, bytearray)) or not hasattr(value, "__iter__"):
        raise ConfigurationError(f"{name} must be an iterable (a list, a generator, a stream), got {_got(value)}")
    return value


def check_headers(headers: Any, name: str = "headers") -> Any:
    """Extra HTTP headers: str names that are RFC 9110 tokens, str values without CR, LF or NUL
    (a value is never shown: it may be a secret)."""
    if headers is None:
        return headers
    if not isinstance(headers, Mapping):
        raise ConfigurationError(f"{name} must be a dict of header name -> str value, got {type(headers).__name__}")
    for key, value in headers.items():
        if not isinstance(key, str) or not _HEADER_NAME.match(key):
            raise ConfigurationError(f"{name}: header name {key!r} is not a valid HTTP header name "
                                     "(letters, digits and !#$%&'*+-.^_`|~)")
        if not isinstance(value, str):
            raise ConfigurationError(f"{name}[{key!r}] must be a str, got {type(value).__name__}")
        if any(ch in value for ch in "\r\n\0"):
            raise ConfigurationError(f"{name}[{key!r}] contains CR, LF or NUL (header injection); "
                                     "check where the value was read from")
    return headers


def check_message(message: Any, where: str = "message") -> None:
    """A chat message dict: a known role, content where the role needs it, of a sendable type."""
    if not isinstance(message, Mapping):
        raise ConfigurationError(f"{where} must be a dict with 'role' and 'content', got {_got(message)}")
    role = message.get("role")
    if role not in _ROLES:
        raise ConfigurationError(f"{where} has role {role!r}; expected one of {sorted(_ROLES)}")
    if role == "tool":
        call_id = message.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ConfigurationError(f"{where} is a tool message; it needs a non-empty str tool_call_id, "
                                     f"got {_got(call_id)}")
    if "content" not in message:
        if role != "assistant":
            raise ConfigurationError(f"{where}: a {role} message needs content (a str or a list of content parts)")
    else:
        content = message["content"]
        if content is None and role == "assistant":
            return
        if isinstance(content, str):
            return
        if isinstance(content, (list, tuple)) and all(isinstance(p, Mapping) for p in content):
            return
        raise ConfigurationError(f"{where}: content must be a str or a list of content-part dicts, got {_got(content)}")


# parameter -> (kind, low, high) checked on every completion before the body is built
_NUMERIC = {
    "temperature": ("number", 0.0, 2.0),
    "top_p": ("number", 0.0, 1.0),
    "frequency_penalty": ("number", -2.0, 2.0),
    "presence_penalty": ("number", -2.0, 2.0),
    "max_completion_tokens": ("int", 1, None),
    "max_tokens": ("int", 1, None),
    "max_output_tokens": ("int", 1, None),
    "n": ("int", 1, 128),
    "top_logprobs": ("int", 0, 20),
    "seed": ("int", -(2 ** 63), 2 ** 63 - 1),
}


def check_completion_params(params: Mapping[str, Any]) -> None:
    """The sampling/limit parameters of a completion: types and ranges the API documents."""
    for key, (kind, low, high) in _NUMERIC.items():
        value = params.get(key)
        if value is None:
            continue
        if kind == "int":
            check_int(value, key, minimum=low, maximum=high)
        else:
            check_number(value, key, minimum=low, maximum=high, allow_zero=True)
    effort = params.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise ConfigurationError(f"reasoning_effort must be one of {list(REASONING_EFFORTS)}, got {_got(effort)}")
    stop = params.get("stop")
    if stop is not None and not isinstance(stop, str) and not (
            isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop)):
        raise ConfigurationError(f"stop must be a str or a list of str, got {_got(stop)}")
    system = params.get("system")
    if system is not None and not isinstance(system, str):
        raise ConfigurationError(f"system must be a str, got {_got(system)}")
    for key in ("parallel_tool_calls", "logprobs", "store"):
        value = params.get(key)
        if value is not None and not isinstance(value, bool):
            raise ConfigurationError(f"{key} must be True or False, got {_got(value)}")


def check_texts(texts: Any, name: str = "texts") -> list[str]:
    """Texts to embed: one non-empty str, or a non-empty list of them."""
    if isinstance(texts, str):
        items: list[Any] = [texts]
    elif isinstance(texts, (list, tuple)) or (hasattr(texts, "__iter__") and not isinstance(texts, (bytes, bytearray, Mapping))):
        items = list(texts)
    else:
        raise ConfigurationError(f"{name} must be a str or a list of str, got {_got(texts)}")
    if not items:
        raise ConfigurationError(f"{name} is empty: give at least one text")
    for i, t in enumerate(items):
        if not isinstance(t, str) or not t:
            raise ConfigurationError(f"{name}[{i}] must be a non-empty str, got {_got(t)}")
    return items
