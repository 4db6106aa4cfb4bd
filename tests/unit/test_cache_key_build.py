"""build_cache: backend names, option checks, env fallbacks; nothing connects at build time."""

from __future__ import annotations

import sys

import pytest

from llm_client_sync.cache import CacheBackend, ResponseCache, build_cache
from llm_client_sync.errors import ConfigurationError


def test_none_means_no_cache() -> None:
    assert build_cache(None, options={"cache_dir": "x"}) is None


def test_fs_with_options(tmp_path) -> None:
    cache = build_cache("fs", options={"cache_dir": str(tmp_path), "cache_ttl": 60, "cache_namespace": "t",
                                       "cache_timeout": 0.5})
    assert isinstance(cache, ResponseCache)
    assert (cache.namespace, cache.ttl, cache.timeout) == ("t", 60.0, 0.5)
    assert cache.backend.root == tmp_path
    cache.close()


def test_fs_default_dir_follows_xdg(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = build_cache("FS", options={})
    assert cache.backend.root == tmp_path / "llm_client_sync"


@pytest.mark.parametrize("name", ["redis", "memory", "pg", ""])
def test_unknown_backend_names_say_what_exists(name) -> None:
    with pytest.raises(ConfigurationError, match="'fs', 'pg_redis', 'qdrant'"):
        build_cache(name, options={})


def test_non_backend_object_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="CacheBackend instance"):
        build_cache(42, options={})


def test_unknown_option_suggests_the_right_one(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="did you mean 'cache_ttl'"):
        build_cache("fs", options={"cache_dir": str(tmp_path), "cache_tll": 5})


@pytest.mark.parametrize("opts,match", [
    ({"cache_ttl": -1}, "cache_ttl"),
    ({"cache_ttl": "60"}, "cache_ttl"),
    ({"cache_timeout": 0}, "cache_timeout"),
    ({"cache_timeout": float("inf")}, "cache_timeout"),
    ({"cache_timeout": True}, "cache_timeout"),
    ({"cache_namespace": 3}, "cache_namespace"),
    ({"similarity_threshold": 1.5}, "similarity_threshold"),
    ({"semantic": "yes"}, "semantic"),
    ({"signing_key": "short"}, "signing_key"),
    ({"cache_dir": 5}, "cache_dir"),
])
def test_bad_values_name_the_option(opts, match, tmp_path) -> None:
    with pytest.raises(ConfigurationError, match=match):
        build_cache("fs", options={"cache_dir": str(tmp_path), **opts})


def test_semantic_needs_qdrant_and_embed_fn(tmp_path) -> None:
    with pytest.raises(ConfigurationError, match="qdrant"):
        build_cache("fs", options={"cache_dir": str(tmp_path), "semantic": True}, embed_fn=lambda t: [1.0])
    with pytest.raises(ConfigurationError, match="embed_fn"):
        build_cache("qdrant", options={"semantic": True})


def test_qdrant_semantic_build(tmp_path) -> None:
    cache = build_cache("qdrant", options={"qdrant_path": str(tmp_path / "q"), "semantic": True,
                                           "similarity_threshold": 0.9}, embed_fn=lambda t: [1.0, 0.0])
    assert cache.semantic and cache.similarity_threshold == 0.9 and cache.backend.local
    cache.close()


def test_pg_redis_needs_a_dsn_or_url(monkeypatch) -> None:
    monkeypatch.delenv("PG_DSN", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ConfigurationError, match="PG_DSN"):
        build_cache("pg_redis", options={})


def test_pg_redis_env_fallbacks_and_no_secret_in_repr(monkeypatch) -> None:
    monkeypatch.setenv("PG_DSN", "postgresql://u:pw-secret@127.0.0.1:1/db")
    monkeypatch.setenv("REDIS_URL", "redis://:pw-secret@127.0.0.1:1/0")
    cache = build_cache("pg-redis", options={"pg_table": "t1", "redis_ttl": 30})
    backend = cache.backend
    assert (backend.table, backend.hot_ttl) == ("t1", 30.0)
    assert "pw-secret" not in repr(backend) and "pw-secret" not in repr(cache)
    cache.close()


def test_pg_table_must_be_an_identifier() -> None:
    with pytest.raises(ConfigurationError, match="pg_table"):
        build_cache("pg_redis", options={"redis_url": "redis://127.0.0.1:1", "pg_table": "x; DROP TABLE y"})


def test_qdrant_path_beats_env_url(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:1")
    cache = build_cache("qdrant", options={"qdrant_path": str(tmp_path / "q")})
    assert cache.backend.local
    cache.close()


def test_instance_is_used_and_not_closed_by_the_cache() -> None:
    class Mine(CacheBackend):
        closed = False

        def get(self, key, collection):
            return None

        def set(self, key, value, collection, ttl=None):
            pass

        def delete(self, key, collection):
            pass

        def close(self):
            self.closed = True

    mine = Mine()
    cache = build_cache(mine, options={"cache_namespace": "n"})
    assert cache.backend is mine and cache.namespace == "n"
    cache.close()
    assert not mine.closed


def test_importing_the_cache_loads_no_driver() -> None:
    import subprocess

    code = ("import sys, llm_client_sync, llm_client_sync.cache; from llm_client_sync.cache import FileCache; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('redis', 'psycopg', 'qdrant_client')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"LLM_CLIENT_SYNC_NO_DOTENV": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
