"""RateLimiter arithmetic pinned to exact grant times on a fake clock (these tests kill mutants that
survived test_rate_limit.py: bucket refill, window ledger, settle/restamp, header sync, timeouts)."""

from __future__ import annotations

import threading

import pytest

from llm_client_sync.errors import ConfigurationError, RateLimitTimeoutError
from llm_client_sync.ratelimit.limiter import RateLimit, RateLimiter


class Clock:
    """Moves only when the limiter sleeps (or the test advances it)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make(clock: Clock, name: str = "", **kw) -> RateLimiter:
    return RateLimiter(RateLimit(**kw), clock=clock, sleep=clock.sleep, name=name)


def tokens(lim: RateLimiter) -> dict:
    return lim.snapshot()["tokens"]


def forty_at_0_and_10() -> tuple[Clock, RateLimiter]:
    """tpm=100 with 40 tokens granted at t=0 and 40 at t=10; the clock at t=20."""
    clock = Clock()
    lim = make(clock, tpm=100)
    lim.acquire(40)
    clock.now = 10.0
    lim.acquire(40)
    clock.now = 20.0
    return clock, lim


# ---- bucket --------------------------------------------------------------------------------------

def test_the_bucket_refills_at_the_rate_and_never_above_the_burst():
    clock = Clock()
    lim = make(clock, tpm=600, burst_tokens=60)  # 10 tokens a second
    lim.acquire(60)
    assert tokens(lim)["level"] == 0
    clock.now = 3.0
    assert tokens(lim)["level"] == pytest.approx(30.0)
    clock.now = 100.0
    assert tokens(lim)["level"] == 60  # capped at the burst, not 1000
    assert lim.capacity == (None, 60)


def test_a_burst_larger_than_the_limit_is_capped_at_the_limit():
    lim = make(Clock(), rpm=5, burst_requests=50)
    assert lim.capacity == (5, None)
    assert lim.snapshot()["requests"] == {"limit": 5, "burst": 5, "level": 5.0, "window_spent": 0.0}


def test_waiting_for_the_bucket_takes_exactly_the_refill_time():
    clock = Clock()
    lim = make(clock, tpm=600, burst_tokens=60)
    lim.acquire(60)
    lim.acquire(50)
    assert clock.now == pytest.approx(5.0)
    assert lim.waited == pytest.approx(5.0)
    assert tokens(lim)["level"] == pytest.approx(0.0)
    assert tokens(lim)["window_spent"] == 110


def test_a_request_exactly_the_size_of_the_bucket_passes_and_one_more_token_fails_at_once():
    clock = Clock()
    lim = make(clock, name="gpt/key", tpm=100)
    lim.acquire(100)
    with pytest.raises(RateLimitTimeoutError) as info:
        lim.acquire(101)
    assert str(info.value) == ("request needs 101 tokens but the gpt/key limit allows at most 100 at once "
                               "(tpm=100); lower max_completion_tokens or raise the limit")
    assert clock.slept == []
    with pytest.raises(RateLimitTimeoutError, match="the rate limit allows at most 100"):
        make(Clock(), tpm=100).acquire(101)


def test_a_request_without_tokens_takes_only_a_request_slot():
    clock = Clock()
    lim = make(clock, rpm=10, tpm=100)
    res = lim.acquire()
    assert res.tokens == 0
    snap = lim.snapshot()
    assert snap["tokens"]["level"] == 100 and snap["tokens"]["window_spent"] == 0
    assert snap["requests"]["level"] == 9 and snap["requests"]["window_spent"] == 1


# ---- window ledger -------------------------------------------------------------------------------

def test_an_entry_leaves_the_window_exactly_one_window_after_its_grant():
    clock = Clock()
    lim = make(clock, tpm=100, window=10.0)
    lim.acquire(100)
    clock.now = 9.5
    assert tokens(lim)["window_spent"] == 100
    clock.now = 10.0
    assert tokens(lim)["window_spent"] == 0


def test_the_wait_is_until_enough_old_entries_leave_the_window():
    clock, lim = forty_at_0_and_10()
    lim.acquire(30)  # 40 + 40 + 30 > 100: waits for the first entry (t=0) to leave
    assert clock.now == pytest.approx(60.0)
    lim.acquire(60)  # needs 40 (t=10) and 30 (t=60)? no: 40+30+60-100=30 <= 40, the t=10 entry suffices
    assert clock.now == pytest.approx(70.0)


def test_the_wait_covers_several_entries_when_one_is_not_enough():
    clock, lim = forty_at_0_and_10()
    lim.acquire(90)  # over by 70: both entries must leave, the second at t=70
    assert clock.now == pytest.approx(70.0)


def test_an_exact_fit_in_the_window_does_not_wait():
    clock = Clock()
    lim = make(clock, tpm=100, burst_tokens=100)
    lim.acquire(50)
    clock.now = 30.0  # the bucket is full again, the window holds 50
    lim.acquire(50)
    assert clock.now == 30.0 and clock.slept == []


# ---- settle --------------------------------------------------------------------------------------

def test_settle_moves_the_entry_to_the_settle_time():
    clock = Clock()
    lim = make(clock, tpm=100)
    res = lim.acquire(50)
    clock.now = 30.0
    lim.settle(res, 50)
    assert res.settled
    clock.now = 60.0
    assert tokens(lim)["window_spent"] == 50  # stamped at 30, leaves at 90
    lim.acquire(100)
    assert clock.now == pytest.approx(90.0)


def test_settle_above_the_estimate_charges_the_difference_and_below_refunds_it():
    clock = Clock()
    lim = make(clock, tpm=1000)
    res = lim.acquire(100)
    lim.settle(res, 250)
    assert tokens(lim)["window_spent"] == 250
    assert tokens(lim)["level"] == 750
    res = lim.acquire(100)
    lim.settle(res, 40)
    assert tokens(lim)["window_spent"] == 290
    assert tokens(lim)["level"] == 710


def test_settle_none_or_negative_is_a_full_refund():
    clock = Clock()
    lim = make(clock, tpm=100)
    lim.settle(lim.acquire(80), None)
    assert tokens(lim) == {"limit": 100, "burst": 100, "level": 100, "window_spent": 0}
    lim.settle(lim.acquire(80), -5)
    assert tokens(lim)["window_spent"] == 0
    lim.acquire(100)
    assert clock.slept == []


def test_the_request_slot_stays_spent_after_settle():
    clock = Clock()
    lim = make(clock, rpm=2)
    res = lim.acquire()
    clock.now = 5.0
    lim.settle(res, 0)
    assert lim.snapshot()["requests"]["window_spent"] == 1
    lim.acquire()
    lim.acquire()  # the first slot, stamped again at 5, leaves the window at 65
    assert clock.now == pytest.approx(65.0)


def test_settling_a_call_longer_than_the_window_changes_no_window():
    clock = Clock()
    lim = make(clock, tpm=100)
    res = lim.acquire(50)
    clock.now = 100.0
    lim.settle(res, 80)
    assert tokens(lim)["window_spent"] == 0
    assert tokens(lim)["level"] == 70  # the bucket is still charged the extra 30
    lim.acquire(100)
    assert clock.now == pytest.approx(118.0)  # 30 tokens at 100 per 60 s


def test_charge_retry_takes_a_second_estimate_and_settle_keeps_it():
    clock = Clock()
    lim = make(clock, rpm=10, tpm=1000)
    res = lim.acquire(100)
    lim.charge_retry(res)
    lim.charge_retry(res)
    assert len(res.retries) == 2 and not any(r.settled for r in res.retries)
    snap = lim.snapshot()
    assert snap["tokens"]["window_spent"] == 300 and snap["requests"]["window_spent"] == 3
    lim.settle(res, 10)
    assert all(r.settled for r in res.retries)
    assert tokens(lim)["window_spent"] == 210  # 10 for the first attempt, 100 for each retry


def test_reservation_repr_shows_tokens_and_state_only():
    lim = make(Clock(), tpm=100)
    res = lim.acquire(7)
    assert repr(res) == "Reservation(tokens=7, settled=False)"
    lim.settle(res, 7)
    assert repr(res) == "Reservation(tokens=7, settled=True)"


# ---- timeouts ------------------------------------------------------------------------------------

def test_a_wait_ending_exactly_at_the_deadline_is_granted():
    clock = Clock()
    lim = make(clock, tpm=600, burst_tokens=60)
    lim.acquire(60)
    lim.acquire(50, timeout=5.0)
    assert clock.now == pytest.approx(5.0)


def test_a_wait_past_the_deadline_fails_at_once_and_takes_nothing():
    clock = Clock()
    lim = make(clock, tpm=600, burst_tokens=60)
    lim.acquire(60)
    with pytest.raises(RateLimitTimeoutError) as info:
        lim.acquire(50, timeout=4.5)
    assert str(info.value) == "no rate-limit capacity for 1 request / 50 tokens within 4.5s (capacity in 5.00s)"
    assert clock.slept == []
    assert lim.snapshot()["waiting"] == 0
    assert tokens(lim)["window_spent"] == 60
    lim.acquire(50, timeout=5.0)  # the queue is free again


def test_a_zero_timeout_grants_only_what_fits_now():
    clock = Clock()
    lim = make(clock, rpm=1)
    lim.acquire(timeout=0)
    with pytest.raises(RateLimitTimeoutError):
        lim.acquire(timeout=0)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_tokens_must_be_a_non_negative_int(bad):
    with pytest.raises(ConfigurationError) as info:
        make(Clock(), tpm=100).acquire(bad)
    assert str(info.value) == f"tokens must be a non-negative int, got {bad!r}"


def test_limits_must_be_a_rate_limit():
    with pytest.raises(ConfigurationError) as info:
        RateLimiter({"rpm": 1})  # type: ignore[arg-type]
    assert str(info.value) == "limits must be a RateLimit, got dict"


def test_an_unlimited_limiter_never_waits():
    clock = Clock()
    lim = RateLimiter(clock=clock, sleep=clock.sleep)
    for _ in range(5):
        lim.acquire(10**9)
    assert clock.slept == [] and lim.capacity == (None, None)
    assert repr(lim) == "RateLimiter(local, rpm=None, tpm=None)"
    assert repr(make(clock, name="m/k", rpm=3, tpm=4)) == "RateLimiter(m/k, rpm=3, tpm=4)"


# ---- headers and pauses --------------------------------------------------------------------------

def test_remaining_headers_lower_the_level_but_never_raise_it():
    clock = Clock()
    lim = make(clock, rpm=100, tpm=1000)
    lim.acquire(100)
    lim.observe(200, {"X-RateLimit-Remaining-Tokens": "500", "x-ratelimit-remaining-requests": "200"})
    snap = lim.snapshot()
    assert snap["tokens"]["level"] == 500
    assert snap["requests"]["level"] == 99
    lim.observe(200, {"x-ratelimit-remaining-tokens": "-3"})
    assert tokens(lim)["level"] == 0
    lim.observe(200, {"x-ratelimit-remaining-tokens": "nan"})
    assert tokens(lim)["level"] == 0


def test_a_learned_limit_lowers_limit_and_burst_unless_learning_is_off():
    clock = Clock()
    lim = make(clock, tpm=1000)
    lim.observe(200, {"x-ratelimit-limit-tokens": "400"})
    assert tokens(lim) == {"limit": 400, "burst": 400, "level": 400, "window_spent": 0}
    lim.observe(200, {"x-ratelimit-limit-tokens": "4000"})
    assert tokens(lim)["limit"] == 400
    lim.observe(200, {"x-ratelimit-limit-tokens": "0"})
    assert tokens(lim)["limit"] == 400
    fixed = make(clock, tpm=1000, learn=False)
    fixed.observe(200, {"x-ratelimit-limit-tokens": "400"})
    assert tokens(fixed)["limit"] == 1000
    small = make(clock, tpm=1000, burst_tokens=100)
    small.observe(200, {"x-ratelimit-limit-tokens": "400"})
    assert tokens(small) == {"limit": 400, "burst": 100, "level": 100, "window_spent": 0}
    tiny = make(clock, tpm=1000, burst_tokens=100)
    tiny.observe(200, {"x-ratelimit-limit-tokens": "50"})
    assert tokens(tiny)["burst"] == 50 and tokens(tiny)["level"] == 50


def test_a_learned_limit_smaller_than_a_waiting_request_fails_it():
    clock = Clock()
    lim = make(clock, tpm=1000)
    lim.observe(200, {"x-ratelimit-limit-tokens": "100"})
    with pytest.raises(RateLimitTimeoutError):
        lim.acquire(200)


def test_pause_holds_everyone_and_a_shorter_pause_never_shortens_it():
    clock = Clock()
    lim = make(clock, rpm=100)
    lim.pause(3.0)
    lim.pause(1.0)
    assert lim.snapshot()["paused_for"] == 3.0
    lim.observe(429, {"retry-after": "2"})
    assert lim.snapshot()["paused_for"] == 3.0
    lim.acquire()
    assert clock.now == pytest.approx(3.0)
    assert lim.snapshot()["paused_for"] == 0.0
    lim.observe(429, {"retry-after": "4"})
    assert lim.snapshot()["paused_for"] == 4.0
    lim.observe(200, {"retry-after": "9"})
    assert lim.snapshot()["paused_for"] == 4.0


def test_snapshot_of_a_fresh_limiter():
    lim = make(Clock(), rpm=10)
    assert lim.snapshot() == {"paused_for": 0.0, "waiting": 0,
                              "requests": {"limit": 10, "burst": 10, "level": 10.0, "window_spent": 0.0}}


def test_an_old_entry_that_frees_exactly_enough_is_the_one_waited_for():
    clock, lim = forty_at_0_and_10()
    lim.acquire(60)  # over by exactly 40: the t=0 entry is enough
    assert clock.now == pytest.approx(60.0)


def test_an_old_entry_one_token_short_is_not_enough():
    clock, lim = forty_at_0_and_10()
    lim.acquire(61)  # over by 41: the t=10 entry must leave too, in one sleep (no early wake-up)
    assert clock.now == pytest.approx(70.0)
    assert clock.slept == [pytest.approx(50.0)]


def test_settling_exactly_one_window_after_the_grant_changes_no_window():
    clock = Clock()
    lim = make(clock, tpm=100)
    res = lim.acquire(50)
    clock.now = 60.0
    lim.settle(res, 80)
    assert tokens(lim)["window_spent"] == 0


def test_a_bad_timeout_names_the_argument():
    with pytest.raises(ConfigurationError) as info:
        make(Clock(), rpm=1).acquire(timeout=-1)
    assert str(info.value) == "timeout must be a finite number >= 0, got int -1"


def test_a_zero_timeout_behind_a_waiting_caller_fails_at_once():
    clock = Clock()
    clock.now = 1000.0
    entered, gate = threading.Event(), threading.Event()

    def gated_sleep(seconds: float) -> None:
        entered.set()
        gate.wait(5)
        clock.sleep(seconds)

    lim = RateLimiter(RateLimit(rpm=1), clock=clock, sleep=gated_sleep)
    lim.acquire()  # the only slot
    head = threading.Thread(target=lim.acquire)
    head.start()
    try:
        assert entered.wait(5)  # the head of the queue is asleep, waiting for the slot
        with pytest.raises(RateLimitTimeoutError) as info:
            lim.acquire(timeout=0)
        assert str(info.value) == "no rate-limit capacity for 1 request / 0 tokens within 0s"
        assert lim.snapshot()["waiting"] == 1
    finally:
        gate.set()
        head.join(5)
    assert not head.is_alive()
    assert clock.now == pytest.approx(1060.0)


def test_waited_adds_up_the_seconds_callers_spent_waiting():
    clock = Clock()
    clock.now = 100.0
    lim = make(clock, tpm=600, burst_tokens=60)
    lim.acquire(60)
    assert lim.waited == 0.0
    lim.acquire(50)
    lim.acquire(20)
    assert lim.waited == pytest.approx(5.0 + 2.0)


def test_the_bucket_refills_by_elapsed_time_whatever_the_clock_reads():
    clock = Clock()
    clock.now = 100.0
    lim = make(clock, tpm=600, burst_tokens=60)
    lim.acquire(60)
    clock.now = 103.0
    assert tokens(lim)["level"] == pytest.approx(30.0)
    lim.acquire(40)
    assert clock.now == pytest.approx(104.0)


def test_settling_tokens_on_a_reservation_that_estimated_none_charges_the_bucket():
    clock = Clock()
    lim = make(clock, tpm=100)
    res = lim.acquire(0)
    lim.settle(res, 50)
    assert tokens(lim)["level"] == 50


def test_settling_on_a_requests_only_limiter_ignores_the_token_count():
    clock = Clock()
    lim = make(clock, rpm=2)
    lim.settle(lim.acquire(10), 50)
    assert lim.snapshot()["requests"]["window_spent"] == 1 and "tokens" not in lim.snapshot()


# ---- reset headers, limits, the provider's registry (whole-module run) ----------------------------

@pytest.mark.parametrize("value, seconds", [("1500us", 1.5e-3), ("2µs", 2e-6), ("3ns", 3e-9), ("1h", 3600.0),
                                            ("1m13.588s", 73.588), ("12ms", 0.012)])
def test_reset_durations_in_every_go_unit(value, seconds):
    from llm_client_sync.ratelimit.limiter import parse_reset

    assert parse_reset(value) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("window, ok", [(0, False), (0.001, True), (999_999_999.0, True), (1e9, False)])
def test_the_window_is_a_positive_number_below_a_billion_seconds(window, ok):
    if ok:
        assert RateLimit(rpm=1, window=window).window == window
    else:
        with pytest.raises(ConfigurationError, match="RateLimit.window must be a positive number of seconds"):
            RateLimit(rpm=1, window=window)


def test_providers_share_a_limiter_per_served_model_key_and_limits():
    from types import SimpleNamespace

    from llm_client_sync.ratelimit.limiter import build_limiter

    limits = RateLimit(rpm=5)
    served = SimpleNamespace(api_id="served-model", key="alias")
    a = build_limiter(limits, served, "key-1")
    assert a.name == "served-model/key-1" and build_limiter(RateLimit(rpm=5), served, "key-1") is a
    assert build_limiter(limits, SimpleNamespace(api_id="served-model", key="other"), "key-1") is a
    assert build_limiter(limits, served, "key-2") is not a and build_limiter(RateLimit(rpm=6), served, "key-1") is not a
    assert build_limiter(limits, SimpleNamespace(api_id=None, key="alias"), "key-1").name == "alias/key-1"

    class Bare:
        def __str__(self) -> str:
            return "bare-model"

    assert build_limiter(limits, Bare(), "key-1").name == "bare-model/key-1"
