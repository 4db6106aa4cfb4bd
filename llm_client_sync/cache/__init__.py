"""Response caching: exact keys over the full request, JSON entries, fs / PostgreSQL+Redis / Qdrant.

Backends are imported on first use, so ``import llm_client_sync`` loads no database driver.
"""

from __future__ import annotations

from typing import Any

from ._base import CacheBackend, CacheWarning, SemanticBackend
from ._build import BACKEND_NAMES, build_cache
from ._key import cache_key
from ._response import ResponseCache

__all__ = [
    "BACKEND_NAMES",
    "CacheBackend",
    "CacheWarning",
    "FileCache",
    "PgRedisCache",
    "QdrantCache",
    "ResponseCache",
    "SemanticBackend",
    "build_cache",
    "cache_key",
]

_LAZY = {"FileCache": ".fs", "PgRedisCache": ".pg_redis", "QdrantCache": ".qdrant"}


def __getattr__(name: str) -> Any:
    # backend classes load their module (not their driver) only when named
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
