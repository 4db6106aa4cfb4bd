"""The exception tree: one root, ``LLMClientError``; HTTP failures are translated in transport.py."""

from __future__ import annotations

from typing import Any, Mapping

from ._redact import redact

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "CacheError",
    "ConfigurationError",
    "ConflictError",
    "ContextWindowExceededError",
    "InternalServerError",
    "LLMClientError",
    "MaxTurnsExceededError",
    "MissingDependencyError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RateLimitTimeoutError",
    "RateLimiterUnavailableError",
    "RequestCancelledError",
    "ResponseTooLargeError",
    "StreamError",
    "StructuredOutputError",
    "TLSVerificationError",
    "ToolError",
    "UnprocessableEntityError",
    "status_error_class",
]


class LLMClientError(Exception):
    """Root of every error this library raises.

    Its message (and a status error's ``body`` and ``headers``) passes through ``redact``: an API
    key or ``Bearer``/``sk-`` token a server echoes back never reaches a log, a traceback or a browser.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigurationError(LLMClientError, ValueError):
    """A setting or parameter is invalid; raised before any request is sent."""


class APIError(LLMClientError):
    """Something went wrong talking to the API."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = self.args[0] if self.args else message
        self.request_id = request_id


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke."""


class APITimeoutError(APIConnectionError):
    """A connect or read timeout, or the total deadline, passed."""


class TLSVerificationError(APIConnectionError):
    """The server's TLS certificate could not be verified (never retried). Behind a corporate
    proxy, point ``REQUESTS_CA_BUNDLE`` or ``ca_bundle=`` at its CA file."""


class RequestCancelledError(APIConnectionError):
    """The call was cancelled (an ``aio`` task cancelled, a Stream closed while it opened); no
    request is sent after the cancellation."""


class APIResponseValidationError(APIError):
    """A 2xx answer whose body is not what the endpoint documents (not JSON, missing fields,
    wrong types, not UTF-8, too deep, too large).

    ``body`` holds the first bytes of the body as text; the message shows them and suggests
    checking ``base_url`` when the body does not look like an API response at all.
    """

    def __init__(self, message: str, *, body: Any = None, request_id: str | None = None) -> None:
        super().__init__(message, request_id=request_id)
        self.body = redact(body)


class ResponseTooLargeError(APIResponseValidationError):
    """A body (after decompression) or one SSE line/event exceeded the transport's cap
    (``max_body_bytes``, ``max_line_bytes``); the read stops there, memory stays bounded."""


class StructuredOutputError(APIResponseValidationError):
    """A structured-output reply (``response_format=`` a dataclass or schema) is not valid JSON,
    is empty without a refusal, or does not fit the requested type (a missing field, a wrong type).

    ``raw_text`` is the model's text; ``result`` the CompletionResult without ``parsed`` (so the
    answer that was paid for is not lost). A refusal is not this error: it keeps ``parsed=None``
    and sets ``refusal``.
    """

    def __init__(self, message: str, *, raw_text: str = "", result: Any = None,
                 request_id: str | None = None) -> None:
        super().__init__(message, body=raw_text[:200], request_id=request_id)
        self.raw_text = raw_text
        self.result = result


class APIStatusError(APIError):
    """The server answered with a non-2xx status.

    ``body`` is the parsed JSON (or text) of the response; ``code``, ``type`` and ``param`` come
    from the ``{"error": {...}}`` envelope when there is one (Anthropic: ``type`` like
    ``overloaded_error``; Gemini: ``type`` is the status like ``RESOURCE_EXHAUSTED``).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> None:
        if isinstance(body, dict) and isinstance(body.get("request_id"), str) and body["request_id"]:
            request_id = body["request_id"]  # Anthropic repeats it in the body; proxies may rewrite headers
        super().__init__(message, request_id=request_id)
        self.status_code = status_code
        self.body = body = redact(body)
        self.headers = redact(dict(headers or {}))
        err = body.get("error") if isinstance(body, dict) else None
        err = err if isinstance(err, dict) else {}
        self.code: str | None = err.get("code")
        self.type: str | None = err.get("type") or err.get("status")  # Gemini: the canonical status
        self.param: str | None = err.get("param")


class BadRequestError(APIStatusError):
    """HTTP 400."""


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403."""


class NotFoundError(APIStatusError):
    """HTTP 404: unknown model or endpoint."""


class ConflictError(APIStatusError):
    """HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """HTTP 422."""


class RateLimitError(APIStatusError):
    """HTTP 429: too many requests, or ``insufficient_quota`` (never retried)."""


class InternalServerError(APIStatusError):
    """HTTP 5xx."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """The APIStatusError subclass for an HTTP status code."""
    if status_code >= 500:
        return InternalServerError
    return _STATUS_CLASSES.get(status_code, APIStatusError)


class StreamError(APIError):
    """A stream broke: connection lost, idle timeout, malformed SSE, or an in-band error event.

    ``partial`` is the CompletionResult assembled before the failure (content, tool calls, usage
    if any), so no text that already arrived is lost.
    """

    def __init__(
        self,
        message: str,
        *,
        partial: Any = None,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.partial = partial
        self.body = redact(body)


class ToolError(LLMClientError):
    """A tool is defined wrongly (bad signature, duplicate name) or could not be run."""


class MaxTurnsExceededError(LLMClientError):
    """An agent reached ``max_turns`` and was asked to raise instead of returning."""


class CacheError(LLMClientError):
    """A cache backend is misconfigured or returned an entry that is not ours."""


class BudgetExceededError(LLMClientError):
    """A call would cross a ``Budget`` (USD or tokens); raised before the call is sent.

    ``spent`` and ``limit`` are in the budget's unit; ``estimate`` is what the refused call was
    estimated to cost.
    """

    def __init__(self, message: str, *, spent: float | None = None, limit: float | None = None,
                 estimate: float | None = None) -> None:
        super().__init__(message)
        self.spent = spent
        self.limit = limit
        self.estimate = estimate


class MissingDependencyError(LLMClientError, ImportError):
    """An optional feature was used without its extra; the message names the pip command."""


class RateLimitTimeoutError(LLMClientError):
    """Waiting for rate-limit capacity took longer than the given timeout, or never can succeed."""


class RateLimiterUnavailableError(LLMClientError):
    """A shared rate limiter's store (Redis) cannot be reached and the limiter is set to fail
    closed (``fallback="raise"``): no request is sent until the store answers again."""


class ContextWindowExceededError(LLMClientError, ValueError):
    """Messages cannot fit in the model's context window (says by how many tokens)."""

    def __init__(self, message: str, *, tokens_over: int | None = None) -> None:
        super().__init__(message)
        self.tokens_over = tokens_over
