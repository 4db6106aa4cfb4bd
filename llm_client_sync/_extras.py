"""Optional dependencies: import one when its feature is first used, or say which extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

__all__ = ["EXTRAS", "import_extra"]

# extra name -> (the distributions it installs, what it enables); the README's table comes from here
EXTRAS: dict[str, tuple[str, str]] = {
    "anthropic": ("(none)", "AnthropicProvider needs no SDK: listed so the name is reserved"),
    "django": ("django", "django_response(): SSE from a Django view, WSGI or ASGI"),
    "flask": ("flask", "flask_response(): SSE from a Flask view"),
    "otel": ("opentelemetry-api", "instrument(): OpenTelemetry GenAI spans and metrics"),
    "postgres": ("psycopg[binary]", "cache_backend='pg_redis' (with redis)"),
    "progress": ("tqdm", "progress bars for BatchRunner(progress=True) and the batch CLI"),
    "pusher": ("pusher", "PusherAdapter"),
    "qdrant": ("qdrant-client", "cache_backend='qdrant' (semantic cache)"),
    "redis": ("redis", "cache_backend='pg_redis', RedisRateLimiter"),
}


def import_extra(module: str, extra: str, feature: str) -> ModuleType:
    """``import module``, or raise MissingDependencyError naming ``pip install 'llm-client-sync[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the {module.split('.')[0]!r} package: pip install 'llm-client-sync[{extra}]'"
        ) from exc
