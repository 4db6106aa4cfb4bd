"""OpenAIClient: the seed's backward-compatible, dict-returning face over OpenAIProvider.

Error policy (the old API promised a dict, so runtime failures come back in it):

- Returned as ``{"status": "error", "error": {...}}``: every ``APIError`` (HTTP status errors
  such as 400/401/404/429/5xx, connection failures and timeouts, broken or in-band-error
  streams), ``RateLimitTimeoutError`` and any other runtime ``LLMClientError`` (a server body
  that is not JSON, say).
- Raised: ``ConfigurationError`` (bad arguments: empty messages, unknown parameters, bad
  ``dimensions``), ``ContextWindowExceededError`` and ``CacheError`` (misconfiguration). These
  are programming errors; a dict would hide them.
- ``get_embeddings`` returns a plain list, so it raises every error (no dict to put it in).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Mapping

from .errors import APIStatusError, CacheError, ConfigurationError, ContextWindowExceededError, LLMClientError
from .providers.openai import OpenAIProvider
from .types import CompletionResult, StreamEventType, ToolCall, _thaw

if TYPE_CHECKING:
    from .providers.base import Provider

__all__ = ["OpenAIClient", "TextStream", "error_info", "response_dict"]

# programming/configuration errors: raised, never folded into the dict
_RAISED = (ConfigurationError, ContextWindowExceededError, CacheError)


def error_info(exc: BaseException) -> dict[str, Any]:
    """The ``error`` entry of a legacy dict: ``{type, message, status_code, code}``.

    ``type`` is the API's error type when it sent one (``"insufficient_quota"``), else the
    exception's class name (``"APIConnectionError"``).
    """
    status = getattr(exc, "status_code", None)
    api_type = getattr(exc, "type", None) if isinstance(exc, APIStatusError) else None
    message = str(exc)
    body = getattr(exc, "body", None)
    wire = body.get("error") if isinstance(body, dict) else None
    if isinstance(wire, dict) and isinstance(wire.get("message"), str) and wire["message"]:
        message = wire["message"]  # the server's own words, without our "HTTP 400: ..." framing
    return {"type": api_type or type(exc).__name__, "message": message,
            "status_code": status, "code": getattr(exc, "code", None),
            "exception": type(exc).__name__}


def _tool_call(tc: ToolCall) -> dict[str, Any]:
    return {"id": tc.id, "name": tc.name, "arguments": _thaw(dict(tc.arguments)),
            "raw_arguments": tc.raw_arguments}


def response_dict(result: CompletionResult | None = None, exc: BaseException | None = None,
                  model: str | None = None) -> dict[str, Any]:
    """The legacy dict for a result, a failure, or a failure with a partial result."""
    r = result
    return {
        "output": (r.content or "") if r is not None else "",
        "usage": r.usage.to_dict() if r is not None else {},
        "tool_calls": [_tool_call(tc) for tc in r.tool_calls] if r is not None else [],
        "finish_reason": r.finish_reason if r is not None else None,
        "model": (r.model if r is not None and r.model else model),
        "status": "error" if exc is not None else "success",
        "error": error_info(exc) if exc is not None else None,
        "request_id": (r.request_id if r is not None and r.request_id else getattr(exc, "request_id", None)),
        "cost": r.cost if r is not None else None,
        "cached": r.cached if r is not None else False,
    }


class TextStream:
    """Iterator of text chunks for ``get_response(stream=True)``; never raises API errors.

    A failure (at open or mid-stream) ends the iteration early; ``response`` (the legacy dict,
    available once iteration ends) then has ``status == "error"`` and the partial ``output``.
    ``close()`` (or ``with``) releases the HTTP connection if you stop early.
    """

    def __init__(self, provider: "Provider", messages: Any, params: Mapping[str, Any]) -> None:
        self._provider = provider
        self._messages = messages
        self._params = dict(params)
        self._stream: Any = None
        self._gen = self._chunks()
        self.response: dict[str, Any] | None = None

    def __iter__(self) -> "TextStream":
        return self

    def __next__(self) -> str:
        return next(self._gen)

    def __enter__(self) -> "TextStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._gen.close()

    @property
    def error(self) -> dict[str, Any] | None:
        return self.response["error"] if self.response is not None else None

    def _chunks(self) -> Iterator[str]:
        try:
            self._stream = self._provider.stream(self._messages, **self._params)
        except _RAISED:
            raise
        except LLMClientError as exc:
            self.response = response_dict(None, exc, self._provider.model)
            return
        try:
            for ev in self._stream:
                if ev.type is StreamEventType.TOKEN and ev.choice == 0 and ev.data:
                    yield ev.data
                elif ev.type is StreamEventType.DONE:
                    self.response = response_dict(ev.data)
                elif ev.type is StreamEventType.ERROR:
                    exc = ev.data
                    self.response = response_dict(getattr(exc, "partial", None), exc, self._provider.model)
                    return
        except _RAISED:
            raise
        except LLMClientError as exc:
            self.response = response_dict(getattr(exc, "partial", None), exc, self._provider.model)
        finally:
            self._stream.close()


class OpenAIClient:
    """The legacy client: ``get_response`` returns a dict (see the module docstring for errors).

        >>> client = OpenAIClient(model="gpt-5-nano")                      # doctest: +SKIP
        >>> client.get_response(messages=[{"role": "user", "content": "Hi"}])["output"]  # doctest: +SKIP

    Thread-safe like the provider it wraps (``client.provider``); extra keyword arguments go
    to ``OpenAIProvider`` (``timeout``, ``max_retries``, ``rate_limit``, ``cache_dir`` ...), or
    pass any Provider as ``provider=`` (a ``FallbackProvider`` chain, another vendor's).
    """

    def __init__(self, model: str = "gpt-5-nano", cache_backend: Any = None, api_key: str | None = None,
                 base_url: str | None = None, *, provider: "Provider | None" = None,
                 **provider_kwargs: Any) -> None:
        if provider is not None:
            if cache_backend is not None or api_key is not None or base_url is not None or provider_kwargs:
                raise ConfigurationError("pass a provider= or OpenAIProvider arguments, not both")
            self.provider: Any = provider
        else:
            self.provider = OpenAIProvider(model=model, api_key=api_key, base_url=base_url,
                                           cache_backend=cache_backend, **provider_kwargs)
        self.model = self.provider.model

    def __repr__(self) -> str:
        return f"OpenAIClient(model={self.model!r}, provider={self.provider!r})"

    def __enter__(self) -> "OpenAIClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.provider.close()

    def get_response(self, messages: Any = None, stream: bool = False, **params: Any) -> Any:
        """A dict ``{output, usage, tool_calls, finish_reason, model, status, error, request_id,
        cost, cached}``; with ``stream=True`` a TextStream of text chunks (its ``response`` holds
        the dict once done). ``messages``: a list of message dicts or a str."""
        if messages is None:
            messages = params.pop("prompt", None)
        if messages is None or (not isinstance(messages, str) and not messages):
            raise ConfigurationError("get_response() needs messages (a non-empty list of message dicts or a str)")
        if stream:
            return TextStream(self.provider, messages, params)
        try:
            result = self.provider.complete(messages, **params)
        except _RAISED:
            raise
        except LLMClientError as exc:
            return response_dict(None, exc, self.model)
        return response_dict(result)

    def get_embeddings(self, texts: str | list[str], dimensions: int | None = None,
                       **kwargs: Any) -> list[list[float]]:
        """One vector per text (a single str gives a one-element list); raises on any error."""
        if dimensions is not None and (not isinstance(dimensions, int) or dimensions <= 0):
            raise ConfigurationError("dimensions must be a positive integer")
        return [list(v) for v in self.provider.embed(texts, dimensions=dimensions, **kwargs).vectors]
