"""Client-side rate limiting: requests and tokens per window (a minute by default) per model and key.

Each budget is a lazily refilled token bucket (``burst`` capacity) plus a sliding-window
spending ledger, so no window ever spends more than the limit (a plain bucket lets up to twice
the limit through in the minute after an idle spell). A ledger entry is stamped again when its
request is settled: the server counted it when it arrived, after we granted it, so the entry must
not leave our window before it leaves the server's. No background threads.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .._checks import check_number
from ..errors import ConfigurationError, RateLimitTimeoutError

__all__ = [
    "RateLimit",
    "RateLimiter",
    "Reservation",
    "WINDOW",
    "build_limiter",
    "parse_reset",
    "pause_from_headers",
]

WINDOW = 60.0
DEFAULT_429_PAUSE = 1.0


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Limits for one model and key.

    Args:
        rpm: requests per window (None: unlimited); the window is a minute unless ``window`` says otherwise.
        tpm: tokens per window (None: unlimited).
        burst_requests / burst_tokens: how much may go at once (bucket capacity; default the
            whole per-window limit). Requests refill at ``rpm/window`` per second.
        timeout: default seconds ``acquire`` waits before RateLimitTimeoutError (None: forever).
        learn: adopt the ``x-ratelimit-limit-*`` values the API reports when lower than ours.
        window: seconds of the sliding window the limits apply to (60: the API's per-minute
            limits; shorter windows are for servers that enforce them, and for tests).
    """

    rpm: int | None = None
    tpm: int | None = None
    burst_requests: int | None = None
    burst_tokens: int | None = None
    timeout: float | None = None
    learn: bool = True
    window: float = WINDOW

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm", "burst_requests", "burst_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigurationError(f"RateLimit.{name} must be a positive int or None, got {value!r}")
        check_number(self.timeout, "RateLimit.timeout", allow_zero=True, allow_none=True)
        if isinstance(self.window, bool) or not isinstance(self.window, (int, float)) or not 0 < self.window < 1e9:
            raise ConfigurationError(f"RateLimit.window must be a positive number of seconds, got {self.window!r}")


class _Entry:
    """One grant in a window ledger; ``amount`` 0 once it moved (see ``_Budget.restamp``)."""

    __slots__ = ("time", "amount")

    def __init__(self, time: float, amount: float) -> None:
        self.time = time
        self.amount = amount


class Reservation:
    """Capacity taken by one ``acquire``; give it back to ``settle`` with the real usage.

    ``retries`` holds what ``charge_retry`` took for re-sent attempts of the same call; settling
    the reservation settles them too.
    """

    __slots__ = ("tokens", "granted_at", "_entry", "_requests_entry", "settled", "retries")

    def __init__(self, tokens: int, granted_at: float, entry: Any, requests_entry: Any = None) -> None:
        self.tokens = tokens
        self.granted_at = granted_at
        self._entry = entry
        self._requests_entry = requests_entry
        self.settled = False
        self.retries: list[Reservation] = []

    def __repr__(self) -> str:
        return f"Reservation(tokens={self.tokens}, settled={self.settled})"


