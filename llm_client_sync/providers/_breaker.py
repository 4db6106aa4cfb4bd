"""CircuitBreaker: stop calling a provider that keeps failing, probe it again after a cool-down."""

from __future__ import annotations

import enum
import threading
import time
from typing import Callable

from ..errors import ConfigurationError

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Closed -> open after ``failure_threshold`` consecutive failures -> half-open once
    ``cooldown`` seconds passed (one probe call is let through) -> closed on its success, open
    again (for another cool-down) on its failure.

    Thread-safe; ``clock`` is injectable. A probe whose outcome is never reported (its thread
    died) is replaced by a new one after another cool-down, so the breaker cannot stick.

        breaker = CircuitBreaker(failure_threshold=3, cooldown=30.0)
        if breaker.allow():
            try:
                call()
            except TransientError:
                breaker.record_failure()
            else:
                breaker.record_success()
    """

    def __init__(self, failure_threshold: int = 3, cooldown: float = 30.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise ConfigurationError(f"failure_threshold must be a positive integer, got {failure_threshold!r}")
        if not cooldown >= 0:
            raise ConfigurationError(f"cooldown must be non-negative seconds, got {cooldown!r}")
        self.failure_threshold = failure_threshold
        self.cooldown = float(cooldown)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_at: float | None = None

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state.value!r}, failures={self._failures})"

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose cool-down passed reads as half-open)."""
        with self._lock:
            if self._state is BreakerState.OPEN and self._clock() >= self._opened_at + self.cooldown:
                return BreakerState.HALF_OPEN
            return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures so far."""
        with self._lock:
            return self._failures

    def allow(self) -> bool:
        """May a call go through now? Claims the single probe when the cool-down has passed."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return True
            now = self._clock()
            if self._state is BreakerState.OPEN:
                if now < self._opened_at + self.cooldown:
                    return False
                self._state = BreakerState.HALF_OPEN
                self._probe_at = now
                return True
            # half-open: one probe at a time; a lost probe is replaced after a cool-down
            if self._probe_at is not None and now < self._probe_at + max(self.cooldown, 1e-9):
                return False
            self._probe_at = now
            return True

    def record_success(self) -> None:
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self._probe_at = None

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.OPEN:
                return  # a call that started before the breaker opened: the cool-down runs on
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self._probe_at = None

    def reset(self) -> None:
        """Back to closed with no failures (e.g. after a configuration change)."""
        self.record_success()
