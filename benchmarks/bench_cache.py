"""Cache hit latency per backend, and a cached call against a 50 ms API call.

    python benchmarks/bench_cache.py [--n 2000]

PostgreSQL/Redis rows need TEST_PG_DSN / TEST_REDIS_URL (source ../shared/services/pg_redis.sh);
they are skipped, with the reason printed, when the services are not reachable. The API part runs
OpenAIProvider against the local server (MockOpenAIServer(latency=0.05)); no API key needed.
Targets: fs and Redis p50 under 1 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from typing import Any, Callable

from llm_client_sync.cache import FileCache, PgRedisCache, QdrantCache, ResponseCache
from llm_client_sync.types import CompletionResult, ToolCall, Usage

PG_DSN = os.environ.get("TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5433/llm_test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BODY = {"model": "gpt-5-nano", "messages": [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "What's the weather in Tokyo? " * 20}],
        "temperature": 1, "max_completion_tokens": 500}


def _value() -> dict:
    result = CompletionResult(content="It is sunny in Tokyo, 22 °C, light wind from the east. " * 10,
                              tool_calls=(ToolCall.from_raw("call_1", "get_weather", '{"city": "Tokyo"}'),),
                              usage=Usage(120, 80, 200, 32, 0), cost=4.1e-05, model="gpt-5-nano",
                              finish_reason="stop", request_id="req_123", raw={"id": "chatcmpl-1"})
    return result.to_dict()


def _percentiles(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return statistics.median(ordered) * 1e3, pick(0.95) * 1e3, pick(0.99) * 1e3


def _time(fn: Callable[[], Any], n: int) -> list[float]:
    for _ in range(min(50, n)):
        fn()  # warm up: connections, table creation, page cache
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def bench_backend(name: str, make: Callable[[], Any], n: int) -> None:
    try:
        backend = make()
    except Exception as exc:
        print(f"{name:<26} skipped: {type(exc).__name__}: {exc}")
        return
    cache = ResponseCache(backend)
    try:
        collection = f"bench{uuid.uuid4().hex[:8]}"
        key = cache.key("/v1/chat/completions", BODY)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a failing backend must not produce numbers
            cache.put(key, _value(), collection)
            if cache.get(key, collection) is None:
                raise RuntimeError("no hit after put")
            hits = _time(lambda: cache.get(key, collection), n)
            misses = _time(lambda: cache.get("0" * 64, collection), n)
            writes = _time(lambda: cache.put(key, _value(), collection), max(50, n // 4))
    except Exception as exc:
        print(f"{name:<26} skipped: {type(exc).__name__}: {exc}")
        return
    finally:
        cache.close()
    p50, p95, p99 = _percentiles(hits)
    print(f"{name:<26} hit p50 {p50:7.3f} ms  p95 {p95:7.3f}  p99 {p99:7.3f}   "
          f"miss p50 {_percentiles(misses)[0]:7.3f}   write p50 {_percentiles(writes)[0]:7.3f}")


def _services_up() -> str | None:
    try:
        import psycopg
        import redis

        psycopg.connect(PG_DSN, connect_timeout=2).close()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"



def bench_api(n: int) -> None:
    try:
        from llm_client_sync.providers.openai import OpenAIProvider
        from llm_client_sync.testing import MockOpenAIServer
    except ImportError as exc:
        print(f"hit vs API call            skipped: {exc}")
        return
    with tempfile.TemporaryDirectory() as tmp, MockOpenAIServer(latency=0.05) as server:
        plain = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url)
        cached = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url,
                                cache_backend="fs", cache_dir=tmp)
        try:
            prompt = "What's the weather in Tokyo?"
            cached.complete(prompt)  # fills the cache
            api = _time(lambda: plain.complete(prompt), max(20, n // 100))
            before = len(server.requests)
            hit = _time(lambda: cached.complete(prompt), n)
            leaked = len(server.requests) - before
        finally:
            plain.close()
            cached.close()
    api50, hit50 = _percentiles(api)[0], _percentiles(hit)[0]
    print(f"API call (50 ms latency)   p50 {api50:7.3f} ms")
    print(f"same call, fs cache hit    p50 {hit50:7.3f} ms   ({api50 / hit50:,.0f}x faster; "
          f"{leaked} of {n + min(50, n)} cached calls reached the server)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="timed calls per row (default 2000)")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {args.n} timed calls per row, value ~{len(str(_value()))} chars")
    with tempfile.TemporaryDirectory() as tmp:
        bench_backend("fs", lambda: FileCache(os.path.join(tmp, "fs")), args.n)
        down = _services_up()
        if down:
            print(f"{'pg_redis / redis / pg':<26} skipped: services not reachable ({down})")
        else:
            prefix = f"bench_{uuid.uuid4().hex[:8]}"
            bench_backend("redis (hot layer)", lambda: PgRedisCache(None, REDIS_URL, redis_prefix=prefix), args.n)
            bench_backend("pg_redis (Redis hit)", lambda: PgRedisCache(PG_DSN, REDIS_URL, table=prefix,
                                                                       redis_prefix=prefix), args.n)
            bench_backend("postgres only (SELECT)", lambda: PgRedisCache(PG_DSN, None, table=prefix), args.n)
            _drop(prefix)
        bench_backend("qdrant local :memory:", lambda: QdrantCache(), args.n)
        bench_backend("qdrant local path", lambda: QdrantCache(path=os.path.join(tmp, "q")), args.n)
    bench_api(args.n)
    return 0


def _drop(table: str) -> None:
    import psycopg
    import redis

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    client = redis.Redis.from_url(REDIS_URL)
    keys = client.keys(f"{table}:*")
    if keys:
        client.delete(*keys)
    client.close()


if __name__ == "__main__":
    sys.exit(main())
