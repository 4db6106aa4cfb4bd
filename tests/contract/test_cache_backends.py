"""One contract, every cache backend: fs, PostgreSQL + Redis (and each alone), Qdrant local mode.

Service-backed classes skip when PostgreSQL/Redis are absent, and fail instead when
LLM_CLIENT_SYNC_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
import warnings

import pytest

from support import require_service

from llm_client_sync.cache import CacheWarning, ResponseCache, cache_key
from llm_client_sync.types import CompletionResult, EmbeddingResult, ToolCall, Usage

PG_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5433/llm_test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHAT = "/v1/chat/completions"
BASE = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": "Weather in Tokyo?"}]}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
# 26 one-field changes; each must land in its own entry on every backend
FIELD_CHANGES = [
    {"model": "gpt-5-mini"}, {"messages": [{"role": "user", "content": "Weather in Osaka?"}]},
    {"messages": [{"role": "developer", "content": "Weather in Tokyo?"}]}, {"tools": [TOOL]},
    {"tools": [TOOL], "tool_choice": "required"}, {"tools": [TOOL], "parallel_tool_calls": False},
    {"response_format": {"type": "json_object"}}, {"temperature": 1}, {"temperature": 0.5}, {"top_p": 0.5},
    {"seed": 1}, {"max_completion_tokens": 64}, {"max_tokens": 64}, {"reasoning_effort": "low"}, {"n": 1},
    {"n": 2}, {"stop": ["x"]}, {"user": "u"}, {"metadata": {"a": "b"}}, {"frequency_penalty": 0.1},
    {"presence_penalty": 0.1}, {"logit_bias": {"1": 1}}, {"logprobs": True}, {"service_tier": "flex"},
    {"store": False}, {"extra_param": None},
]


def pg_available() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_DSN, connect_timeout=2).close()
        return True
    except Exception:
        return False


def redis_available(url: str = REDIS_URL) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of our own on a free loopback port, so a test may kill it."""

    def __init__(self, tmp_path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            require_service("redis-server is not installed (source ../shared/services/pg_redis.sh)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(tmp_path)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not redis_available(self.url):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                pytest.fail("private redis-server did not start")
            time.sleep(0.02)  # polling a child process we started, bounded by the deadline

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class WallClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def completion() -> CompletionResult:
    call = ToolCall.from_raw("call_1", "get_weather", '{"city": "東京", "days": 3}')
    return CompletionResult(
        content="Sunny ☀ in 東京 — 22 °C\nline two \"quoted\" \\ backslash",
        tool_calls=(call,), usage=Usage(12, 7, 19, 4, 2), cost=1.2345e-06, model="gpt-5-nano",
        finish_reason="tool_calls", request_id="req_1", raw={"id": "chatcmpl-1", "nested": {"x": [1, 2.5, None]}},
        reasoning="thought", response_id=None)


class CacheBackendContract:
    """The behaviour every backend must show through ResponseCache. Subclasses set make_backend."""

    def make_backend(self, tmp_path, wall):
        raise NotImplementedError

    def kill(self, backend) -> None:
        """Make the backend's service unreachable (stop it, or close its client)."""
        raise NotImplementedError

    @pytest.fixture
    def wall(self) -> WallClock:
        return WallClock()

    @pytest.fixture
    def backend(self, tmp_path, wall):
        backend = self.make_backend(tmp_path, wall)
        yield backend
        backend.close()

    @pytest.fixture
    def cache(self, backend, wall):
        cache = ResponseCache(backend, wall_clock=wall, owns_backend=False, retry_after=60.0)
        yield cache
        cache.close()

    @pytest.fixture
    def col(self) -> str:
        return f"c{uuid.uuid4().hex[:12]}"  # fresh per test: service-backed stores outlive a run

    def test_miss_then_round_trip_of_a_completion(self, cache, col) -> None:
        key = cache.key(CHAT, BASE)
        assert cache.get(key, col) is None
        result = completion()
        cache.put(key, result.to_dict(), col)
        again = CompletionResult.from_dict(cache.get(key, col), cached=True)
        assert again.cached and again.to_dict() == result.to_dict()
        assert again.tool_calls[0].arguments == {"city": "東京", "days": 3}
        assert cache.stats["hits"] == 1 and cache.stats["rejected"] == 0

    def test_round_trip_of_embeddings_keeps_floats_exact(self, cache, col) -> None:
        vectors = ([0.1, 0.2 + 0.1, 1e-7, 123456.789, -3.5e-12], [1.0, -1.0, 0.0, -0.0, 5e-324, 1.7976931348623157e308])
        result = EmbeddingResult(vectors=vectors, usage=Usage(5, 0, 5), model="text-embedding-3-small")
        key = cache.key("/v1/embeddings", {"model": "text-embedding-3-small", "input": ["a", "b"]})
        cache.put(key, result.to_dict(), col)
        assert EmbeddingResult.from_dict(cache.get(key, col)).vectors == vectors

    def test_every_key_sensitive_field_is_its_own_entry(self, cache, col) -> None:
        bodies = [BASE] + [{**BASE, **change} for change in FIELD_CHANGES]
        keys = [cache.key(CHAT, body) for body in bodies]
        assert len(set(keys)) == len(bodies) == 27
        for i, key in enumerate(keys):
            cache.put(key, {"content": f"answer {i}"}, col)
        assert [cache.get(key, col)["content"] for key in keys] == [f"answer {i}" for i in range(27)]

    @pytest.mark.parametrize("names", [("a", "b"), ("a:b", "a"), ("x", "../x"), ("é", "e"), ("A", "a")])
    def test_no_cross_collection_hits(self, cache, col, names) -> None:
        first, second = (col + n for n in names)
        key = cache.key(CHAT, BASE)
        cache.put(key, {"content": "first"}, first)
        assert cache.get(key, second) is None
        cache.put(key, {"content": "second"}, second)
        assert cache.get(key, first) == {"content": "first"}
        cache.delete(key, second)
        assert cache.get(key, second) is None and cache.get(key, first) == {"content": "first"}

    def test_last_write_wins(self, cache, col) -> None:
        cache.put("k" * 64, {"content": "old"}, col)
        cache.put("k" * 64, {"content": "new"}, col)
        assert cache.get("k" * 64, col) == {"content": "new"}

    def test_ttl_expiry_is_a_quiet_miss(self, backend, wall, col) -> None:
        cache = ResponseCache(backend, ttl=30.0, wall_clock=wall, owns_backend=False)
        cache.put("t" * 64, {"content": "fresh"}, col)
        wall.now += 29
        assert cache.get("t" * 64, col) == {"content": "fresh"}
        wall.now += 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert cache.get("t" * 64, col) is None

    def test_tampered_entry_is_rejected(self, cache, backend, col) -> None:
        key = cache.key(CHAT, BASE)
        cache.put(key, {"content": "real"}, col)
        entry = backend.get(key, col)
        entry["value"]["content"] = "forged"
        backend.set(key, entry, col)
        with pytest.warns(CacheWarning, match="checksum"):
            assert cache.get(key, col) is None
        assert cache.stats["rejected"] == 1

    def test_foreign_entry_is_rejected(self, cache, backend, col) -> None:
        key = cache.key(CHAT, BASE)
        backend.set(key, {"content": "I was written by something else"}, col)
        with pytest.warns(CacheWarning, match="rejected"):
            assert cache.get(key, col) is None

    def test_16_threads_writing_the_same_key(self, cache, col) -> None:
        key = cache.key(CHAT, BASE)
        written = {f"writer {i}" for i in range(16)}
        seen: list = []
        barrier = threading.Barrier(16)

        def work(i: int) -> None:
            barrier.wait(10)
            for _ in range(5):
                cache.put(key, {"content": f"writer {i}"}, col)
                seen.append(cache.get(key, col))

        self._run_threads(work)
        assert len(seen) == 80
        assert all(v is not None and v["content"] in written for v in seen)
        assert cache.stats["errors"] == 0 and cache.stats["rejected"] == 0

    def test_16_threads_writing_different_keys(self, cache, col) -> None:
        results: dict = {}
        barrier = threading.Barrier(16)

        def work(i: int) -> None:
            barrier.wait(10)
            for j in range(5):
                key = cache.key(CHAT, {**BASE, "seed": i * 100 + j})
                cache.put(key, {"content": f"{i}/{j}"}, col)
                results[(i, j)] = cache.get(key, col)

        self._run_threads(work)
        assert results == {(i, j): {"content": f"{i}/{j}"} for i in range(16) for j in range(5)}
        assert cache.stats["errors"] == 0

    def test_backend_killed_mid_run_degrades_to_misses_within_the_bound(self, tmp_path, wall, col) -> None:
        backend = self.make_backend(tmp_path, wall)
        cache = ResponseCache(backend, timeout=1.0, wall_clock=wall)
        try:
            cache.put("a" * 64, {"content": "before"}, col)
            assert cache.get("a" * 64, col) == {"content": "before"}
            self.kill(backend)
            start = time.monotonic()
            with pytest.warns(CacheWarning) as record:
                for i in range(5):
                    cache.put(f"{i}" * 64, {"content": "after"}, col)
                    assert cache.get(f"{i}" * 64, col) is None
            elapsed = time.monotonic() - start
            assert elapsed < 1.0 + 0.5, f"a dead backend cost {elapsed:.2f} s"
            assert len(record) == 1
            assert cache.stats["errors"] >= 1
        finally:
            cache.close()

    @staticmethod
    def _run_threads(work) -> None:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)


class TestFileCache(CacheBackendContract):
    def make_backend(self, tmp_path, wall):
        from llm_client_sync.cache import FileCache

        return FileCache(tmp_path / "cache", clock=wall)

    def kill(self, backend) -> None:
        shutil.rmtree(backend.root)
        backend.root.write_text("not a folder any more")  # every read and write now fails

    def test_layout_is_collection_shard_key_json(self, cache, backend, col) -> None:
        key = cache_key(CHAT, BASE)
        cache.put(key, {"content": "x"}, col)
        assert backend.path(key, col) == backend.root / col / key[:2] / f"{key}.json"
        assert backend.path(key, col).is_file()
        assert not list(backend.root.rglob(".tmp-*"))

    @pytest.mark.parametrize("name", ["../../etc", "a/b", "..", "", "con", "x" * 300, "nul\x00byte"])
    def test_collection_names_never_escape_the_cache_dir(self, backend, name) -> None:
        backend.set("k", {"v": 1}, name)
        path = backend.path("k", name).resolve()
        assert backend.root.resolve() in path.parents and backend.get("k", name) == {"v": 1}


class _PgMixin:
    table = f"llm_cache_test_{uuid.uuid4().hex[:8]}"

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _drop_table(cls):
        yield
        if pg_available():
            import psycopg

            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f"DROP TABLE IF EXISTS {cls.table}")


