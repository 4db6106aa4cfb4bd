"""RedisRateLimiter: the RateLimiter's budgets kept in Redis, so processes and machines share one.

Every decision runs in one Lua script (atomic) on the Redis server's own clock (``TIME``), so
hosts with skewed clocks still agree. When Redis is unreachable (or frozen: no answer within
``socket_timeout``) the limiter falls back (see ``fallback``) and tries Redis again after
``retry_interval`` seconds; callers queued behind the one that found out pay no second timeout.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from collections import deque
from typing import Any, Callable, Mapping

from .._checks import check_str
from ..errors import ConfigurationError, RateLimiterUnavailableError, RateLimitTimeoutError
from .limiter import RateLimit, RateLimiter, Reservation, _int_header, _lower, leave_queue, pause_from_headers

__all__ = ["RedisRateLimiter"]

log = logging.getLogger("llm_client_sync.rate_limit")

# KEYS: 1 state hash, 2 requests ledger, 3 tokens ledger. Ledger members are "id|amount", scored
# by grant time. Budget fields in the hash: <dim>:level, <dim>:stamp, <dim>:spent, <dim>:limit.
_LUA_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[1])
local state = KEYS[1]
local function limit_of(dim, configured)
  local learned = tonumber(redis.call('HGET', state, dim .. ':limit') or '0')
  if learned > 0 and learned < configured then return learned end
  return configured
end
local function refill(dim, zkey, limit, burst)
  local level = tonumber(redis.call('HGET', state, dim .. ':level') or burst)
  local stamp = tonumber(redis.call('HGET', state, dim .. ':stamp') or now)
  local spent = tonumber(redis.call('HGET', state, dim .. ':spent') or '0')
  if now > stamp then
    level = math.min(burst, level + (now - stamp) * limit / window)
    stamp = now
  end
  local old = redis.call('ZRANGEBYSCORE', zkey, '-inf', now - window)
  for _, m in ipairs(old) do
    spent = spent - tonumber(string.match(m, '|(.+)$'))
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', zkey, '-inf', now - window) end
  if redis.call('ZCARD', zkey) == 0 then spent = 0 end
  return level, stamp, spent
end
local function store(dim, zkey, level, stamp, spent)
  redis.call('HSET', state, dim .. ':level', level, dim .. ':stamp', stamp, dim .. ':spent', spent)
  redis.call('PEXPIRE', zkey, math.floor(window * 2000))
end
"""

_ACQUIRE = _LUA_COMMON + """
-- ARGV: 2 tokens, 3 reservation id, 4 rpm, 5 tpm, 6 burst requests, 7 burst tokens
local tokens = tonumber(ARGV[2])
local dims = {{'requests', KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[6]), 1},
              {'tokens', KEYS[3], tonumber(ARGV[5]), tonumber(ARGV[7]), tokens}}
local wait = math.max(tonumber(redis.call('HGET', state, 'paused_until') or '0') - now, 0)
local vals = {}
for i, d in ipairs(dims) do
  local dim, zkey, configured, burst_cfg, amount = d[1], d[2], d[3], d[4], d[5]
  if configured > 0 and amount > 0 then
    local limit = limit_of(dim, configured)
    local burst = math.min(burst_cfg, limit)
    if amount > burst then return {-1, tostring(burst)} end
    local level, stamp, spent = refill(dim, zkey, limit, burst)
    vals[i] = {level, stamp, spent}
    if level < amount then wait = math.max(wait, (amount - level) * window / limit) end
    local over = spent + amount - limit
    if over > 1e-9 then
      local freed = 0
      local entries = redis.call('ZRANGE', zkey, 0, -1, 'WITHSCORES')
      for j = 1, #entries, 2 do
        freed = freed + tonumber(string.match(entries[j], '|(.+)$'))
        if freed >= over - 1e-9 then
          wait = math.max(wait, tonumber(entries[j + 1]) + window - now)
          break
        end
      end
    end
  end
end
if wait > 0 then
  for i, d in ipairs(dims) do
    if vals[i] then store(d[1], d[2], vals[i][1], vals[i][2], vals[i][3]) end
  end
  return {0, tostring(wait)}
end
for i, d in ipairs(dims) do
  if vals[i] then
    redis.call('ZADD', d[2], now, ARGV[3] .. '|' .. d[5])
    store(d[1], d[2], vals[i][1] - d[5], vals[i][2], vals[i][3] + d[5])
  end
end
redis.call('PEXPIRE', state, math.floor(window * 2000))
return {1, tostring(now)}
"""

