"""RedisRateLimiter against a real Redis: one budget across limiters and processes, fallback."""

from __future__ import annotations

import multiprocessing
import os
import socket
import uuid

import pytest

from llm_client_sync.errors import RateLimitTimeoutError
from llm_client_sync.rate_limit import RateLimit

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

from llm_client_sync.rate_limit_redis import RedisRateLimiter  # noqa: E402

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


def test_redis_down_with_fallback_raise_or_open():
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    with pytest.raises(RateLimitTimeoutError, match="Redis unavailable"):
        RedisRateLimiter(RateLimit(rpm=4), url=url, name="down", fallback="raise").acquire()
    open_ = RedisRateLimiter(RateLimit(rpm=1), url=url, name="down", fallback="open")
    for _ in range(5):
        open_.settle(open_.acquire(10), 10)
