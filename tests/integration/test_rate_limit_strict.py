"""Limiters against a server that enforces a sliding window with 429s (2 s windows, real time).

64 threads sharing one RateLimiter, and 4 processes x 16 threads sharing a RedisRateLimiter, must
get 0 429s and >= 95% of the allowed throughput; retries of failed requests are charged too.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from llm_client_sync.providers.openai import OpenAIProvider
from llm_client_sync.ratelimit import RateLimit, RateLimiter
from llm_client_sync.testing import MockOpenAIServer
from llm_client_sync.testing._ratelimit import SlidingWindowLimit
from llm_client_sync.transport import RetryPolicy
from support import require_service

WINDOW = 2.0
REDIS_WINDOW = 2.0
WINDOWS = 3  # N = WINDOWS * L requests need at least (WINDOWS - 1) * WINDOW seconds
L = 40
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def no_nagle():
    from llm_client_sync.testing import _server

    old = _server._RequestHandler.disable_nagle_algorithm
    _server._RequestHandler.disable_nagle_algorithm = True
    yield
    _server._RequestHandler.disable_nagle_algorithm = old


def drive(provider: OpenAIProvider, threads: int, n: int) -> list[BaseException]:
    """``threads`` threads share ``n`` calls of ``provider.complete``."""
    left = [n]
    lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        while True:
            with lock:
                if left[0] <= 0:
                    return
                left[0] -= 1
            try:
                provider.complete("hi", max_completion_tokens=20)
            except BaseException as exc:  # reported by the caller's assert
                errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in pool)
    return errors


def throughput(limit: SlidingWindowLimit, n_windows: int) -> float:
    """Share of the allowed rate L per window: the i-th and (i+L)-th admissions are at least a window
    apart, and exactly one window apart at full throughput; so window / mean gap (1.0 is perfect).
    Unlike first-to-last time, this does not charge the clients for how long the last burst of L
    took to send."""
    times = sorted(limit.admitted_at)
    n = limit.requests
    gaps = [times[i + n] - times[i] for i in range(len(times) - n)]
    assert len(gaps) >= (n_windows - 1) * n - 1
    return limit.window / (sum(gaps) / len(gaps))


def tokens_per_call(server: MockOpenAIServer) -> int:
    with OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url) as p:
        return p.complete("hi", max_completion_tokens=20).usage.total_tokens


def test_64_threads_sharing_one_limiter_get_no_429_and_95_percent_throughput():
    with MockOpenAIServer() as server:
        server.record_requests = False
        tpm = 2 * L * tokens_per_call(server)  # requests bind; tokens are counted too
        limit = SlidingWindowLimit(server, requests=L, tokens=tpm, window=WINDOW)
        limiter = RateLimiter(RateLimit(rpm=L, tpm=tpm, window=WINDOW))
        with OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url, rate_limit=limiter,
                            pool_maxsize=64) as provider:
            errors = drive(provider, 64, WINDOWS * L)
    assert not errors, errors[:3]
    share = throughput(limit, WINDOWS)
    print(f"\nin-process: 429s={limit.rejected} admitted={limit.admitted} throughput={share:.1%}")
    assert limit.rejected == 0 and limit.max_in_window() <= L
    assert limit.admitted == WINDOWS * L
    assert share >= 0.95


def test_token_limit_binding_gets_no_429():
    with MockOpenAIServer() as server:
        server.record_requests = False
        tpm = int(L * tokens_per_call(server) * 0.6)  # tokens bind before requests do
        limit = SlidingWindowLimit(server, requests=L, tokens=tpm, window=WINDOW)
        limiter = RateLimiter(RateLimit(rpm=L, tpm=tpm, window=WINDOW))
        with OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url, rate_limit=limiter,
                            pool_maxsize=64) as provider:
            errors = drive(provider, 64, L)
    assert not errors, errors[:3]
    assert limit.rejected == 0 and limit.admitted == L


def test_transport_retries_are_charged_to_the_limiter():
    """Every 5th admitted request fails with a 500 and is re-sent: the re-sends count at the server."""
    with MockOpenAIServer() as server:
        server.record_requests = False
        tpm = 4 * L * tokens_per_call(server)
        limit = SlidingWindowLimit(server, requests=L, tokens=tpm, window=WINDOW, fail_every=5)
        limiter = RateLimiter(RateLimit(rpm=L, tpm=tpm, window=WINDOW))
        with OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url, rate_limit=limiter,
                            pool_maxsize=64, retry=RetryPolicy(max_retries=3, base=0.001, cap=0.002)) as provider:
            errors = drive(provider, 64, int(1.5 * L))
    assert not errors, errors[:3]
    assert limit.failed >= 10
    assert limit.rejected == 0 and limit.max_in_window() <= L


# -- Redis: 4 processes x 16 threads -----------------------------------------------------------------
def _redis_worker(urls: object, name: str, n: int, tpm: int, start: object, out: object) -> None:
    from llm_client_sync.ratelimit import RedisRateLimiter

    base_url = urls.get(timeout=60)  # type: ignore[attr-defined]
    limiter = RedisRateLimiter(RateLimit(rpm=L, tpm=tpm, window=REDIS_WINDOW), url=REDIS_URL, name=name, poll=0.02)
    with OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=base_url, rate_limit=limiter,
                        pool_maxsize=16) as provider:
        out.put("ready")  # type: ignore[attr-defined]
        start.wait(30)  # type: ignore[attr-defined]
        errors = drive(provider, 16, n)
    out.put([f"{type(e).__name__}: {e}" for e in errors])  # type: ignore[attr-defined]


def _redis_or_skip() -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except Exception:
        require_service(f"Redis not reachable at {REDIS_URL}")


def test_4_processes_x_16_threads_sharing_redis_get_no_429_and_95_percent_throughput():
    _redis_or_skip()
    import uuid

    import redis

    name = f"strict-{uuid.uuid4().hex[:8]}"
    # forked before the server's threads exist (fork is fast; the children get the URL by queue)
    ctx = multiprocessing.get_context("fork")
    start, out, urls = ctx.Event(), ctx.Queue(), ctx.Queue()
    tpm = 2 * L * 20
    procs = [ctx.Process(target=_redis_worker, args=(urls, name, WINDOWS * L // 4, tpm, start, out))
             for _ in range(4)]
    for p in procs:
        p.start()
    with MockOpenAIServer() as server:
        server.record_requests = False
        assert tokens_per_call(server) <= 20  # so tokens never bind before requests do
        limit = SlidingWindowLimit(server, requests=L, tokens=tpm, window=REDIS_WINDOW)
        for _ in procs:
            urls.put(server.base_url)
        try:
            assert [out.get(timeout=60) for _ in procs] == ["ready"] * 4
            start.set()  # all processes start together: the first window is not left to one of them
            errors = [out.get(timeout=60) for _ in procs]
        finally:
            for p in procs:
                p.join(10)
                if p.is_alive():
                    p.kill()
            redis.Redis.from_url(REDIS_URL).delete(*(f"llm_client_sync:rl:{name}:{k}"
                                                     for k in ("state", "requests", "tokens")))
    assert errors == [[]] * 4, errors
    share = throughput(limit, WINDOWS)
    print(f"\nredis 4x16: 429s={limit.rejected} admitted={limit.admitted} throughput={share:.1%}")
    assert limit.rejected == 0 and limit.max_in_window() <= L
    assert share >= 0.95


@pytest.mark.parametrize("call", ["complete", "stream", "embed"])
def test_each_resent_request_takes_a_request_slot(call):
    with MockOpenAIServer() as server:
        limiter = RateLimiter(RateLimit(rpm=100, tpm=100_000, window=WINDOW))
        with OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url, rate_limit=limiter,
                            retry=RetryPolicy(max_retries=3, base=0.001, cap=0.002)) as provider:
            server.add_error(500).add_error(503)  # the next two requests fail (embeddings read the script too)
            if call == "complete":
                provider.complete("hi", max_completion_tokens=20)
            elif call == "stream":
                with provider.stream("hi", max_completion_tokens=20) as s:
                    list(s)
            else:
                provider.embed("hi")
        snap = limiter.snapshot()
    assert snap["requests"]["window_spent"] == 3  # the first attempt and two re-sends

