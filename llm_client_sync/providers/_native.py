"""What the Anthropic and Gemini wire protocols share: reading OpenAI-shaped content and tools.

Both protocols take the chat-style messages the rest of the library speaks and keep the state
their API needs back (thinking blocks, thought signatures) in one ``output_items`` entry tagged
with the protocol, so a message never carries one vendor's state into another vendor's request.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from typing import Any, Iterator, Mapping

from ..errors import ConfigurationError
from ._responses import _plain, _text_of

__all__ = ["REJECTED_COMMON", "CountCache", "count_exact", "data_url", "function_tools", "limiter_view", "native_items", "plain",
           "stop_list", "text_of", "thinking_budget", "tool_arguments"]

plain = _plain
text_of = _text_of

# chat parameters neither native API has an equivalent for: refuse rather than drop silently
REJECTED_COMMON = ("logit_bias", "prediction", "modalities", "audio", "web_search_options")

# reasoning_effort -> thinking budget in tokens (Anthropic extended thinking, Gemini 2.5)
_EFFORT_BUDGET = {"none": 0, "minimal": 0, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768, "max": 32768}


def data_url(url: str) -> tuple[str, str] | None:
    """``data:<mime>;base64,<data>`` -> (mime, base64 data); None for any other URL."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        raise ConfigurationError("an image data URL must look like data:<mime type>;base64,<data>")
    mime = head[: -len(";base64")] or "application/octet-stream"
    try:
        base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"the image data URL ({mime}) does not hold valid base64") from exc
    return mime, data


def guess_mime(url: str, default: str = "image/jpeg") -> str:
    return mimetypes.guess_type(url.split("?", 1)[0])[0] or default


def image_url_of(part: Mapping[str, Any]) -> str:
    img = part.get("image_url")
    url = img.get("url") if isinstance(img, Mapping) else img
    if not isinstance(url, str) or not url:
        raise ConfigurationError("an image_url content part needs a URL (https://... or data:...;base64,...)")
    return url


def function_tools(tools: Any) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any]]]:
    """(function spec or None, the tool as given) for each OpenAI-shaped or native tool."""
    for t in tools or ():
        t = plain(t)
        if t.get("type") == "function" and isinstance(t.get("function"), Mapping):
            yield t["function"], t
        else:
            yield None, t


def tool_arguments(raw: Any) -> dict[str, Any]:
    """An assistant tool call's ``arguments`` (JSON text or object) -> the object to send back."""
    if isinstance(raw, Mapping):
        return plain(raw)
    if not raw or not str(raw).strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {"value": value}


def native_items(message: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The ``output_items`` entry a protocol stored in an assistant message, if this is its own."""
    for item in message.get("output_items") or ():
        if isinstance(item, Mapping) and item.get("type") == kind:
            return plain(item)
    return None


def stop_list(stop: Any) -> list[str] | None:
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, (list, tuple)) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise ConfigurationError("stop must be a string or a list of strings")


def thinking_budget(params: dict[str, Any]) -> int | None:
    """Pop ``thinking_budget`` / ``reasoning_effort`` from params; the budget in tokens, or None."""
    budget = params.pop("thinking_budget", None)
    effort = params.pop("reasoning_effort", None)
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
            raise ConfigurationError(f"thinking_budget must be a non-negative int, got {budget!r}")
        return budget
    if effort is not None:
        if effort not in _EFFORT_BUDGET:
            raise ConfigurationError(f"reasoning_effort={effort!r} is not valid; use one of {list(_EFFORT_BUDGET)}")
        return _EFFORT_BUDGET[effort]
    return None


def reject(params: Mapping[str, Any], names: tuple[str, ...], api: str) -> None:
    for name in names:
        if params.get(name) is not None:
            raise ConfigurationError(f"{api} does not support {name!r}; remove it")


class CountCache:
    """Thread-safe, bounded memo of exact token counts by request body (count endpoints cost a call)."""

    def __init__(self, maxsize: int = 1024) -> None:
        import threading
        from collections import OrderedDict

        self._lock = threading.Lock()
        self._data: "OrderedDict[str, int]" = OrderedDict()
        self._maxsize = maxsize

    @staticmethod
    def key(body: Mapping[str, Any]) -> str:
        import hashlib

        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()

    def get(self, key: str) -> int | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: str, value: int) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self._maxsize:
                self._data.popitem(last=False)


def count_exact(provider: Any, cache: CountCache, path: str, request: Mapping[str, Any], field: str,
                prompt: Any, params: Mapping[str, Any]) -> int:
    """Prompt tokens from a provider's count endpoint, memoised; the offline estimate
    (``llm_client_sync.tokens``) when the endpoint cannot answer (connection, 404, 429, 5xx)."""
    from ..errors import APIConnectionError, InternalServerError, NotFoundError, RateLimitError

    key = CountCache.key({"path": path, **request})
    hit = cache.get(key)
    if hit is not None:
        return hit
    try:
        value = int(provider.transport.request("POST", path, json=dict(request)).json()[field])
    except (APIConnectionError, InternalServerError, NotFoundError, RateLimitError, ValueError, KeyError,
            TypeError) as exc:
        import logging

        from ..tokens import count_messages
        from ._params import coerce_messages, coerce_tools

        logging.getLogger("llm_client_sync.providers").debug(
            "%s count endpoint failed (%s); using the offline estimate", provider.name, type(exc).__name__)
        messages = coerce_messages(prompt, params.get("system"), provider.profile)
        return count_messages(messages, provider.profile, coerce_tools(params.get("tools")))
    cache.put(key, value)
    return value


def limiter_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """A chat-shaped stand-in for an Anthropic or Gemini body, for the rate limiter's token
    estimate (which reads ``messages``, ``input`` and ``max_tokens``): all text, one message."""
    texts: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, Mapping):
            for k, v in value.items():
                if k in ("text", "thinking", "content", "parts", "args", "input", "response", "system",
                         "systemInstruction", "contents", "messages", "functionCall", "functionResponse"):
                    collect(v if k not in ("args", "input", "response") else json.dumps(v, default=str))
        elif isinstance(value, (list, tuple)):
            for v in value:
                collect(v)

    collect({k: body.get(k) for k in ("system", "systemInstruction", "messages", "contents")})
    gen = body.get("generationConfig") or {}
    view: dict[str, Any] = {"messages": [{"role": "user", "content": "\n".join(texts)}]}
    limit = body.get("max_tokens", gen.get("maxOutputTokens") if isinstance(gen, Mapping) else None)
    if limit is not None:
        view["max_tokens"] = limit
    return view
