"""RateLimiter: buckets, 60 s windows, FIFO waiting, settle, header sync, 429 pauses (fake clock)."""

from __future__ import annotations

import threading
from collections import deque

import pytest

from llm_client_sync.errors import ConfigurationError, RateLimitTimeoutError
from llm_client_sync.models import GPT5Nano, TextEmbedding3Small, get_profile
from llm_client_sync.ratelimit import (
    DEFAULT_COMPLETION_TOKENS,
    RateLimit,
    RateLimiter,
    Reservation,
    build_limiter,
    parse_reset,
    request_cost,
)


class FakeClock:
    """A thread-safe clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()
        self.slept: list[float] = []

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds


def limiter(clock: FakeClock, **kw) -> RateLimiter:
    return RateLimiter(RateLimit(**kw), clock=clock, sleep=clock.sleep)


def max_window(grants: list[tuple[float, int]], window: float = 60.0) -> int:
    """Largest total granted inside any half-open 60 s window."""
    grants = sorted(grants)
    best = total = 0
    q: deque[tuple[float, int]] = deque()
    for t, amount in grants:
        q.append((t, amount))
        total += amount
        while q and q[0][0] <= t - window:
            total -= q.popleft()[1]
        best = max(best, total)
    return best


@pytest.mark.parametrize("text, seconds", [
    ("6m0s", 360.0), ("8.64s", 8.64), ("12ms", 0.012), ("1m13.588s", 73.588), ("14m24s", 864.0),
    ("0s", 0.0), ("2h", 7200.0), ("1.5", 1.5), ("120ms", 0.12), ("16.227s", 16.227),
])
def test_parse_reset_reads_go_durations(text, seconds):
    assert parse_reset(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "soon", "5 s", "m5", "1x"])
def test_parse_reset_returns_none_for_unreadable_values(text):
    assert parse_reset(text) is None


def test_rate_limit_rejects_bad_values():
    with pytest.raises(ConfigurationError):
        RateLimit(rpm=0)
    with pytest.raises(ConfigurationError):
        RateLimit(tpm=-5)
    with pytest.raises(ConfigurationError):
        RateLimit(rpm=True)


def test_burst_passes_at_once_then_paces_at_the_rate():
    clock = FakeClock()
    lim = limiter(clock, rpm=60)
    for _ in range(60):
        lim.acquire()
    assert clock.slept == []
    start = clock()
    lim.acquire()
    # the 61st request waits for the first one to leave the 60 s window
    assert clock() - start == pytest.approx(60.0)


def test_small_burst_spreads_requests():
    clock = FakeClock()
    lim = limiter(clock, rpm=120, burst_requests=2)
    lim.acquire()
    lim.acquire()
    start = clock()
    lim.acquire()
    assert clock() - start == pytest.approx(0.5)


def test_no_60_second_window_above_limit_and_throughput_at_least_95_percent_single_thread():
    clock = FakeClock()
    lim = limiter(clock, rpm=100, tpm=5_000)
    grants_r, grants_t = [], []
    start = clock()
    for i in range(1500):
        cost = 20 + (i * 37) % 60
        lim.acquire(cost)
        grants_r.append((clock(), 1))
        grants_t.append((clock(), cost))
    elapsed_min = (clock() - start) / 60.0
    assert max_window(grants_r) <= 100
    assert max_window(grants_t) <= 5_000
    used = sum(c for _, c in grants_t)
    # whichever budget binds, it is used at >= 95% of its limit
    assert max(len(grants_r) / (100 * elapsed_min), used / (5_000 * elapsed_min)) >= 0.95


def test_64_threads_fake_clock_never_exceed_any_window_and_keep_throughput():
    clock = FakeClock()
    lim = limiter(clock, rpm=300, tpm=30_000)
    grants: list[tuple[float, int]] = []
    glock = threading.Lock()
    barrier = threading.Barrier(64)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            barrier.wait()
            for j in range(40):
                cost = 50 + (k * 13 + j * 7) % 100
                res = lim.acquire(cost)
                with glock:
                    grants.append((res.granted_at, cost))
                lim.settle(res, cost)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and all(not t.is_alive() for t in threads)
    assert len(grants) == 64 * 40
    assert max_window([(t, 1) for t, _ in grants]) <= 300
    assert max_window(grants) <= 30_000
    # the request budget binds (2560 requests at 300/min): every whole minute is used >= 95%
    first, last = min(t for t, _ in grants), max(t for t, _ in grants)
    minutes = int((last - first) // 60)
    assert minutes >= 7
    done = sum(1 for t, _ in grants if t < first + 60 * minutes)
    assert done / (300 * minutes) >= 0.95


def test_request_larger_than_the_bucket_fails_at_once():
    clock = FakeClock()
    lim = limiter(clock, tpm=1_000)
    with pytest.raises(RateLimitTimeoutError, match="at most 1000"):
        lim.acquire(1_001)
    assert clock.slept == []
    assert lim.snapshot()["waiting"] == 0


def test_timeout_fails_fast_without_taking_capacity():
    clock = FakeClock()
    lim = limiter(clock, tpm=1_000)
    lim.acquire(900)
    with pytest.raises(RateLimitTimeoutError):
        lim.acquire(500, timeout=5)
    assert clock.slept == []
    assert lim.snapshot()["tokens"]["window_spent"] == pytest.approx(900)


def test_default_timeout_comes_from_rate_limit():
    clock = FakeClock()
    lim = limiter(clock, rpm=1, timeout=1.0)
    lim.acquire()
    with pytest.raises(RateLimitTimeoutError):
        lim.acquire()


def test_settle_zero_refunds_tokens():
    clock = FakeClock()
    lim = limiter(clock, tpm=100)
    res = lim.acquire(100)
    lim.settle(res, 0)
    lim.acquire(100)
    assert clock.slept == []


def test_settle_above_the_estimate_delays_later_requests():
    clock = FakeClock()
    lim = limiter(clock, tpm=600)
    res = lim.acquire(100)
    lim.settle(res, 400)
    start = clock()
    lim.acquire(300)
    assert clock() - start == pytest.approx(60.0)  # 400 + 300 > 600 until the first leaves the window


def test_settle_twice_is_a_no_op():
    clock = FakeClock()
    lim = limiter(clock, tpm=100)
    res = lim.acquire(50)
    lim.settle(res, 0)
    lim.settle(res, 0)
    assert lim.snapshot()["tokens"]["level"] == pytest.approx(100)


def test_waiters_are_served_first_come_first_served():
    clock = FakeClock()
    release = threading.Event()
    sleeping = threading.Event()

    def gated_sleep(seconds: float) -> None:
        sleeping.set()
        assert release.wait(10)
        clock.sleep(seconds)

    lim = RateLimiter(RateLimit(tpm=100), clock=clock, sleep=gated_sleep)
    lim.acquire(100)
    order: list[str] = []
    big = threading.Thread(target=lambda: (lim.acquire(80), order.append("big")))
    big.start()
    assert sleeping.wait(10)
    small = threading.Thread(target=lambda: (lim.acquire(1), order.append("small")))
    small.start()
    for _ in range(2000):  # bounded: wait until the small request is queued behind the big one
        if lim.snapshot()["waiting"] == 2:
            break
        threading.Event().wait(0.001)
    assert lim.snapshot()["waiting"] == 2
    release.set()
    big.join(10)
    small.join(10)
    assert order == ["big", "small"]


def test_remaining_headers_lower_the_bucket():
    clock = FakeClock()
    lim = limiter(clock, rpm=100, tpm=10_000)
    lim.observe(200, {"X-Ratelimit-Remaining-Requests": "0", "x-ratelimit-remaining-tokens": "500",
                      "x-ratelimit-reset-requests": "600ms", "x-ratelimit-reset-tokens": "57s"})
    snap = lim.snapshot()
    assert snap["requests"]["level"] == 0
    assert snap["tokens"]["level"] == 500
    start = clock()
    lim.acquire(10)
    assert clock() - start == pytest.approx(0.6)  # one request refills in 60/100 s


def test_learned_lower_limit_is_adopted():
    clock = FakeClock()
    lim = limiter(clock, rpm=5_000)
    lim.observe(200, {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499"})
    assert lim.snapshot()["requests"]["limit"] == 500
    lim.observe(200, {"x-ratelimit-limit-requests": "9000"})
    assert lim.snapshot()["requests"]["limit"] == 500


def test_429_with_retry_after_ms_pauses_everyone():
    clock = FakeClock()
    lim = limiter(clock, rpm=1_000)
    lim.observe(429, {"retry-after-ms": "1500", "retry-after": "9"})
    start = clock()
    lim.acquire()
    assert clock() - start == pytest.approx(1.5)


def test_429_with_retry_after_seconds_and_without_hints():
    clock = FakeClock()
    lim = limiter(clock, rpm=1_000)
    lim.observe(429, {"Retry-After": "3"})
    start = clock()
    lim.acquire()
    assert clock() - start == pytest.approx(3.0)
    lim.observe(429, {"x-ratelimit-reset-tokens": "2.5s"})
    start = clock()
    lim.acquire()
    assert clock() - start == pytest.approx(2.5)
    lim.observe(429, {})
    start = clock()
    lim.acquire()
    assert clock() - start == pytest.approx(1.0)


def test_non_429_without_headers_changes_nothing():
    clock = FakeClock()
    lim = limiter(clock, rpm=10)
    before = lim.snapshot()
    lim.observe(500, {"content-type": "application/json"})
    assert lim.snapshot() == before


def test_unlimited_limiter_never_waits():
    clock = FakeClock()
    lim = limiter(clock)
    for _ in range(1000):
        lim.settle(lim.acquire(10_000), 10_000)
    assert clock.slept == []


def test_acquire_rejects_bad_token_counts():
    lim = RateLimiter(RateLimit(rpm=10))
    with pytest.raises(ConfigurationError):
        lim.acquire(-1)
    with pytest.raises(ConfigurationError):
        lim.acquire(1.5)  # type: ignore[arg-type]


def test_build_limiter_variants_and_sharing():
    assert build_limiter(None, GPT5Nano, "abcd1234") is None
    shared = RateLimiter(RateLimit(rpm=5))
    assert build_limiter(shared, GPT5Nano, "abcd1234") is shared
    a = build_limiter("default", GPT5Nano, "abcd1234")
    b = build_limiter("default", GPT5Nano, "abcd1234")
    c = build_limiter("default", GPT5Nano, "ffff0000")
    assert a is b and a is not c
    assert a.limits == RateLimit(rpm=GPT5Nano.default_rpm, tpm=GPT5Nano.default_tpm)
    d = build_limiter(RateLimit(rpm=7), GPT5Nano, "abcd1234")
    assert d is not a and d.limits.rpm == 7
    with pytest.raises(ConfigurationError):
        build_limiter(42, GPT5Nano, "abcd1234")


def test_limiter_repr_has_no_key_material():
    lim = build_limiter(RateLimit(rpm=3), GPT5Nano, "abcd1234")
    assert "sk-" not in repr(lim)


def test_request_cost_uses_max_completion_fields():
    body = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 100}
    base = request_cost({**body, "max_completion_tokens": 0}, GPT5Nano)
    assert request_cost(body, GPT5Nano) == base + 100
    assert request_cost({**body, "max_completion_tokens": 100, "n": 3}, GPT5Nano) == base + 300
    no_max = {k: v for k, v in body.items() if k != "max_completion_tokens"}
    assert request_cost(no_max, GPT5Nano) == base + DEFAULT_COMPLETION_TOKENS
    assert request_cost({"model": "x", "input": "hi", "max_output_tokens": 10}, GPT5Nano) >= 10


def test_request_cost_caps_default_by_profile_and_ignores_completion_for_embeddings():
    small = get_profile("some-local-model")
    assert request_cost({"messages": []}, small) >= min(DEFAULT_COMPLETION_TOKENS, small.max_output_tokens)
    emb = request_cost({"model": "text-embedding-3-small", "input": ["a" * 400]}, TextEmbedding3Small)
    assert 1 <= emb < 1000


def test_request_cost_never_raises():
    weird = {"messages": [object()], "n": "x", "max_tokens": "lots"}
    assert request_cost(weird, GPT5Nano) >= 1
    assert request_cost(None, GPT5Nano) >= 1  # type: ignore[arg-type]


class RacySettled(Reservation):
    """A reservation whose ``settled`` flag makes two settles read it at the same moment unless the
    limiter serialises them (then the barrier times out and the second one reads True)."""

    def __init__(self, res: Reservation, barrier: threading.Barrier) -> None:
        self._value = False
        self._barrier = barrier
        super().__init__(res.tokens, res.granted_at, res._entry, res._requests_entry)

    @property
    def settled(self) -> bool:  # type: ignore[override]
        value = self._value
        if not value:
            try:
                self._barrier.wait(0.5)
            except threading.BrokenBarrierError:
                pass
        return value

    @settled.setter
    def settled(self, value: bool) -> None:
        self._value = value


def test_two_concurrent_settles_adjust_once():
    """Fails before the fix: both threads saw settled=False and both charged the extra 300 tokens."""
    clock = FakeClock()
    lim = limiter(clock, tpm=1000)
    res = RacySettled(lim.acquire(100), threading.Barrier(2))
    threads = [threading.Thread(target=lim.settle, args=(res, 400)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    snap = lim.snapshot()["tokens"]
    assert snap["level"] == 600 and snap["window_spent"] == 400  # before the fix: 300 and 700


def test_window_length_is_injectable():
    clock = FakeClock()
    lim = limiter(clock, rpm=2, window=2.0)
    lim.acquire()
    lim.acquire()
    start = clock.now
    lim.acquire()
    assert clock.now - start == pytest.approx(2.0, abs=0.01)  # one 2 s window, not 60 s
    with pytest.raises(ConfigurationError):
        RateLimit(rpm=1, window=0)


def test_settle_stamps_the_entry_when_the_answer_came():
    """The server counted the request when it arrived (after the grant): the window entry must not
    leave our window before it leaves the server's."""
    clock = FakeClock()
    lim = limiter(clock, rpm=1, window=10.0)
    res = lim.acquire()
    clock.now += 3.0  # the call took 3 s
    lim.settle(res, 0)
    start = clock.now
    lim.acquire()
    assert clock.now - start == pytest.approx(10.0, abs=0.01)  # 10 s after the answer, not after the grant


def test_charge_retry_takes_a_request_slot_and_settle_keeps_it():
    clock = FakeClock()
    lim = limiter(clock, rpm=10, tpm=1000)
    res = lim.acquire(100)
    lim.charge_retry(res)
    lim.settle(res, 40)
    snap = lim.snapshot()
    assert snap["requests"]["window_spent"] == 2
    assert snap["tokens"]["window_spent"] == 140  # the re-sent attempt keeps its estimate


@pytest.mark.parametrize("headers", [{"retry-after": "nan"}, {"retry-after": "inf"}, {"retry-after": "-5"},
                                     {"retry-after-ms": "1e308"}, {"retry-after": "99999999999"}])
def test_a_429_hint_never_freezes_the_limiter_for_long(headers):
    clock = FakeClock()
    lim = limiter(clock, rpm=1000)
    lim.observe(429, headers)
    assert 0 <= lim.snapshot()["paused_for"] <= 120.0
