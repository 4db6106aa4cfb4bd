"""build_cache: turn the provider's ``cache_backend`` + options into a ResponseCache (or None)."""

from __future__ import annotations

import difflib
import math
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import ConfigurationError
from ._base import CacheBackend
from ._response import ResponseCache

__all__ = ["BACKEND_NAMES", "build_cache"]

BACKEND_NAMES = ("fs", "pg_redis", "qdrant")

_COMMON = {"cache_ttl", "cache_namespace", "cache_timeout", "semantic", "similarity_threshold",
           "retry_after", "signing_key"}
_PER_BACKEND = {
    "fs": {"cache_dir", "fsync"},
    "pg_redis": {"pg_dsn", "redis_url", "redis_ttl", "pg_table", "redis_prefix", "pool_size"},
    "qdrant": {"qdrant_url", "qdrant_api_key", "qdrant_path", "qdrant_prefix"},
}
_KNOWN = _COMMON.union(*_PER_BACKEND.values())


def build_cache(cache_backend: Any, *, options: Mapping[str, Any] | None = None,
                embed_fn: Callable[[str], Sequence[float]] | None = None) -> ResponseCache | None:
    """The provider's ResponseCache, or None when caching is off.

    Args:
        cache_backend: None, "fs", "pg_redis", "qdrant", or a CacheBackend instance (not closed
            by the cache: its owner closes it).
        options: cache_dir, pg_dsn, redis_url, qdrant_url, qdrant_api_key, qdrant_path,
            cache_ttl, cache_namespace, cache_timeout (default 1.0 s), and cache_options entries
            (semantic, similarity_threshold, redis_ttl, pg_table, retry_after, signing_key, ...).
        embed_fn: text -> vector, used by qdrant's semantic mode.

    Raises:
        ConfigurationError: unknown backend or option, or a bad value (the message says the fix).

    Example:
        cache = build_cache("fs", options={"cache_dir": "./cache"})
    """
    if cache_backend is None or cache_backend is False:
        return None
    opts = dict(options or {})
    unknown = sorted(set(opts) - _KNOWN)
    if unknown:
        hints = {u: difflib.get_close_matches(u, sorted(_KNOWN), n=1) for u in unknown}
        said = ", ".join(f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for u, h in hints.items())
        raise ConfigurationError(f"unknown cache option {said}; known options: {', '.join(sorted(_KNOWN))}")
    timeout = _number(opts, "cache_timeout", 1.0)
    common = dict(
        namespace=_text(opts, "cache_namespace"),
        ttl=_number(opts, "cache_ttl", None),
        timeout=timeout,
        retry_after=_number(opts, "retry_after", 10.0, allow_zero=True),
        semantic=_flag(opts, "semantic"),
        similarity_threshold=_threshold(opts),
        signing_key=_signing_key(opts),
        embed_fn=embed_fn,
    )
    if isinstance(cache_backend, str):
        backend = _backend_by_name(cache_backend, opts, timeout)
        owns = True
    elif all(callable(getattr(cache_backend, m, None)) for m in ("get", "set", "delete")):
        backend, owns = cache_backend, False
    else:
        raise ConfigurationError(
            f"cache_backend must be one of {', '.join(map(repr, BACKEND_NAMES))} or a CacheBackend "
            f"instance, got {type(cache_backend).__name__}")
    if common["semantic"]:
        if not callable(getattr(backend, "nearest", None)):
            _close_quietly(backend, owns)
            raise ConfigurationError("semantic=True needs a vector store: use cache_backend='qdrant'")
        if embed_fn is None:
            _close_quietly(backend, owns)
            raise ConfigurationError("semantic=True needs an embed_fn (the provider passes its embeddings)")
    return ResponseCache(backend, owns_backend=owns, **common)


def _backend_by_name(name: str, opts: Mapping[str, Any], timeout: float) -> CacheBackend:
    key = name.strip().lower().replace("-", "_")
    if key == "fs":
        from .fs import FileCache

        return FileCache(_cache_dir(opts), fsync=_flag(opts, "fsync"))
    if key == "pg_redis":
        from .pg_redis import PgRedisCache

        pool_size = opts.get("pool_size", 8)
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ConfigurationError(f"pool_size must be a positive integer, got {pool_size!r}")
        return PgRedisCache(
            _text(opts, "pg_dsn") or os.environ.get("PG_DSN") or None,
            _text(opts, "redis_url") or os.environ.get("REDIS_URL") or None,
            table=_text(opts, "pg_table") or "llm_cache",
            redis_prefix=_text(opts, "redis_prefix") or "llm_cache",
            hot_ttl=_number(opts, "redis_ttl", 3600.0),
            timeout=timeout,
            pool_size=pool_size,
        )
    if key == "qdrant":
        from .qdrant import QdrantCache

        path = _text(opts, "qdrant_path")
        url = None if path else (_text(opts, "qdrant_url") or os.environ.get("QDRANT_URL") or None)
        return QdrantCache(url, api_key=_text(opts, "qdrant_api_key") or os.environ.get("QDRANT_API_KEY") or None,
                           path=path, prefix=_text(opts, "qdrant_prefix") or "llm_cache_", timeout=timeout)
    raise ConfigurationError(f"unknown cache_backend {name!r}; use one of {', '.join(map(repr, BACKEND_NAMES))} "
                             "or pass a CacheBackend instance")


def _cache_dir(opts: Mapping[str, Any]) -> Path:
    given = opts.get("cache_dir")
    if given is not None:
        if not isinstance(given, (str, os.PathLike)) or not str(given):
            raise ConfigurationError(f"cache_dir must be a folder path, got {given!r}")
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "llm_client_sync"


def _number(opts: Mapping[str, Any], name: str, default: float | None, *, allow_zero: bool = False) -> Any:
    value = opts.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _text(opts: Mapping[str, Any], name: str) -> str | None:
    value = opts.get(name)
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string, got {type(value).__name__}")
    return value


def _flag(opts: Mapping[str, Any], name: str) -> bool:
    value = opts.get(name, False)
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, got {value!r}")
    return value


def _threshold(opts: Mapping[str, Any]) -> float:
    value = opts.get("similarity_threshold", 0.95)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ConfigurationError(f"similarity_threshold must be a cosine similarity in (0, 1], got {value!r}")
    return float(value)


def _signing_key(opts: Mapping[str, Any]) -> bytes | None:
    value = opts.get("signing_key")
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes) or len(value) < 16:
        raise ConfigurationError("signing_key must be a str or bytes of at least 16 characters")
    return value


def _close_quietly(backend: Any, owns: bool) -> None:
    if owns:
        try:
            backend.close()
        except Exception:
            pass
