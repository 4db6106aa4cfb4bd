"""PostgreSQL + Redis cache against the real services: refill, TTLs, table creation, dead and
silent services bounded by cache_timeout."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid

import pytest

from support import require_service

from llm_client_sync.cache import CacheWarning, ResponseCache

pytestmark = pytest.mark.services

PG_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5433/llm_test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def services():
    try:
        import psycopg
        import redis

        psycopg.connect(PG_DSN, connect_timeout=2).close()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except Exception as exc:
        require_service(f"PostgreSQL/Redis not reachable ({type(exc).__name__}); "
                        "source ../shared/services/pg_redis.sh && services_start")
    return PG_DSN, REDIS_URL


@pytest.fixture
def table(services):
    import psycopg

    name = f"llm_cache_it_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def backend(table):
    from llm_client_sync.cache import PgRedisCache

    backend = PgRedisCache(PG_DSN, REDIS_URL, table=table, redis_prefix=table, hot_ttl=120.0)
    yield backend
    backend._redis.delete(*(backend._redis.keys(f"{table}:*") or ["-"]))
    backend.close()


def _pg_row(table: str, key: str):
    import psycopg

    with psycopg.connect(PG_DSN) as conn:
        return conn.execute(f"SELECT value, expires_at FROM {table} WHERE key = %s", (key,)).fetchone()


def test_table_is_created_on_first_use_and_holds_jsonb(backend, table) -> None:
    import psycopg

    with psycopg.connect(PG_DSN) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None
    cache = ResponseCache(backend, owns_backend=False)
    cache.put("k" * 64, {"content": "durable"}, "col")
    with psycopg.connect(PG_DSN) as conn:
        kind = conn.execute(f"SELECT jsonb_typeof(value), value->'value'->>'content' FROM {table}").fetchone()
    assert kind == ("object", "durable")


def test_redis_miss_reads_postgres_and_refills_redis_with_the_hot_ttl(backend) -> None:
    cache = ResponseCache(backend, owns_backend=False)
    cache.put("r" * 64, {"content": "x"}, "col")
    rkey = backend._rkey("r" * 64, "col")
    assert 0 < backend._redis.pttl(rkey) <= 120_000
    backend._redis.delete(rkey)  # the hot copy is gone (evicted, or Redis restarted)
    assert cache.get("r" * 64, "col") == {"content": "x"}
    assert backend._redis.exists(rkey) and 0 < backend._redis.pttl(rkey) <= 120_000


def test_entry_ttl_bounds_redis_ttl_and_postgres_expiry(table) -> None:
    from llm_client_sync.cache import PgRedisCache

    now = [time.time()]
    backend = PgRedisCache(PG_DSN, REDIS_URL, table=table, redis_prefix=table, hot_ttl=120.0, clock=lambda: now[0])
    try:
        cache = ResponseCache(backend, owns_backend=False, ttl=5.0, wall_clock=lambda: now[0])
        cache.put("e" * 64, {"content": "short"}, "col")
        assert 0 < backend._redis.pttl(backend._rkey("e" * 64, "col")) <= 5_000
        backend._redis.delete(backend._rkey("e" * 64, "col"))
        now[0] += 6
        assert backend.get("e" * 64, "col") is None  # PostgreSQL filters expired rows
        assert _pg_row(table, "e" * 64) is not None
        assert backend.purge_expired() == 1 and _pg_row(table, "e" * 64) is None
    finally:
        backend.close()


def test_two_processes_worth_of_backends_share_entries(backend, table) -> None:
    from llm_client_sync.cache import PgRedisCache

    other = PgRedisCache(PG_DSN, None, table=table)  # a second client: PostgreSQL only
    try:
        ResponseCache(backend, owns_backend=False).put("s" * 64, {"content": "shared"}, "col")
        assert ResponseCache(other, owns_backend=False).get("s" * 64, "col") == {"content": "shared"}
    finally:
        other.close()


def test_nul_characters_stay_in_redis_with_a_warning_not_an_outage(backend) -> None:
    cache = ResponseCache(backend, owns_backend=False)
    with pytest.warns(CacheWarning, match="NUL"):
        cache.put("n" * 64, {"content": "a\x00b"}, "col")
    assert cache.get("n" * 64, "col") == {"content": "a\x00b"}
    cache.put("m" * 64, {"content": "fine"}, "col")
    assert cache.get("m" * 64, "col") == {"content": "fine"}


def test_postgres_at_a_closed_port_costs_one_bounded_failure(services, table) -> None:
    from llm_client_sync.cache import PgRedisCache

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    backend = PgRedisCache(f"postgresql://postgres@127.0.0.1:{port}/x", REDIS_URL, table=table, redis_prefix=table)
    cache = ResponseCache(backend, timeout=1.0)
    try:
        start = time.monotonic()
        with pytest.warns(CacheWarning, match="failed on get"):
            assert cache.get("z" * 64, "col") is None  # Redis miss -> PostgreSQL refused
            cache.put("z" * 64, {"content": "x"}, "col")
        assert time.monotonic() - start < 1.5
    finally:
        cache.close()


class Blackhole:
    """A loopback listener that accepts connections and never answers (a hung service)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("which", ["redis", "postgres"])
def test_a_silent_service_costs_at_most_cache_timeout(services, table, which) -> None:
    from llm_client_sync.cache import PgRedisCache

    hole = Blackhole()
    url = f"redis://127.0.0.1:{hole.port}/0" if which == "redis" else REDIS_URL
    dsn = f"postgresql://postgres@127.0.0.1:{hole.port}/x" if which == "postgres" else PG_DSN
    backend = PgRedisCache(dsn, url, table=table, redis_prefix=table, timeout=0.3)
    cache = ResponseCache(backend, timeout=0.3)
    try:
        start = time.monotonic()
        with pytest.warns(CacheWarning, match="cache_timeout=0.3|Timeout"):
            assert cache.get("h" * 64, "col") is None
        first = time.monotonic() - start
        start = time.monotonic()
        for _ in range(20):
            assert cache.get("h" * 64, "col") is None  # circuit open: no more waits
        rest = time.monotonic() - start
        assert first < 0.3 + 0.4 and rest < 0.1
    finally:
        cache.close()
        hole.close()


def test_connection_pool_serves_16_threads(backend) -> None:
    cache = ResponseCache(backend, owns_backend=False)
    barrier = threading.Barrier(16)
    failures: list = []

    def work(i: int) -> None:
        barrier.wait(10)
        for j in range(10):
            backend._redis.delete(backend._rkey(f"{i}-{j}", "col"))
            cache.put(f"{i}-{j}", {"content": i}, "col")
            backend._redis.delete(backend._rkey(f"{i}-{j}", "col"))  # force the PostgreSQL path
            if cache.get(f"{i}-{j}", "col") != {"content": i}:
                failures.append((i, j))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == [] and cache.stats["errors"] == 0
    assert backend._pool._open <= 8
