"""Rate limiting: the in-process limiter (``limiter``), the Redis-shared one (``redis_limiter``) and
the token estimate a request reserves (``cost``).

    >>> from llm_client_sync.ratelimit import RateLimit, RateLimiter
    >>> limiter = RateLimiter(RateLimit(rpm=500, tpm=200_000))
"""

from __future__ import annotations

from .cost import DEFAULT_COMPLETION_TOKENS, request_cost
from .limiter import WINDOW, RateLimit, RateLimiter, Reservation, build_limiter, parse_reset, pause_from_headers
from .redis_limiter import RedisRateLimiter

__all__ = [
    "DEFAULT_COMPLETION_TOKENS",
    "RateLimit",
    "RateLimiter",
    "RedisRateLimiter",
    "Reservation",
    "WINDOW",
    "build_limiter",
    "parse_reset",
    "pause_from_headers",
    "request_cost",
]
