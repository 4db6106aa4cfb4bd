"""AnthropicProvider: complete and stream over the Anthropic Messages API, with requests through our Transport.

Flow and results are BaseProvider's; the wire format is ``_anthropic_wire.AnthropicProtocol``.
"""

from __future__ import annotations

import calendar
import time
from typing import Any, Callable, Mapping

from ..models import ModelProfile
from ._anthropic_wire import STRUCTURED_BETA, AnthropicProtocol
from ._native import CountCache, count_exact, limiter_view
from .base import BaseProvider

__all__ = ["AnthropicProvider", "limiter_headers"]

API_VERSION = "2023-06-01"


def limiter_headers(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> dict[str, str]:
    """Anthropic's rate-limit headers in the ``x-ratelimit-*`` shape the RateLimiter reads.

    ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` (reset is an RFC 3339
    time, turned into seconds from now); ``retry-after`` and everything else pass through.
    """
    out = {str(k).lower(): v for k, v in headers.items()}
    for dim in ("requests", "tokens"):
        for what in ("limit", "remaining", "reset"):
            value = out.get(f"anthropic-ratelimit-{dim}-{what}")
            if value is None:
                continue
            if what == "reset":
                try:
                    at = calendar.timegm(time.strptime(str(value).strip()[:19], "%Y-%m-%dT%H:%M:%S"))
                except ValueError:
                    continue
                value = f"{max(at - now(), 0.0):.3f}"
            out.setdefault(f"x-ratelimit-{what}-{dim}", value)
    return out


class AnthropicProvider(BaseProvider):
    """Claude models over ``POST /v1/messages``; the same results, streams and tools as OpenAIProvider.

    The key comes from ``api_key`` or ``ANTHROPIC_API_KEY`` and goes in ``x-api-key`` (with
    ``anthropic-version``); ``ANTHROPIC_BASE_URL`` overrides the endpoint. Extra params: ``thinking``
    (Anthropic's dict), ``thinking_budget`` (tokens) or ``reasoning_effort`` turn extended thinking
    on; the thinking blocks and their signatures travel in ``result.to_message()`` and are sent back
    unchanged. ``response_format`` uses the structured-outputs beta. Thread-safe.

        >>> with AnthropicProvider("claude-haiku-4-5") as claude:  # doctest: +SKIP
        ...     print(claude.complete("Two names for a pet pelican").content)
    """

    name = "anthropic"
    api_key_env = "ANTHROPIC_API_KEY"
    base_url_env = "ANTHROPIC_BASE_URL"
    default_base_url = "https://api.anthropic.com"

    def __init__(self, model: str | ModelProfile = "claude-sonnet-4-5", **kw: Any) -> None:
        super().__init__(model, protocol=AnthropicProtocol(), **kw)
        self._counts = CountCache()

    def _transport_options(self) -> dict[str, Any]:
        return {"auth_header": "x-api-key", "auth_scheme": None}

    def _default_headers(self) -> dict[str, str]:
        return {"anthropic-version": API_VERSION, "anthropic-beta": STRUCTURED_BETA}

    def _check_params(self, params: Mapping[str, Any]) -> None:
        return None  # the protocol's build checks what the Messages API rejects

    def _build_limiter(self, rate_limit: Any) -> Any:
        limiter = super()._build_limiter(rate_limit)
        observers = getattr(self.transport, "observers", None)
        if limiter is not None and observers is not None and limiter.observe in observers:
            observers[observers.index(limiter.observe)] = (
                lambda status, headers: limiter.observe(status, limiter_headers(headers)))
        return limiter

    def _acquire(self, body: Mapping[str, Any], profile: ModelProfile | None = None) -> Any:
        # the limiter estimates chat-shaped bodies: give it this body's text and output limit
        return super()._acquire(limiter_view(body), profile)

    def count_tokens(self, prompt: Any = None, **params: Any) -> int:
        """Input tokens of this request from ``/v1/messages/count_tokens`` (memoised), or the
        offline estimate when the endpoint cannot answer."""
        body = self.build_body(prompt, **params)
        proto = self._protocol
        return count_exact(self, self._counts, proto.count_endpoint, proto.count_body(body), "input_tokens",
                           prompt, params)
