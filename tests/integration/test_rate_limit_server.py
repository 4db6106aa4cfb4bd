"""RateLimiter with 64 threads against the local server: fake-clock windows, real-time pacing, 429s."""

from __future__ import annotations

import threading
import time
from collections import deque

import pytest

from llm_client_sync.errors import RateLimitError
from llm_client_sync.ratelimit import RateLimit, RateLimiter
from llm_client_sync.testing import MockOpenAIServer
from llm_client_sync.transport import RetryPolicy, Transport

BODY = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 20}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def max_window(times: list[float], amounts: list[int] | None = None, window: float = 60.0) -> int:
    pairs = sorted(zip(times, amounts or [1] * len(times)))
    q: deque = deque()
    total = best = 0
    for t, a in pairs:
        q.append((t, a))
        total += a
        while q[0][0] <= t - window:
            total -= q.popleft()[1]
        best = max(best, total)
    return best


@pytest.fixture(scope="module")
def server():
    with MockOpenAIServer() as s:
        s.record_requests = False
        yield s


def hammer(limiter: RateLimiter, transport: Transport, threads: int, per_thread: int, cost: int):
    grants: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def worker() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                res = limiter.acquire(cost)
                with lock:
                    grants.append(res.granted_at)
                try:
                    body = transport.request("POST", "/chat/completions", json=BODY).json()
                    limiter.settle(res, body["usage"]["total_tokens"])
                except BaseException:
                    limiter.settle(res, 0)
                    raise
        except BaseException as exc:  # pragma: no cover - reported by the assert below
            errors.append(exc)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert not errors, errors[:3]
    assert all(not t.is_alive() for t in pool)
    return sorted(grants)


def test_64_threads_fake_clock_no_window_above_limit_and_95_percent_throughput(server):
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(rpm=120, tpm=12_000), clock=clock, sleep=clock.sleep)
    transport = Transport(server.base_url, "test", pool_maxsize=64)
    transport.observers.append(limiter.observe)
    grants = hammer(limiter, transport, threads=64, per_thread=10, cost=60)
    transport.close()
    assert len(grants) == 640
    assert max_window(grants) <= 120
    minutes = int((grants[-1] - grants[0]) // 60)
    assert minutes >= 4
    done = sum(1 for t in grants if t < grants[0] + 60 * minutes)
    assert done / (120 * minutes) >= 0.95


def test_64_threads_real_time_pacing_follows_the_bucket(server):
    rpm, burst = 6_000, 20  # 100 requests per second after a burst of 20
    limiter = RateLimiter(RateLimit(rpm=rpm, burst_requests=burst))
    transport = Transport(server.base_url, "test", pool_maxsize=64)
    transport.observers.append(limiter.observe)
    grants = hammer(limiter, transport, threads=64, per_thread=4, cost=0)
    transport.close()
    start = grants[0]
    rate = rpm / 60.0
    # never ahead of the bucket: the k-th grant needs (k + 1 - burst) refills
    for k, t in enumerate(grants):
        assert t - start >= (k + 1 - burst) / rate - 0.005
    ideal = (len(grants) - burst) / rate
    assert ideal / (grants[-1] - start) >= 0.95


def test_a_429_pauses_every_thread_for_its_retry_after(server):
    limiter = RateLimiter(RateLimit(rpm=100_000))
    transport = Transport(server.base_url, "test", retry=RetryPolicy(max_retries=0))
    transport.observers.append(limiter.observe)
    server.add_error(429, headers={"retry-after-ms": "300"}, code="rate_limit_exceeded")
    limiter.acquire()
    with pytest.raises(RateLimitError):
        transport.request("POST", "/chat/completions", json=BODY)
    seen = time.monotonic()
    waited: list[float] = []

    def other() -> None:
        limiter.acquire()
        waited.append(time.monotonic() - seen)

    threads = [threading.Thread(target=other) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(waited) == 8 and min(waited) >= 0.29
    transport.close()


def test_server_headers_keep_the_bucket_in_step():
    headers = {"x-ratelimit-limit-requests": "50", "x-ratelimit-remaining-requests": "0",
               "x-ratelimit-reset-requests": "1.2s"}
    with MockOpenAIServer(rate_limit_headers=headers) as srv:
        limiter = RateLimiter(RateLimit(rpm=5_000))
        transport = Transport(srv.base_url, "test")
        transport.observers.append(limiter.observe)
        transport.request("POST", "/chat/completions", json=BODY)
        snap = limiter.snapshot()
        transport.close()
    assert snap["requests"]["limit"] == 50  # learned from the API
    assert snap["requests"]["level"] < 1