_SETTLE = _LUA_COMMON + """
-- ARGV: 2 reservation id, 3 reserved tokens, 4 actual tokens, 5 tpm, 6 burst tokens
-- Entries still in the window are stamped now: the server counted the request when it arrived.
local rmember = ARGV[2] .. '|1'
if redis.call('ZSCORE', KEYS[2], rmember) then
  redis.call('ZADD', KEYS[2], now, rmember)
  redis.call('PEXPIRE', KEYS[2], math.floor(window * 2000))
end
if tonumber(ARGV[5]) <= 0 then return 1 end
local zkey = KEYS[3]
local reserved, actual = tonumber(ARGV[3]), tonumber(ARGV[4])
local limit = limit_of('tokens', tonumber(ARGV[5]))
local burst = math.min(tonumber(ARGV[6]), limit)
local level, stamp, spent = refill('tokens', zkey, limit, burst)
local delta = actual - reserved
level = math.min(burst, level - delta)
local member = ARGV[2] .. '|' .. ARGV[3]
if redis.call('ZSCORE', zkey, member) then
  redis.call('ZREM', zkey, member)
  redis.call('ZADD', zkey, now, ARGV[2] .. '|' .. actual)
  spent = spent + delta
end
store('tokens', zkey, level, stamp, spent)
return 1
"""

_OBSERVE = _LUA_COMMON + """
-- ARGV: 2 pause seconds, 3 rpm, 4 tpm, 5 burst r, 6 burst t, 7 learn,
--       8 limit r, 9 remaining r, 10 limit t, 11 remaining t  (-1: header absent)
local pause = tonumber(ARGV[2])
if pause > 0 then
  local until_ = math.max(tonumber(redis.call('HGET', state, 'paused_until') or '0'), now + pause)
  redis.call('HSET', state, 'paused_until', until_)
end
local dims = {{'requests', KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[5]), tonumber(ARGV[8]), tonumber(ARGV[9])},
              {'tokens', KEYS[3], tonumber(ARGV[4]), tonumber(ARGV[6]), tonumber(ARGV[10]), tonumber(ARGV[11])}}
for _, d in ipairs(dims) do
  local dim, zkey, configured, burst_cfg, hlimit, remaining = d[1], d[2], d[3], d[4], d[5], d[6]
  if configured > 0 and (hlimit >= 0 or remaining >= 0) then
    if ARGV[7] == '1' and hlimit > 0 and hlimit < limit_of(dim, configured) then
      redis.call('HSET', state, dim .. ':limit', hlimit)
    end
    local limit = limit_of(dim, configured)
    local burst = math.min(burst_cfg, limit)
    local level, stamp, spent = refill(dim, zkey, limit, burst)
    if remaining >= 0 and remaining < level then level = remaining end
    store(dim, zkey, level, stamp, spent)
  end
end
redis.call('PEXPIRE', state, math.floor(window * 2000))
return 1
"""