class _Budget:
    """One dimension (requests or tokens): bucket + window ledger. Caller holds the limiter lock."""

    __slots__ = ("limit", "burst", "level", "stamp", "ledger", "spent", "explicit_burst", "window")

    def __init__(self, limit: int, burst: int | None, now: float, window: float = WINDOW) -> None:
        self.explicit_burst = burst
        self.limit = limit
        self.window = window
        self.burst = min(burst or limit, limit)
        self.level = float(self.burst)
        self.stamp = now
        self.ledger: deque[_Entry] = deque()  # oldest first
        self.spent = 0.0  # sum of ledger amounts

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.burst, self.level + (now - self.stamp) * self.limit / self.window)
            self.stamp = now
        ledger = self.ledger
        while ledger and ledger[0].time <= now - self.window:
            self.spent -= ledger.popleft().amount
        if not ledger:
            self.spent = 0.0  # drop float drift

    def wait(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` fits (0: now)."""
        self._refill(now)
        bucket = 0.0 if self.level >= amount else (amount - self.level) * self.window / self.limit
        window = 0.0
        over = self.spent + amount - self.limit
        if over > 1e-9:
            freed = 0.0
            for entry in self.ledger:
                freed += entry.amount
                if freed >= over - 1e-9:
                    window = entry.time + self.window - now
                    break
        return max(bucket, window, 0.0)

    def take(self, amount: float, now: float) -> _Entry:
        self.level -= amount
        entry = _Entry(now, float(amount))
        self.ledger.append(entry)
        self.spent += amount
        return entry

    def adjust(self, entry: _Entry | None, delta: float, now: float) -> _Entry | None:
        """Correct an entry by ``delta`` and stamp it ``now`` (the request has reached the server)."""
        self._refill(now)
        self.level = min(self.burst, self.level - delta)
        if entry is None or entry.time <= now - self.window:
            return entry  # aged out of the window already (a call longer than the window)
        new = max(entry.amount + delta, 0.0)
        self.spent += new - entry.amount
        entry.amount = 0.0  # the ledger stays sorted by time: move the amount to a new entry at the end
        moved = _Entry(now, new)
        self.ledger.append(moved)
        return moved

    def sync(self, limit: int | None, remaining: int | None, now: float, learn: bool) -> None:
        """Take the API's view: never believe we have more left than it says."""
        self._refill(now)
        if learn and limit and limit < self.limit:
            self.limit = limit
            self.burst = min(self.explicit_burst or limit, limit)
            self.level = min(self.level, self.burst)
        if remaining is not None and remaining < self.level:
            # the API's bucket refills continuously like ours, so only the level needs correcting
            self.level = float(max(remaining, 0))


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_reset(value: str | None) -> float | None:
    """Seconds in an ``x-ratelimit-reset-*`` value: Go durations (``6m0s``, ``8.64s``, ``12ms``,
    ``1m13.588s``) or a bare number of seconds; None when unreadable."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if not text:
        return None
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos else None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    from ..transport import header_value  # the one header lookup (transport is loaded by then)

    value = header_value(headers, name)
    if value is None:
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):  # "nan" is a ValueError, "inf" an OverflowError
        return None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {str(k).lower(): v for k, v in headers.items()}


def leave_queue(cond: threading.Condition, queue: deque[int], ticket: int) -> None:
    """Take a waiter's ticket out of a first-come-first-served queue and wake the others."""
    with cond:
        try:
            queue.remove(ticket)
        except ValueError:
            pass
        cond.notify_all()


def pause_from_headers(status_code: int, headers: Mapping[str, str]) -> float | None:
    """How long a 429 asks everyone to wait: the server's hint (``transport.retry_after_seconds``:
    retry-after-ms, retry-after seconds or date), then the reset headers; never above
    ``MAX_RETRY_AFTER`` (an absurd hint cannot freeze every caller for days)."""
    if status_code != 429:
        return None
    from ..transport import MAX_RETRY_AFTER, header_value, retry_after_seconds

    hint = retry_after_seconds(headers)
    if hint is None:
        found = [parse_reset(header_value(headers, f"x-ratelimit-reset-{d}")) for d in ("requests", "tokens")]
        resets = [r for r in found if r is not None and math.isfinite(r)]
        hint = max(resets) if resets else DEFAULT_429_PAUSE
    return min(hint, MAX_RETRY_AFTER)


class RateLimiter:
    """Thread-safe RPM + TPM limiter; waiters are served first come, first served.

    ``acquire`` blocks until the request fits (the waiter at the head of the queue sleeps outside
    the lock; the others wait on a condition), ``settle`` corrects the estimate with the real
    usage, ``observe`` keeps in step with the API's ``x-ratelimit-*`` headers and pauses every
    thread on a 429. All methods are thread-safe.

        >>> limiter = RateLimiter(RateLimit(rpm=500, tpm=200_000))
        >>> res = limiter.acquire(1200)
        >>> limiter.settle(res, 950)
    """

    def __init__(self, limits: RateLimit | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] | None = None, name: str = "") -> None:
        if limits is not None and not isinstance(limits, RateLimit):
            raise ConfigurationError(f"limits must be a RateLimit, got {type(limits).__name__}")
        self.limits = limits or RateLimit()
        self.name = name
        self._clock = clock
        self._sleep = sleep  # None: wait on the condition, so a refund or a header wakes us early
        self._cond = threading.Condition(threading.Lock())
        now = clock()
        lim = self.limits
        self._requests = _Budget(lim.rpm, lim.burst_requests, now, lim.window) if lim.rpm else None
        self._tokens = _Budget(lim.tpm, lim.burst_tokens, now, lim.window) if lim.tpm else None
        self._paused_until = now
        self._queue: deque[int] = deque()
        self._tickets = itertools.count()
        self.waited = 0.0  # total seconds callers spent waiting (for stats)

    def __repr__(self) -> str:
        return f"RateLimiter({self.name or 'local'}, rpm={self.limits.rpm}, tpm={self.limits.tpm})"

    @property
    def capacity(self) -> tuple[int | None, int | None]:
        """The largest single request (requests, tokens) that can ever pass."""
        with self._cond:
            return (self._requests.burst if self._requests else None,
                    self._tokens.burst if self._tokens else None)

    def _wait_for(self, tokens: int, now: float) -> float:
        wait = max(self._paused_until - now, 0.0)
        if self._requests is not None:
            wait = max(wait, self._requests.wait(1, now))
        if self._tokens is not None and tokens:
            wait = max(wait, self._tokens.wait(tokens, now))
        return wait

    def _check_fits(self, tokens: int) -> None:
        if self._tokens is not None and tokens > self._tokens.burst:
            raise RateLimitTimeoutError(
                f"request needs {tokens} tokens but the {self.name or 'rate'} limit allows at most "
                f"{self._tokens.burst} at once (tpm={self._tokens.limit}); lower max_completion_tokens "
                f"or raise the limit")

    def acquire(self, tokens: int = 0, timeout: float | None = None) -> Reservation:
        """Wait for one request slot and ``tokens`` tokens.

        Raises:
            RateLimitTimeoutError: the wait would pass ``timeout`` (default ``limits.timeout``),
                or the request is larger than the whole bucket (at once, without waiting).
        """
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ConfigurationError(f"tokens must be a non-negative int, got {tokens!r}")
        timeout = self.limits.timeout if timeout is None else check_number(timeout, "timeout", allow_zero=True)
        start = self._clock()
        deadline = None if timeout is None else start + timeout
        with self._cond:
            self._check_fits(tokens)
            ticket = next(self._tickets)
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    while self._queue[0] != ticket:
                        left = None if deadline is None else deadline - self._clock()
                        if left is not None and left <= 0:
                            raise self._timeout_error(tokens, timeout)
                        self._cond.wait(left)
                    self._check_fits(tokens)  # a learned lower limit may have shrunk the bucket
                    now = self._clock()
                    wait = self._wait_for(tokens, now)
                    if wait <= 0:
                        entry = self._tokens.take(tokens, now) if self._tokens is not None and tokens else None
                        req = self._requests.take(1, now) if self._requests is not None else None
                        self._queue.popleft()
                        self._cond.notify_all()
                        self.waited += now - start
                        return Reservation(tokens, now, entry, req)
                    if deadline is not None and now + wait > deadline:
                        raise self._timeout_error(tokens, timeout, wait)
                    if self._sleep is None:
                        self._cond.wait(wait)
                        continue
                self._sleep(wait)
        except BaseException:
            leave_queue(self._cond, self._queue, ticket)
            raise

    def _timeout_error(self, tokens: int, timeout: float | None, wait: float | None = None) -> RateLimitTimeoutError:
        more = f" (capacity in {wait:.2f}s)" if wait is not None else ""
        return RateLimitTimeoutError(f"no rate-limit capacity for 1 request / {tokens} tokens within "
                                     f"{timeout}s{more}")

    def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Correct a reservation with the real usage (0 refunds the tokens, e.g. on failure).

        The request slot stays spent: the API counts failed requests too. Its window entries are
        stamped now, since the server counted the request when it arrived (after the grant).
        Retries charged with ``charge_retry`` keep their estimate. Settling twice is a no-op,
        also from two threads at once.
        """
        actual = max(int(actual_tokens or 0), 0)
        with self._cond:
            if reservation.settled:
                return
            reservation.settled = True
            now = self._clock()
            for res, used in ((reservation, actual), *((r, r.tokens) for r in reservation.retries)):
                res.settled = True
                self._restamp(res, used, now)
            self._cond.notify_all()

    def settle_attempt(self, res: Reservation, used: int) -> None:
        """Stamp one attempt's entries now with ``used`` tokens, leaving its retries alone (a
        RedisRateLimiter settles each attempt itself, some here in its local fallback)."""
        with self._cond:
            self._restamp(res, used, self._clock())
            self._cond.notify_all()

    def _restamp(self, res: Reservation, used: int, now: float) -> None:
        if self._requests is not None:
            res._requests_entry = self._requests.adjust(res._requests_entry, 0, now)
        if self._tokens is not None and (res._entry is not None or used != res.tokens):
            res._entry = self._tokens.adjust(res._entry, used - res.tokens, now)

    def charge_retry(self, reservation: Reservation, timeout: float | None = None) -> None:
        """Charge a re-sent attempt of the call holding ``reservation`` like a first attempt.

        The transport calls this before each retry (the API counts every request it receives):
        the previous attempt's entries are stamped now (its answer has arrived, so the server
        counted it before now), then this waits for capacity like ``acquire``.
        ``settle(reservation)`` settles the retries too, keeping their estimate.
        """
        last = reservation.retries[-1] if reservation.retries else reservation
        self.settle_attempt(last, last.tokens)
        reservation.retries.append(self.acquire(reservation.tokens, timeout))

    def observe(self, status_code: int, headers: Mapping[str, str]) -> None:
        """Learn from one HTTP response: ``x-ratelimit-*`` headers and 429 pauses."""
        h = _lower(headers)
        pause = pause_from_headers(status_code, h)
        with self._cond:
            now = self._clock()
            learn = self.limits.learn
            for budget, dim in ((self._requests, "requests"), (self._tokens, "tokens")):
                if budget is None:
                    continue
                remaining = _int_header(h, f"x-ratelimit-remaining-{dim}")
                limit = _int_header(h, f"x-ratelimit-limit-{dim}")
                if remaining is not None or limit is not None:
                    budget.sync(limit, remaining, now, learn)
            if pause:
                self._paused_until = max(self._paused_until, now + pause)
            self._cond.notify_all()

    def pause(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` (what a 429 does)."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + seconds)

    def snapshot(self) -> dict[str, Any]:
        """Current levels, for logs and tests."""
        with self._cond:
            now = self._clock()
            out: dict[str, Any] = {"paused_for": max(self._paused_until - now, 0.0), "waiting": len(self._queue)}
            for dim, b in (("requests", self._requests), ("tokens", self._tokens)):
                if b is not None:
                    b._refill(now)
                    out[dim] = {"limit": b.limit, "burst": b.burst, "level": b.level, "window_spent": b.spent}
            return out


# -- construction used by the provider ---------------------------------------------------------
_registry: "weakref.WeakValueDictionary[tuple[Any, ...], Any]" = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


def build_limiter(rate_limit: Any, profile: Any, key_id: str) -> Any:
    """The limiter a provider should use.

    Args:
        rate_limit: None (no limiting), a RateLimit, a RateLimiter (or RedisRateLimiter) shared
            as is, or ``"default"`` for the profile's ``default_rpm``/``default_tpm``.
        profile: the ModelProfile.
        key_id: a non-secret fingerprint of the API key.

    Providers with the same model, key fingerprint and limits share one limiter (one budget).
    """
    if rate_limit is None or rate_limit is False:
        return None
    if hasattr(rate_limit, "acquire") and hasattr(rate_limit, "observe"):
        return rate_limit
    if rate_limit == "default":
        limits = RateLimit(rpm=profile.default_rpm or None, tpm=profile.default_tpm or None)
    elif isinstance(rate_limit, RateLimit):
        limits = rate_limit
    else:
        raise ConfigurationError("rate_limit must be None, 'default', a RateLimit or a RateLimiter, "
                                 f"got {type(rate_limit).__name__}")
    model = getattr(profile, "api_id", None) or getattr(profile, "key", str(profile))
    key = (model, key_id, limits)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = RateLimiter(limits, name=f"{model}/{key_id}")
            _registry[key] = limiter
        return limiter
