"""Deprecated: moved to ``llm_client_sync.ratelimit`` (this path works for one more release)."""

from __future__ import annotations

from ._warn import warn_user
from .ratelimit.redis_limiter import *  # noqa: F401,F403
from .ratelimit.redis_limiter import RedisRateLimiter, __all__  # noqa: F401

warn_user("llm_client_sync.rate_limit_redis is deprecated; import RedisRateLimiter from "
          "llm_client_sync.ratelimit (or llm_client_sync)", DeprecationWarning)