@pytest.mark.services
class TestPgRedisCache(_PgMixin, CacheBackendContract):
    def make_backend(self, tmp_path, wall):
        if not pg_available():
            require_service(f"PostgreSQL is not reachable at TEST_PG_DSN ({PG_DSN.split('@')[-1]})")
        from llm_client_sync.cache import PgRedisCache

        self._redis = PrivateRedis(tmp_path)
        return PgRedisCache(PG_DSN, self._redis.url, table=self.table, clock=wall)

    def kill(self, backend) -> None:
        self._redis.stop()

    @pytest.fixture
    def backend(self, tmp_path, wall):
        backend = self.make_backend(tmp_path, wall)
        yield backend
        backend.close()
        self._redis.stop()

    def test_backend_killed_mid_run_degrades_to_misses_within_the_bound(self, tmp_path, wall, col) -> None:
        try:
            super().test_backend_killed_mid_run_degrades_to_misses_within_the_bound(tmp_path, wall, col)
        finally:
            redis = getattr(self, "_redis", None)  # None when the service was missing and the test skipped
            if redis is not None:
                redis.stop()


@pytest.mark.services
class TestPostgresOnly(_PgMixin, CacheBackendContract):
    def make_backend(self, tmp_path, wall):
        if not pg_available():
            require_service(f"PostgreSQL is not reachable at TEST_PG_DSN ({PG_DSN.split('@')[-1]})")
        from llm_client_sync.cache import PgRedisCache

        return PgRedisCache(PG_DSN, None, table=self.table, clock=wall)

    def kill(self, backend) -> None:
        backend._pool.close()  # as if the server went away: no connection can be had


