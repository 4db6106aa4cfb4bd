"""CircuitBreaker: closed -> open -> half-open probe -> closed, with a fake clock."""

from __future__ import annotations

import threading

import pytest

from llm_client_sync import CircuitBreaker, ConfigurationError
from llm_client_sync.providers._breaker import BreakerState


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures_only():
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=3, cooldown=10.0, clock=clock)
    b.record_failure()
    b.record_failure()
    b.record_success()  # a success in between resets the count
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED and b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert not b.allow()


def test_half_open_lets_one_probe_through_after_cooldown():
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=1, cooldown=10.0, clock=clock)
    b.record_failure()
    clock.now += 9.99
    assert not b.allow()
    clock.now += 0.01
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()          # the probe
    assert not b.allow()      # only one probe at a time
    b.record_success()
    assert b.state is BreakerState.CLOSED and b.allow() and b.allow()
    assert b.failures == 0


def test_failed_probe_reopens_for_a_full_cooldown():
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=2, cooldown=5.0, clock=clock)
    b.record_failure()
    b.record_failure()
    clock.now += 5.0
    assert b.allow()
    b.record_failure()        # one failed probe is enough, whatever the threshold
    assert b.state is BreakerState.OPEN
    clock.now += 4.9
    assert not b.allow()
    clock.now += 0.1
    assert b.allow()


def test_a_lost_probe_is_replaced_after_another_cooldown():
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=1, cooldown=5.0, clock=clock)
    b.record_failure()
    clock.now += 5.0
    assert b.allow()          # probe claimed, outcome never reported
    clock.now += 4.0
    assert not b.allow()
    clock.now += 1.0
    assert b.allow()


def test_late_failures_of_calls_started_before_opening_do_not_extend_the_cooldown():
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=1, cooldown=5.0, clock=clock)
    b.record_failure()
    clock.now += 4.0
    b.record_failure()        # an in-flight call failing late
    clock.now += 1.0
    assert b.allow()


def test_concurrent_callers_get_exactly_one_probe():
    clock = FakeClock()
    b = CircuitBreaker(failure_threshold=1, cooldown=1.0, clock=clock)
    b.record_failure()
    clock.now += 1.0
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def worker() -> None:
        start.wait()
        ok = b.allow()
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(results) == [False] * 15 + [True]


@pytest.mark.parametrize("kw", [{"failure_threshold": 0}, {"failure_threshold": 1.5}, {"cooldown": -1}])
def test_bad_settings_are_configuration_errors(kw):
    with pytest.raises(ConfigurationError):
        CircuitBreaker(**kw)
