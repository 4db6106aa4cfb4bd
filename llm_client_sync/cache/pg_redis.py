"""PgRedisCache: PostgreSQL (JSONB) as the durable store, Redis as the hot layer with a TTL.

psycopg 3 and redis-py are imported when this backend is built, never at ``import llm_client_sync``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from typing import Any, Callable

from ..errors import CacheError, ConfigurationError
from ._base import CacheBackend, redact

__all__ = ["PgRedisCache"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class _PgPool:
    """A few autocommit psycopg connections shared by threads (one per call at a time)."""

    def __init__(self, connect: Callable[[], Any], size: int) -> None:
        self._connect = connect
        self._size = size
        self._idle: list[Any] = []
        self._open = 0
        self._cond = threading.Condition()
        self._closed = False

    def acquire(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._closed or (not self._idle and self._open >= self._size):
                remaining = deadline - time.monotonic()
                if self._closed:
                    raise ConnectionError("the PostgreSQL cache connection pool is closed")
                if remaining <= 0:
                    raise TimeoutError("no PostgreSQL connection free within cache_timeout")
                self._cond.wait(remaining)
            if self._idle:
                return self._idle.pop()
            self._open += 1
        try:
            return self._connect()
        except BaseException:
            with self._cond:
                self._open -= 1
                self._cond.notify()
            raise

    def release(self, conn: Any, broken: bool) -> None:
        with self._cond:
            if broken or conn.closed or self._closed:
                self._open -= 1
                self._cond.notify()
                conn.close()
                return
            self._idle.append(conn)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()


class PgRedisCache(CacheBackend):
    """Durable entries in one PostgreSQL table (created on first use), hot copies in Redis.

    A Redis miss reads PostgreSQL and refills Redis for ``hot_ttl`` seconds (or the entry's
    remaining TTL if shorter). Either layer may be left out. Thread-safe: redis-py's pool, and a
    small pool of psycopg connections. Connect and statement timeouts follow ``timeout``.
    """

    def __init__(
        self,
        pg_dsn: str | None = None,
        redis_url: str | None = None,
        *,
        table: str = "llm_cache",
        redis_prefix: str = "llm_cache",
        hot_ttl: float | None = 3600.0,
        timeout: float = 1.0,
        pool_size: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not pg_dsn and not redis_url:
            raise ConfigurationError("pg_redis cache needs pg_dsn (or PG_DSN) and/or redis_url (or REDIS_URL)")
        if not _IDENT.fullmatch(table):
            raise ConfigurationError(f"pg_table must be a plain SQL identifier (letters, digits, _), got {table!r}")
        if hot_ttl is not None and hot_ttl <= 0:
            raise ConfigurationError("redis_ttl must be a positive number of seconds or None")
        self.table = table
        self.redis_prefix = redis_prefix
        self.hot_ttl = hot_ttl
        self.timeout = timeout
        self._clock = clock
        self._redis = self._make_redis(redis_url, timeout) if redis_url else None
        self._pool = _PgPool(lambda: self._pg_connect(pg_dsn, timeout), pool_size) if pg_dsn else None
        self._table_ready = False
        self._table_lock = threading.Lock()

    def __repr__(self) -> str:  # no DSN or URL: they may carry passwords
        return f"PgRedisCache(table={self.table!r}, postgres={self._pool is not None}, redis={self._redis is not None})"

    # -- CacheBackend -------------------------------------------------------------------------

    def get(self, key: str, collection: str) -> dict | None:
        rkey = self._rkey(key, collection)
        if self._redis is not None:
            raw = self._redis.get(rkey)
            if raw is not None:
                return _loads(raw)
        if self._pool is None:
            return None
        row = self._pg(
            "SELECT value, extract(epoch FROM expires_at) FROM {t} WHERE collection = %s AND key = %s"
            " AND (expires_at IS NULL OR expires_at > to_timestamp(%s))",
            (collection, key, self._clock()), fetch=True)
        if row is None:
            return None
        value, expires_at = row
        if self._redis is not None:
            ttl = self._hot_ttl(None if expires_at is None else float(expires_at) - self._clock())
            if ttl is None or ttl > 0:
                self._redis.set(rkey, _dumps(value), px=None if ttl is None else max(1, int(ttl * 1000)))
        return value

    def set(self, key: str, value: dict, collection: str, ttl: float | None = None) -> None:
        text = _dumps(value)
        if self._redis is not None:
            hot = self._hot_ttl(ttl)
            self._redis.set(self._rkey(key, collection), text, px=None if hot is None else max(1, int(hot * 1000)))
        if self._pool is None:
            return
        if "\\u0000" in text:
            raise CacheError("PostgreSQL JSONB cannot hold NUL characters; entry kept in Redis only")
        expires = None if ttl is None else self._clock() + ttl
        self._pg(
            "INSERT INTO {t} (collection, key, value, expires_at) VALUES (%s, %s, %s::jsonb, to_timestamp(%s))"
            " ON CONFLICT (collection, key) DO UPDATE SET value = EXCLUDED.value,"
            " expires_at = EXCLUDED.expires_at, created_at = now()",
            (collection, key, text, expires))

    def delete(self, key: str, collection: str) -> None:
        if self._redis is not None:
            self._redis.delete(self._rkey(key, collection))
        if self._pool is not None:
            self._pg("DELETE FROM {t} WHERE collection = %s AND key = %s", (collection, key))

    def purge_expired(self) -> int:
        """Delete expired rows from PostgreSQL (Redis expires its own); returns how many."""
        if self._pool is None:
            return 0
        row = self._pg("WITH d AS (DELETE FROM {t} WHERE expires_at <= to_timestamp(%s) RETURNING 1)"
                       " SELECT count(*) FROM d", (self._clock(),), fetch=True)
        return int(row[0]) if row else 0

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        if self._pool is not None:
            self._pool.close()

    # -- internals ----------------------------------------------------------------------------

    def _rkey(self, key: str, collection: str) -> str:
        # the length prefix keeps ("a:b", "c") and ("a", "b:c") apart
        return f"{self.redis_prefix}:{len(collection)}:{collection}:{key}"

    def _hot_ttl(self, ttl: float | None) -> float | None:
        if ttl is None:
            return self.hot_ttl
        return ttl if self.hot_ttl is None else min(ttl, self.hot_ttl)

    @staticmethod
    def _make_redis(url: str, timeout: float) -> Any:
        from .._extras import import_extra

        redis = import_extra("redis", "redis", "cache_backend='pg_redis'")
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        try:
            # no retries: a dead Redis must cost one bounded attempt, not several
            return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                                        retry=Retry(NoBackoff(), 0))
        except ValueError as exc:
            raise ConfigurationError(f"redis_url is not a Redis URL: {redact(str(exc))}") from exc

    @staticmethod
    def _pg_connect(dsn: str, timeout: float) -> Any:
        from .._extras import import_extra

        psycopg = import_extra("psycopg", "postgres", "cache_backend='pg_redis'")
        # libpq rounds connect_timeout up to 2 s; ResponseCache's deadline bounds the rest
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=max(2, math.ceil(timeout)))
        conn.execute(f"SET statement_timeout = {max(1, int(timeout * 1000))}")
        return conn

    def _pg(self, query: str, params: tuple, *, fetch: bool = False) -> Any:
        if self._pool is None:
            raise CacheError("no PostgreSQL configured")
        conn = self._pool.acquire(self.timeout)
        ok = False
        try:
            if not self._table_ready:
                self._create_table(conn)
            cur = conn.execute(query.replace("{t}", self.table), params)
            row = cur.fetchone() if fetch else None
            ok = True
            return row
        finally:
            # after any error the session state is unknown (timeout, dropped socket): reconnect
            self._pool.release(conn, broken=not ok)

    def _create_table(self, conn: Any) -> None:
        with self._table_lock:
            if self._table_ready:
                return
            with conn.transaction():
                # the advisory lock serialises CREATE across processes (IF NOT EXISTS alone races)
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.table,))
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table} (collection text NOT NULL, key text NOT NULL,"
                    " value jsonb NOT NULL, expires_at timestamptz, created_at timestamptz NOT NULL DEFAULT now(),"
                    " PRIMARY KEY (collection, key))")
                conn.execute(f"CREATE INDEX IF NOT EXISTS {self.table}_expires ON {self.table} (expires_at)"
                             " WHERE expires_at IS NOT NULL")
            self._table_ready = True


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return {"corrupt": "not JSON"}  # rejected (and warned about) by ResponseCache