@pytest.mark.services
class TestRedisOnly(CacheBackendContract):
    def make_backend(self, tmp_path, wall):
        if not redis_available():
            require_service(f"Redis is not reachable at TEST_REDIS_URL ({REDIS_URL})")
        from llm_client_sync.cache import PgRedisCache

        return PgRedisCache(None, REDIS_URL, redis_prefix=f"llm_cache_test_{uuid.uuid4().hex[:8]}", clock=wall)

    def kill(self, backend) -> None:
        backend._redis.connection_pool.reset()
        backend._redis.connection_pool.connection_kwargs["port"] = free_port()  # nothing listens there

    def test_ttl_expiry_is_a_quiet_miss(self, backend, wall, col) -> None:
        super().test_ttl_expiry_is_a_quiet_miss(backend, wall, col)


class TestQdrantMemory(CacheBackendContract):
    def make_backend(self, tmp_path, wall):
        from llm_client_sync.cache import QdrantCache

        return QdrantCache(clock=wall)

    def kill(self, backend) -> None:
        backend._client.close()


class TestQdrantPath(CacheBackendContract):
    def make_backend(self, tmp_path, wall):
        from llm_client_sync.cache import QdrantCache

        return QdrantCache(path=str(tmp_path / "qdrant"), clock=wall)

    def kill(self, backend) -> None:
        backend._client.close()
