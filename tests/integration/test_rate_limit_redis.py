"""RedisRateLimiter against a real Redis: one budget across limiters and processes, fallback."""

from __future__ import annotations

import multiprocessing
import os
import socket
import uuid

import pytest

from llm_client_sync.errors import RateLimiterUnavailableError, RateLimitTimeoutError
from llm_client_sync.ratelimit import RateLimit

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


if not _redis_up():
    if os.environ.get("LLM_CLIENT_SYNC_REQUIRE_SERVICES") == "1":
        raise RuntimeError(f"Redis is required (LLM_CLIENT_SYNC_REQUIRE_SERVICES=1) but {REDIS_URL} is not reachable")
    pytest.skip(f"Redis not reachable at {REDIS_URL} (source ../shared/services/pg_redis.sh)", allow_module_level=True)

from llm_client_sync.ratelimit import RedisRateLimiter  # noqa: E402

pytestmark = pytest.mark.services


@pytest.fixture
def name():
    n = f"test-{uuid.uuid4().hex[:10]}"
    yield n
    import redis

    r = redis.Redis.from_url(REDIS_URL)
    r.delete(*(f"llm_client_sync:rl:{n}:{k}" for k in ("state", "requests", "tokens")))


def make(name, **kw):
    limits = kw.pop("limits", RateLimit(rpm=5, tpm=1000))
    return RedisRateLimiter(limits, url=REDIS_URL, name=name, **kw)


def test_two_limiters_with_the_same_name_share_one_budget(name):
    a, b = make(name), make(name)
    for _ in range(3):
        a.acquire(10)
    b.acquire(10)
    b.acquire(10)
    with pytest.raises(RateLimitTimeoutError):
        a.acquire(10, timeout=0.5)  # the sixth request must wait ~60 s for the window
    other = make(name + "-other")
    other.acquire(10)


def test_tokens_settle_refunds_are_shared(name):
    a, b = make(name, limits=RateLimit(tpm=100)), make(name, limits=RateLimit(tpm=100))
    res = a.acquire(100)
    with pytest.raises(RateLimitTimeoutError):
        b.acquire(50, timeout=0.2)
    a.settle(res, 0)
    b.acquire(100)


def test_request_larger_than_the_shared_bucket_fails_at_once(name):
    with pytest.raises(RateLimitTimeoutError, match="at most 1000"):
        make(name).acquire(5000)


def test_429_pause_reaches_other_limiters(name):
    slept = []
    a = make(name)
    b = make(name, sleep=slept.append, poll=0.05)
    a.observe(429, {"retry-after-ms": "300"})
    b.acquire(1, timeout=5)
    assert slept and 0 < slept[0] <= 0.3


def test_remaining_header_lowers_the_shared_level(name):
    a, b = make(name), make(name)
    a.observe(200, {"x-ratelimit-remaining-requests": "0", "x-ratelimit-limit-requests": "5"})
    with pytest.raises(RateLimitTimeoutError):
        b.acquire(1, timeout=0.2)  # one request refills in 60/5 = 12 s


def _grab(args):
    url, name, n = args
    lim = RedisRateLimiter(RateLimit(rpm=20), url=url, name=name)
    got = 0
    for _ in range(n):
        try:
            lim.acquire(0, timeout=0)
            got += 1
        except RateLimitTimeoutError:
            pass
    return got


def test_processes_share_one_budget(name):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        grants = pool.map(_grab, [(REDIS_URL, name, 10)] * 4)
    assert sum(grants) == 20


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_redis_down_falls_back_to_a_local_limiter():
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    lim = RedisRateLimiter(RateLimit(rpm=4), url=url, name="down", fallback_share=0.5)
    lim.acquire()
    assert lim.degraded
    lim.acquire()
    with pytest.raises(RateLimitTimeoutError):
        lim.acquire(timeout=0.1)  # half of the budget for this process alone
    lim.observe(200, {"x-ratelimit-remaining-requests": "3"})


def test_redis_down_with_fallback_raise_fails_closed_for_as_long_as_it_is_down():
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    now = [0.0]
    lim = RedisRateLimiter(RateLimit(rpm=4), url=url, name="down", fallback="raise", retry_interval=5.0,
                           clock=lambda: now[0])
    for step in range(12):  # before, within and after several retry intervals
        now[0] = step * 1.5
        with pytest.raises(RateLimiterUnavailableError, match="fallback='raise'"):
            lim.acquire()
    assert not issubclass(RateLimiterUnavailableError, RateLimitTimeoutError)
    open_ = RedisRateLimiter(RateLimit(rpm=1), url=url, name="down", fallback="open")
    for _ in range(5):
        open_.settle(open_.acquire(10), 10)


class FrozenRedis:
    """A socket server that accepts connections and never answers (like a paused or hung Redis)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize("fallback", ["raise", "local"])
def test_a_frozen_redis_costs_queued_callers_one_bounded_wait_in_total(fallback):
    import threading
    import time

    frozen = FrozenRedis()
    try:
        lim = RedisRateLimiter(RateLimit(rpm=1000), url=f"redis://127.0.0.1:{frozen.port}/0", name="frozen",
                               fallback=fallback, socket_timeout=0.3, retry_interval=30.0)
        outcomes: list[str] = []
        barrier = threading.Barrier(16)

        def call() -> None:
            barrier.wait()
            try:
                lim.acquire(1)
                outcomes.append("granted")
            except RateLimiterUnavailableError:
                outcomes.append("refused")

        threads = [threading.Thread(target=call) for _ in range(16)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        elapsed = time.monotonic() - start
    finally:
        frozen.close()
    assert len(outcomes) == 16
    assert set(outcomes) == {"refused" if fallback == "raise" else "granted"}
    # one socket timeout (0.3 s) in total, not 16 (4.8 s) one after another
    assert elapsed < 1.5, elapsed


def test_a_lost_settle_is_logged_at_warning(name, caplog):
    import redis as redis_mod

    lim = make(name, limits=RateLimit(tpm=1000))
    res = lim.acquire(100)

    def down(*a, **kw):
        raise redis_mod.exceptions.ConnectionError("gone")

    lim._settle_lua = down
    with caplog.at_level("WARNING", logger="llm_client_sync.rate_limit"):
        lim.settle(res, 10)
    assert any(r.levelname == "WARNING" and "settle" in r.getMessage() for r in caplog.records)


def test_concurrent_settles_adjust_the_shared_ledger_once(name):
    """Two threads settling one reservation at once: the shared ledger is adjusted once (twice before)."""
    import threading

    from llm_client_sync.ratelimit import Reservation

    class RacySettled(Reservation):
        def __init__(self, res: Reservation, barrier: threading.Barrier) -> None:
            self._value, self._barrier = False, barrier
            super().__init__(res.tokens, res.granted_at, res._entry, res._requests_entry)

        @property
        def settled(self) -> bool:  # type: ignore[override]
            if not self._value:
                try:
                    self._barrier.wait(0.5)  # both threads read False unless settle serialises them
                except threading.BrokenBarrierError:
                    pass
            return self._value

        @settled.setter
        def settled(self, value: bool) -> None:
            self._value = value

    lim = make(name, limits=RateLimit(tpm=1000))
    res = RacySettled(lim.acquire(100), threading.Barrier(2))
    calls = []
    real = lim._settle_lua
    lim._settle_lua = lambda *a, **kw: (calls.append(1), real(*a, **kw))[1]
    threads = [threading.Thread(target=lim.settle, args=(res, 400)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1
    lim.acquire(600, timeout=0.5)  # 400 used: 600 left, not 300