class RedisRateLimiter:
    """A RateLimiter whose budgets live in Redis (same interface: acquire, settle, observe).

    Args:
        limits: the shared RateLimit (every process should pass the same).
        url / client: a Redis URL or a ready ``redis.Redis`` client.
        name: the budget's key (e.g. ``"gpt-5-nano/<key fingerprint>"``); processes with the same
            name share it.
        fallback: what ``acquire`` does while Redis is unreachable (or frozen):
            "local" (default): this process limits itself alone with ``fallback_share`` of the
            limits (its own window starts empty). The budget: N processes falling back together
            may send up to ``N * fallback_share`` times the limit per window, so pass
            ``fallback_share=1/N`` to stay under the shared limit; what the shared ledger had
            already granted is not known locally.
            "open": no limiting until Redis answers again.
            "raise": fail closed: every ``acquire`` raises RateLimiterUnavailableError until
            Redis answers again (nothing is sent unlimited).
        retry_interval: seconds before trying Redis again after a failure; in between, no caller
            waits on Redis (a frozen Redis costs one ``socket_timeout`` per interval, not one
            per caller).
        poll: longest single sleep while waiting (other processes may free capacity sooner).
        socket_timeout: seconds to wait for Redis to answer (connect and each command).

    Waiters in one process are served in order; across processes, whoever asks first after
    capacity frees wins. Thread-safe.
    """

    def __init__(self, limits: RateLimit, *, url: str | None = None, client: Any = None, name: str = "default",
                 prefix: str = "llm_client_sync:rl", fallback: str = "local", fallback_share: float = 1.0,
                 retry_interval: float = 5.0, poll: float = 1.0, socket_timeout: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if not isinstance(limits, RateLimit):
            raise ConfigurationError(f"limits must be a RateLimit, got {type(limits).__name__}")
        check_str(url, "url", allow_none=True)
        if fallback not in ("local", "open", "raise"):
            raise ConfigurationError("fallback must be 'local', 'open' or 'raise'")
        if not 0 < fallback_share <= 1:
            raise ConfigurationError("fallback_share must be in (0, 1]")
        if client is None:
            from .._extras import import_extra

            redis = import_extra("redis", "redis", "RedisRateLimiter")
            client = redis.Redis.from_url(url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                                          socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout)
        self.limits = limits
        self.name = name
        self._redis = client
        base = f"{prefix}:{name}"
        self._keys = [f"{base}:state", f"{base}:requests", f"{base}:tokens"]
        self._acquire_lua = client.register_script(_ACQUIRE)
        self._settle_lua = client.register_script(_SETTLE)
        self._observe_lua = client.register_script(_OBSERVE)
        self.fallback = fallback
        self.retry_interval = retry_interval
        self.poll = poll
        self._clock = clock
        self._sleep = sleep
        share = lambda v: max(1, int(v * fallback_share)) if v else None  # noqa: E731
        self._local = RateLimiter(RateLimit(rpm=share(limits.rpm), tpm=share(limits.tpm),
                                            burst_requests=share(limits.burst_requests),
                                            burst_tokens=share(limits.burst_tokens), timeout=limits.timeout,
                                            learn=limits.learn, window=limits.window), clock=clock, sleep=sleep, name=f"{name} (fallback)")
        self._down_until = float("-inf")
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[int] = deque()
        self._tickets = itertools.count()
        self._ids = f"{uuid.uuid4().hex[:12]}-"
        self._seq = itertools.count()

    def __repr__(self) -> str:
        return f"RedisRateLimiter({self.name}, rpm={self.limits.rpm}, tpm={self.limits.tpm})"

    @property
    def degraded(self) -> bool:
        """True while Redis is considered down and the fallback is in use."""
        return self._clock() < self._down_until

    def _args(self) -> list[Any]:
        lim = self.limits
        return [lim.rpm or 0, lim.tpm or 0, lim.burst_requests or lim.rpm or 0, lim.burst_tokens or lim.tpm or 0]

    def _redis_failed(self, exc: BaseException) -> None:
        """Mark Redis down for ``retry_interval`` (every caller uses the fallback meanwhile)."""
        with self._cond:
            if not self.degraded:
                log.warning("rate limiter %s: Redis unavailable (%s); fallback=%s for %.0fs",
                            self.name, type(exc).__name__, self.fallback, self.retry_interval)
            self._down_until = self._clock() + self.retry_interval
            self._cond.notify_all()

    def _unavailable(self, exc: BaseException | None = None) -> RateLimiterUnavailableError:
        cause = f" ({type(exc).__name__})" if exc is not None else ""
        return RateLimiterUnavailableError(
            f"rate limiter {self.name}: Redis unavailable{cause} and fallback='raise'; no request is sent "
            f"until Redis answers (next try within {self.retry_interval:g}s). Check the Redis URL and server, "
            "or pass fallback='local' to limit each process alone meanwhile")

    def _errors(self) -> tuple[type[BaseException], ...]:
        import redis

        return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

    def acquire(self, tokens: int = 0, timeout: float | None = None) -> Reservation:
        """Like RateLimiter.acquire, against the shared budget."""
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ConfigurationError(f"tokens must be a non-negative int, got {tokens!r}")
        timeout = self.limits.timeout if timeout is None else timeout
        deadline = None if timeout is None else self._clock() + timeout
        if self.degraded:
            return self._fallback_acquire(tokens, deadline)
        with self._cond:
            ticket = next(self._tickets)
            self._queue.append(ticket)
        try:
            while True:
                with self._cond:
                    while self._queue[0] != ticket and not self.degraded:
                        left = None if deadline is None else deadline - self._clock()
                        if left is not None and left <= 0:
                            raise RateLimitTimeoutError(f"no shared rate-limit capacity within {timeout}s")
                        self._cond.wait(left)
                if self.degraded:  # the caller ahead of us found Redis down: don't wait on it again
                    self._leave(ticket)
                    return self._fallback_acquire(tokens, deadline)
                rid = f"{self._ids}{next(self._seq)}"
                try:
                    granted, value = self._acquire_lua(keys=self._keys,
                                                       args=[self.limits.window, tokens, rid, *self._args()])
                except self._errors() as exc:
                    self._redis_failed(exc)
                    self._leave(ticket)
                    if self.fallback == "raise":
                        raise self._unavailable(exc) from exc
                    return self._fallback_acquire(tokens, deadline)
                value = float(value)
                if int(granted) == 1:
                    self._leave(ticket)
                    res = Reservation(tokens, value, None)
                    res._entry = [rid]  # type: ignore[assignment]  # settle finds the ledger member by id
                    return res
                if int(granted) == -1:
                    raise RateLimitTimeoutError(f"request needs {tokens} tokens but the shared limit {self.name} "
                                                f"allows at most {int(value)} at once")
                if deadline is not None and self._clock() + value > deadline:
                    raise RateLimitTimeoutError(f"no shared rate-limit capacity within {timeout}s "
                                                f"(capacity in {value:.2f}s)")
                self._sleep(min(value, self.poll))
        except BaseException:
            self._leave(ticket)
            raise

    def _leave(self, ticket: int) -> None:
        leave_queue(self._cond, self._queue, ticket)

    def _fallback_acquire(self, tokens: int, deadline: float | None) -> Reservation:
        if self.fallback == "raise":
            raise self._unavailable()
        if self.fallback == "open":
            return Reservation(tokens, self._clock(), None)
        left = None if deadline is None else max(deadline - self._clock(), 0.0)
        res = self._local.acquire(tokens, timeout=left)
        res._entry = ("local", res._entry)  # type: ignore[assignment]
        return res

    def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Correct the shared ledger with the real usage (0 refunds) and stamp its entries now.

        Settling twice is a no-op, also from two threads at once. A settle lost to a Redis
        outage is logged at WARNING: the estimate then stays charged until the window passes.
        """
        with self._cond:
            if reservation.settled:
                return
            reservation.settled = True
        actual = max(int(actual_tokens or 0), 0)
        for res, used in ((reservation, actual), *((r, r.tokens) for r in reservation.retries)):
            res.settled = True
            entry = res._entry
            if isinstance(entry, tuple) and entry and entry[0] == "local":
                res._entry = entry[1]
                self._local.settle_attempt(res, used)  # this attempt alone: the loop settles the retries
            elif entry is not None:
                self._settle_shared(res, entry[0], used)

    def _settle_shared(self, res: Reservation, rid: str, actual: int) -> None:
        if self.degraded:
            log.warning("settle of %s lost: Redis unavailable; %d reserved tokens stay charged for the window",
                        self.name, res.tokens)
            return
        lim = self.limits
        try:
            self._settle_lua(keys=self._keys, args=[lim.window, rid, res.tokens, actual, lim.tpm or 0,
                                                    lim.burst_tokens or lim.tpm or 0])
        except self._errors() as exc:
            log.warning("settle of %s lost: Redis unavailable (%s); %d reserved tokens stay charged for the window",
                        self.name, type(exc).__name__, res.tokens)
            self._redis_failed(exc)

    def charge_retry(self, reservation: Reservation, timeout: float | None = None) -> None:
        """Charge a re-sent attempt of the call holding ``reservation`` like a first attempt
        (the previous attempt's entries are stamped now, as in ``RateLimiter.charge_retry``)."""
        last = reservation.retries[-1] if reservation.retries else reservation
        entry = last._entry
        if isinstance(entry, tuple) and entry and entry[0] == "local":
            last._entry = entry[1]
            self._local.settle_attempt(last, last.tokens)
            last._entry = ("local", last._entry)
        elif entry is not None:
            self._settle_shared(last, entry[0], last.tokens)
        reservation.retries.append(self.acquire(reservation.tokens, timeout))

    def observe(self, status_code: int, headers: Mapping[str, str]) -> None:
        """Share what the API said (remaining, limits, 429 pauses) with every process."""
        self._local.observe(status_code, headers)
        if self.degraded:
            return
        h = _lower(headers)
        pause = pause_from_headers(status_code, h) or 0.0
        nums = [_int_header(h, f"x-ratelimit-{kind}-{dim}") for dim in ("requests", "tokens")
                for kind in ("limit", "remaining")]
        if not pause and all(n is None for n in nums):
            return
        args = [self.limits.window, pause, *self._args(), "1" if self.limits.learn else "0",
                *(-1 if n is None else n for n in nums)]
        try:
            self._observe_lua(keys=self._keys, args=args)
        except self._errors() as exc:  # observe runs inside the transport: never raise there
            self._redis_failed(exc)

    def reset(self) -> None:
        """Forget the shared state (tests, or after changing limits)."""
        self._redis.delete(*self._keys)
