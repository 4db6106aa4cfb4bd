"""RedisRateLimiter against a real Redis, pinned with a fake clock (these tests kill mutants that
survived test_rate_limit_redis.py: defaults, keys, errors, the wait loop, settle/charge_retry,
observe, and the fallbacks while Redis is down).

Redis keeps its own clock (``TIME``), so tests never wait for a window to pass: a wait is seen
either as a timeout error (``timeout=0`` or a short fake deadline) or as the first sleep asked of
the fake ``sleep`` (which then stops the caller)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import uuid

import pytest

from llm_client_sync.errors import (ConfigurationError, MissingDependencyError, RateLimiterUnavailableError,
                                    RateLimitTimeoutError)
from llm_client_sync.ratelimit import RateLimit
from support import require_service

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

try:
    import redis

    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
except Exception:
    require_service(f"Redis not reachable at {REDIS_URL}", module=True)

from llm_client_sync.ratelimit import RedisRateLimiter  # noqa: E402

pytestmark = pytest.mark.services

PREFIX = "llm_client_sync:rl"


class Stop(Exception):
    """Raised by ``Clock.sleep`` when asked to stop the caller at its first sleep."""


class Clock:
    """A fake monotonic clock; ``sleep`` records and advances it (or stops the caller)."""

    def __init__(self, stop: bool = False) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.stop = stop

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.stop:
            raise Stop(seconds)
        self.now += seconds


class DownRedis:
    """A client whose every command fails as if the server were unreachable."""

    def __init__(self) -> None:
        self.calls = 0

    def register_script(self, script: str):
        def run(*args, **kwargs):
            self.calls += 1
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

        return run


@pytest.fixture
def r():
    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


@pytest.fixture
def name(r):
    n = f"mut-{uuid.uuid4().hex[:10]}"
    yield n
    for prefix in (PREFIX, "mut-prefix"):
        r.delete(*(f"{prefix}:{n}:{k}" for k in ("state", "requests", "tokens")))


def make(name: str, clock: Clock | None = None, **kw) -> RedisRateLimiter:
    limits = kw.pop("limits", RateLimit(rpm=5, tpm=1000))
    clock = clock or Clock(stop=True)
    kw.setdefault("url", None if "client" in kw else REDIS_URL)
    return RedisRateLimiter(limits, name=name, clock=clock, sleep=clock.sleep, **kw)


def down(clock: Clock, limits: RateLimit, **kw) -> RedisRateLimiter:
    return RedisRateLimiter(limits, client=DownRedis(), name="down", clock=clock, sleep=clock.sleep,
                            retry_interval=kw.pop("retry_interval", 1000.0), **kw)


def ledger(r, name: str, dim: str) -> dict[str, float]:
    return dict(r.zrange(f"{PREFIX}:{name}:{dim}", 0, -1, withscores=True))


# ---- construction --------------------------------------------------------------------------------

def test_defaults_connect_to_local_redis_with_half_second_timeouts(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    lim = RedisRateLimiter(RateLimit(rpm=5))
    kw = lim._redis.connection_pool.connection_kwargs
    assert (kw["host"], kw["port"], kw["db"]) == ("127.0.0.1", 6379, 0)
    assert kw["socket_timeout"] == 0.5 and kw["socket_connect_timeout"] == 0.5
    assert repr(lim) == "RedisRateLimiter(default, rpm=5, tpm=None)"
    assert (lim.name, lim.fallback, lim.retry_interval, lim.poll) == ("default", "local", 5.0, 1.0)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/4")
    kw = RedisRateLimiter(RateLimit(rpm=5))._redis.connection_pool.connection_kwargs
    assert (kw["port"], kw["db"]) == (6390, 4)
    kw = RedisRateLimiter(RateLimit(rpm=5), url="redis://127.0.0.1:6391/5")._redis.connection_pool.connection_kwargs
    assert (kw["port"], kw["db"]) == (6391, 5)  # an explicit url wins over REDIS_URL


def test_a_given_client_is_used_as_is(r, name):
    lim = RedisRateLimiter(RateLimit(rpm=5), client=r, name=name)
    lim.acquire(timeout=0)
    assert len(ledger(r, name, "requests")) == 1


@pytest.mark.parametrize("kw, message", [
    ({"limits": {"rpm": 5}}, "limits must be a RateLimit, got dict"),
    ({"url": 5}, "url must be a non-empty str or None, got int 5"),
    ({"fallback": "closed"}, "fallback must be 'local', 'open' or 'raise'"),
    ({"fallback_share": 0}, "fallback_share must be in (0, 1]"),
    ({"fallback_share": 1.5}, "fallback_share must be in (0, 1]"),
])
def test_bad_arguments_are_configuration_errors_naming_them(kw, message):
    limits = kw.pop("limits", RateLimit(rpm=5))
    with pytest.raises(ConfigurationError) as info:
        RedisRateLimiter(limits, **{"url": REDIS_URL, **kw})
    assert str(info.value) == message


@pytest.mark.parametrize("share", [1, 1.0, 0.5, 0.01])
def test_a_fallback_share_in_the_half_open_interval_is_accepted(share):
    assert down(Clock(), RateLimit(rpm=5), fallback_share=share).fallback == "local"


def test_without_redis_installed_the_error_names_the_feature_and_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(MissingDependencyError) as info:
        RedisRateLimiter(RateLimit(rpm=5), url=REDIS_URL)
    assert str(info.value) == "RedisRateLimiter needs the 'redis' package: pip install 'llm-client-sync[redis]'"


def test_the_budget_lives_under_prefix_and_name_with_one_ledger_entry_per_grant(r, name):
    a, b = make(name), make(name)
    ra, rb = a.acquire(10, timeout=0), b.acquire(20, timeout=0)
    assert ra.tokens == 10 and rb.tokens == 20
    assert r.exists(f"{PREFIX}:{name}:state", f"{PREFIX}:{name}:requests", f"{PREFIX}:{name}:tokens") == 3
    tokens = ledger(r, name, "tokens")
    requests = ledger(r, name, "requests")
    assert sorted(m.split("|")[1] for m in tokens) == ["10", "20"]
    assert sorted(m.split("|")[1] for m in requests) == ["1", "1"]
    ids = {m.split("|")[0] for m in tokens}
    assert len(ids) == 2 and ids == {m.split("|")[0] for m in requests}  # two limiters never share an id
    assert sorted(tokens.values()) == pytest.approx(sorted([ra.granted_at, rb.granted_at]), abs=1e-3)
    custom = make(name, prefix="mut-prefix")
    custom.acquire(5, timeout=0)
    assert r.exists(f"mut-prefix:{name}:state", f"mut-prefix:{name}:requests", f"mut-prefix:{name}:tokens") == 3


# ---- acquire -------------------------------------------------------------------------------------

@pytest.mark.parametrize("tokens", [True, -1, 1.5, "5"])
def test_tokens_must_be_a_non_negative_int(name, tokens):
    with pytest.raises(ConfigurationError) as info:
        make(name).acquire(tokens)
    assert str(info.value) == f"tokens must be a non-negative int, got {tokens!r}"


def test_a_limiter_with_only_a_token_limit_does_not_limit_requests(name):
    lim = make(name, limits=RateLimit(tpm=1000))
    for _ in range(20):
        lim.acquire(10, timeout=0)


def test_a_limiter_with_only_a_request_limit_does_not_limit_tokens(name):
    lim = make(name, limits=RateLimit(rpm=3))
    for _ in range(3):
        lim.acquire(100_000, timeout=0)
    with pytest.raises(RateLimitTimeoutError):
        lim.acquire(0, timeout=0)


def test_a_request_larger_than_the_burst_fails_at_once_naming_the_limit(name):
    clock = Clock(stop=True)
    lim = make(name, clock, limits=RateLimit(tpm=1000, burst_tokens=100))
    lim.acquire(100, timeout=0)
    with pytest.raises(RateLimitTimeoutError) as info:
        lim.acquire(150)
    assert str(info.value) == f"request needs 150 tokens but the shared limit {name} allows at most 100 at once"
    assert clock.slept == []


def test_a_wait_past_the_deadline_fails_at_once_saying_when_capacity_frees(name):
    clock = Clock(stop=True)
    lim = make(name, clock)
    lim.observe(429, {"retry-after": "30"})
    with pytest.raises(RateLimitTimeoutError) as info:
        lim.acquire(1, timeout=2)
    assert str(info.value).startswith("no shared rate-limit capacity within 2s (capacity in ")
    wait = float(str(info.value).rsplit("in ", 1)[1].rstrip("s)"))
    assert 29.0 < wait <= 30.0
    limited = make(name, clock, limits=RateLimit(rpm=5, timeout=2))  # the RateLimit's own timeout
    with pytest.raises(RateLimitTimeoutError, match=r"^no shared rate-limit capacity within 2s \(capacity in "):
        limited.acquire(1)
    patient = make(name, clock, limits=RateLimit(rpm=5, timeout=100))  # an explicit timeout wins
    with pytest.raises(RateLimitTimeoutError, match=r"^no shared rate-limit capacity within 0.5s \("):
        patient.acquire(1, timeout=0.5)
    assert clock.slept == []


def test_a_wait_within_the_deadline_sleeps_at_most_poll_seconds(name):
    clock = Clock(stop=True)
    lim = make(name, clock)
    lim.observe(429, {"retry-after": "3"})
    with pytest.raises(Stop):
        lim.acquire(1, timeout=10)
    with pytest.raises(Stop):
        make(name, clock, poll=0.25).acquire(1)
    with pytest.raises(Stop):
        make(name, clock, poll=10).acquire(1)
    assert clock.slept[:2] == [1.0, 0.25]
    assert 2.5 < clock.slept[2] <= 3.0


def test_a_wait_ending_exactly_at_the_deadline_is_waited(name):
    clock = Clock()
    lim = make(name, clock, poll=5)
    answers = iter([[0, "2.5"], [1, "1234.5"]])
    lim._acquire_lua = lambda keys, args: next(answers)  # the script's answer: wait 2.5 s, then granted
    res = lim.acquire(7, timeout=2.5)
    assert clock.slept == [2.5]
    assert (res.tokens, res.granted_at) == (7, 1234.5)


def test_callers_in_one_process_are_served_in_order(name):
    """A caller behind one that waits for tokens waits its turn, though its request would fit now."""
    entered, release = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def sleep(seconds: float) -> None:
        entered.set()
        release.wait(5)
        raise Stop(seconds)

    lim = RedisRateLimiter(RateLimit(tpm=1000), url=REDIS_URL, name=name, clock=Clock(), sleep=sleep)
    lim.acquire(1000, timeout=0)

    def first() -> None:
        try:
            lim.acquire(500)
        except BaseException as exc:  # noqa: BLE001 (checked below)
            outcome.append(exc)

    t = threading.Thread(target=first)
    t.start()
    try:
        assert entered.wait(5)
        with pytest.raises(RateLimitTimeoutError) as info:
            lim.acquire(0, timeout=0)  # no tokens: Redis would grant it, but the first caller is ahead
        assert str(info.value) == "no shared rate-limit capacity within 0s"
    finally:
        release.set()
        t.join(5)
    assert [type(e) for e in outcome] == [Stop]
    lim.acquire(0, timeout=0)  # the first caller left the queue


# ---- settle and charge_retry ---------------------------------------------------------------------

def test_settle_charges_the_real_usage_to_the_shared_budget(name):
    a, b = make(name, limits=RateLimit(tpm=1000)), make(name, limits=RateLimit(tpm=1000))
    a.settle(a.acquire(500, timeout=0), 600)
    b.acquire(400, timeout=0)
    with pytest.raises(RateLimitTimeoutError):
        b.acquire(1, timeout=0)


def test_settle_with_zero_refunds_every_reserved_token(name):
    a, b = make(name, limits=RateLimit(tpm=100)), make(name, limits=RateLimit(tpm=100))
    res = a.acquire(100, timeout=0)
    a.settle(res, 0)
    a.settle(res, 100)  # a second settle is a no-op
    b.acquire(100, timeout=0)


def test_charge_retry_stamps_the_previous_attempt_now_and_settle_keeps_the_retries_estimate(r, name):
    lim = make(name, limits=RateLimit(rpm=10, tpm=1000))
    res = lim.acquire(100, timeout=0)
    for dim in ("requests", "tokens"):
        (member, score), = ledger(r, name, dim).items()
        r.zadd(f"{PREFIX}:{name}:{dim}", {member: score - 30})  # as if granted 30 s ago
    lim.charge_retry(res, timeout=0)
    for dim in ("requests", "tokens"):
        scores = sorted(ledger(r, name, dim).values())
        assert len(scores) == 2 and scores[1] - scores[0] < 1  # the first attempt is stamped now too
    lim.charge_retry(res, timeout=0)
    assert len(res.retries) == 2
    lim.settle(res, 50)
    assert sorted(int(m.split("|")[1]) for m in ledger(r, name, "tokens")) == [50, 100, 100]
    lim.acquire(750, timeout=0)  # 1000 - 100 - 100 - 50
    with pytest.raises(RateLimitTimeoutError):
        lim.acquire(1, timeout=0)


def test_a_settle_lost_while_degraded_is_logged(name, caplog):
    lim = make(name, limits=RateLimit(tpm=1000))
    res = lim.acquire(100, timeout=0)
    lim._observe_lua = DownRedis().register_script("")
    lim.observe(200, {"x-ratelimit-remaining-tokens": "10"})  # Redis fails: observe never raises
    assert lim.degraded
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="llm_client_sync.rate_limit"):
        lim.settle(res, 10)
    assert [r.getMessage() for r in caplog.records] == [
        f"settle of {name} lost: Redis unavailable; 100 reserved tokens stay charged for the window"]


# ---- observe -------------------------------------------------------------------------------------

def test_all_four_headers_are_shared(name):
    a, b = make(name), make(name)
    a.observe(200, {"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "1000"})
    with pytest.raises(RateLimitTimeoutError):
        b.acquire(0, timeout=0)


@pytest.mark.parametrize("learn", [True, False])
def test_a_lower_limit_header_is_learned_only_when_asked(name, learn):
    a = make(name, limits=RateLimit(rpm=5, tpm=1000, learn=learn))
    b = make(name)
    a.observe(200, {"x-ratelimit-limit-tokens": "500"})
    if learn:
        with pytest.raises(RateLimitTimeoutError, match=f"^request needs 600 tokens but the shared limit {name} "
                                                        "allows at most 500 at once$"):
            b.acquire(600, timeout=0)
    else:
        b.acquire(600, timeout=0)


# ---- Redis down ----------------------------------------------------------------------------------

def test_redis_down_is_degraded_for_retry_interval_and_logged_once(caplog):
    clock = Clock()
    client = DownRedis()
    lim = RedisRateLimiter(RateLimit(rpm=100), client=client, name="down", clock=clock, sleep=clock.sleep)
    with caplog.at_level(logging.WARNING, logger="llm_client_sync.rate_limit"):
        lim.acquire(timeout=0)
        lim.acquire(timeout=0)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("llm_client_sync.rate_limit", "WARNING",
         "rate limiter down: Redis unavailable (ConnectionError); fallback=local for 5s")]
    clock.now = 4.999
    assert lim.degraded
    lim.acquire(timeout=0)
    assert client.calls == 1  # no caller tries Redis while it is considered down
    clock.now = 5.0
    assert not lim.degraded
    lim.acquire(timeout=0)
    assert client.calls == 2 and lim.degraded


def test_fallback_raise_names_the_cause_then_refuses_until_the_retry(caplog):
    lim = down(Clock(), RateLimit(rpm=5), fallback="raise", retry_interval=5.0)
    tail = ("and fallback='raise'; no request is sent until Redis answers (next try within 5s). Check the "
            "Redis URL and server, or pass fallback='local' to limit each process alone meanwhile")
    with pytest.raises(RateLimiterUnavailableError) as info:
        lim.acquire()
    assert str(info.value) == f"rate limiter down: Redis unavailable (ConnectionError) {tail}"
    assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)
    with pytest.raises(RateLimiterUnavailableError) as info:
        lim.acquire()
    assert str(info.value) == f"rate limiter down: Redis unavailable {tail}"


def test_fallback_open_grants_everything_at_once():
    clock = Clock(stop=True)
    clock.now = 42.0
    lim = down(clock, RateLimit(rpm=1, tpm=10), fallback="open")
    for _ in range(5):
        res = lim.acquire(10, timeout=0)
        assert (res.tokens, res.granted_at) == (10, 42.0)
        lim.settle(res, 10)
    assert clock.slept == []


@pytest.mark.parametrize("share, grants", [(None, 4), (0.5, 2)])
def test_fallback_local_limits_this_process_to_its_share(share, grants):
    clock = Clock(stop=True)
    lim = down(clock, RateLimit(rpm=4), **({} if share is None else {"fallback_share": share}))
    for _ in range(grants):
        lim.acquire(timeout=0)
    with pytest.raises(RateLimitTimeoutError):
        lim.acquire(timeout=0)
    assert clock.slept == []


def test_fallback_local_settle_refunds_to_the_local_budget():
    lim = down(Clock(stop=True), RateLimit(tpm=100))
    lim.settle(lim.acquire(100, timeout=0), 0)
    lim.settle(lim.acquire(100, timeout=0), 30)
    lim.acquire(70, timeout=0)
    with pytest.raises(RateLimitTimeoutError):
        lim.acquire(1, timeout=0)


def test_fallback_local_charge_retry_stamps_the_previous_attempt_now():
    clock = Clock(stop=True)
    lim = down(clock, RateLimit(tpm=200))
    res = lim.acquire(100, timeout=0)
    clock.now = 30.0
    lim.charge_retry(res, timeout=0)
    clock.now = 60.0
    with pytest.raises(RateLimitTimeoutError):  # the first attempt now counts from t=30, not t=0
        lim.acquire(100, timeout=0)
    lim.settle(res, 0)  # refunds the first attempt; the retry keeps its estimate
    lim.acquire(100, timeout=0)


def test_a_call_retried_while_redis_is_down_settles_in_the_local_fallback():
    """Regression: settle passed the whole reservation to the local limiter, which then restamped the
    retries' still-wrapped entries: AttributeError after a successful, retried call."""
    from llm_client_sync.providers.openai import OpenAIProvider
    from llm_client_sync.testing import MockOpenAIServer
    from llm_client_sync.transport import RetryPolicy

    lim = down(Clock(stop=True), RateLimit(rpm=3, tpm=100_000))
    with MockOpenAIServer() as server:
        with OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url, rate_limit=lim,
                            retry=RetryPolicy(max_retries=3, base=0.001, cap=0.002)) as provider:
            server.add_error(500)
            reply = provider.complete("hi", max_completion_tokens=20)
    assert reply.text == "You said: hi"
    lim.acquire(timeout=0)  # the first attempt and the re-send took two of the three requests
    with pytest.raises(RateLimitTimeoutError):
        lim.acquire(timeout=0)
