"""Using a feature without its extra raises MissingDependencyError (an ImportError) naming the pip command."""

from __future__ import annotations

import sys

import pytest

from llm_client_sync import LLMClientError
from llm_client_sync.errors import MissingDependencyError


def _missing(monkeypatch, *modules):
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` now raises ImportError


def _check(exc_info, extra):
    err = exc_info.value
    assert isinstance(err, ImportError) and isinstance(err, LLMClientError)
    assert f"pip install 'llm-client-sync[{extra}]'" in str(err)


def test_flask_response_without_flask(monkeypatch):
    from llm_client_sync.streaming import flask_response

    _missing(monkeypatch, "flask")
    with pytest.raises(MissingDependencyError) as info:
        flask_response(iter(()))
    _check(info, "flask")


def test_django_response_without_django(monkeypatch):
    from llm_client_sync.streaming import django_response

    _missing(monkeypatch, "django", "django.http")
    with pytest.raises(MissingDependencyError) as info:
        django_response(iter(()))
    _check(info, "django")


def test_pusher_adapter_without_pusher(monkeypatch):
    from llm_client_sync.streaming import PusherAdapter

    _missing(monkeypatch, "pusher")
    with pytest.raises(MissingDependencyError) as info:
        PusherAdapter(app_id="1", key="k", secret="s", channel="c")
    _check(info, "pusher")


def test_qdrant_cache_without_qdrant_client(monkeypatch, tmp_path):
    from llm_client_sync.cache.qdrant import QdrantCache

    _missing(monkeypatch, "qdrant_client")
    with pytest.raises(MissingDependencyError) as info:
        QdrantCache(path=str(tmp_path))
    _check(info, "qdrant")


def test_pg_redis_cache_without_redis(monkeypatch):
    from llm_client_sync.cache.pg_redis import PgRedisCache

    _missing(monkeypatch, "redis", "redis.backoff", "redis.retry")
    with pytest.raises(MissingDependencyError) as info:
        PgRedisCache._make_redis("redis://127.0.0.1:1/0", 0.1)
    _check(info, "redis")


def test_pg_redis_cache_without_psycopg(monkeypatch):
    from llm_client_sync.cache.pg_redis import PgRedisCache

    _missing(monkeypatch, "psycopg")
    with pytest.raises(MissingDependencyError) as info:
        PgRedisCache._pg_connect("postgresql://127.0.0.1:1/x", 0.1)
    _check(info, "postgres")


def test_redis_rate_limiter_without_redis(monkeypatch):
    from llm_client_sync import RateLimit, RedisRateLimiter

    _missing(monkeypatch, "redis")
    with pytest.raises(MissingDependencyError) as info:
        RedisRateLimiter(RateLimit(rpm=10))
    _check(info, "redis")


def test_instrument_without_opentelemetry(monkeypatch):
    from llm_client_sync import instrument

    _missing(monkeypatch, "opentelemetry", "opentelemetry.trace", "opentelemetry.metrics")
    with pytest.raises(MissingDependencyError) as info:
        instrument()
    _check(info, "otel")
