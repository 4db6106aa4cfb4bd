"""Budget: a USD and/or token cap checked before every model call, with the call's estimated cost.

    >>> budget = Budget(max_usd=0.50)
    >>> provider = OpenAIProvider("gpt-5-nano", budget=budget)      # doctest: +SKIP
    >>> agent.run("...", budget=Budget(max_tokens=20_000))          # doctest: +SKIP
    >>> with scope(budget=budget): runner.run(items)                # doctest: +SKIP

A call is allowed when what was spent, plus what calls in flight have reserved, plus this
call's estimate stays within the cap; otherwise ``BudgetExceededError`` is raised and nothing
is sent. The estimate is the rate limiter's (``request_cost``: estimated prompt tokens plus the
maximum completion), priced with the model profile, so concurrent calls never overshoot the
cap by more than the estimates were wrong.
"""

from __future__ import annotations

import threading
from typing import Any, Iterable, Mapping

from ..errors import BudgetExceededError, ConfigurationError
from .hooks import scoped_budgets

__all__ = ["Budget", "BudgetHold", "estimate_call", "reserve", "settle"]


class BudgetHold:
    """What one call reserved on each budget that applies to it; ``settle`` replaces it with the
    real usage (or gives it back when the call failed without usage)."""

    __slots__ = ("items", "profile", "settled")

    def __init__(self, items: list[tuple["Budget", float, int]], profile: Any) -> None:
        self.items = items
        self.profile = profile
        self.settled = False


class Budget:
    """A spending cap (``max_usd``, ``max_tokens``, or both). Thread-safe: share one across
    threads, providers, agent runs and batch workers.

    ``spent_usd``/``spent_tokens`` count finished calls; ``reserved_*`` calls in flight.
    Raise the cap with ``update(max_usd=...)`` to resume a run that stopped on it.
    """

    def __init__(self, max_usd: float | None = None, max_tokens: int | None = None, *, name: str | None = None) -> None:
        _check_limits(max_usd, max_tokens)
        if max_usd is None and max_tokens is None:
            raise ConfigurationError("Budget needs max_usd, max_tokens or both")
        self.max_usd = None if max_usd is None else float(max_usd)
        self.max_tokens = max_tokens
        self.name = name
        self.spent_usd = 0.0
        self.spent_tokens = 0
        self.reserved_usd = 0.0
        self.reserved_tokens = 0
        self.calls = 0
        self.refused = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"Budget(max_usd={self.max_usd}, max_tokens={self.max_tokens}, spent_usd={self.spent_usd:.6f}, "
                f"spent_tokens={self.spent_tokens})")

    # -- the cap ---------------------------------------------------------------------------
    def update(self, *, max_usd: float | None = None, max_tokens: int | None = None) -> "Budget":
        """Change the cap(s) given (e.g. raise it to resume a batch that stopped on it)."""
        _check_limits(max_usd, max_tokens)
        with self._lock:
            if max_usd is not None:
                self.max_usd = float(max_usd)
            if max_tokens is not None:
                self.max_tokens = max_tokens
        return self

    @property
    def remaining_usd(self) -> float | None:
        with self._lock:
            return None if self.max_usd is None else self.max_usd - self.spent_usd - self.reserved_usd

    @property
    def remaining_tokens(self) -> int | None:
        with self._lock:
            return None if self.max_tokens is None else self.max_tokens - self.spent_tokens - self.reserved_tokens

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"name": self.name, "max_usd": self.max_usd, "max_tokens": self.max_tokens,
                    "spent_usd": round(self.spent_usd, 10), "spent_tokens": self.spent_tokens,
                    "reserved_usd": round(self.reserved_usd, 10), "reserved_tokens": self.reserved_tokens,
                    "calls": self.calls, "refused": self.refused}

    # -- reservations ----------------------------------------------------------------------
    def _take(self, usd: float | None, tokens: int, model: str) -> None:
        with self._lock:
            if self.max_usd is not None:
                if usd is None:
                    self.refused += 1
                    raise BudgetExceededError(
                        f"{self._label()} has max_usd but model {model!r} has no prices, so the call cannot be "
                        "checked; set its prices (llm_client_sync.observe.prices.set_prices) or use max_tokens",
                        spent=self.spent_usd, limit=self.max_usd)
                if self.spent_usd + self.reserved_usd + usd > self.max_usd + 1e-12:
                    self.refused += 1
                    raise BudgetExceededError(
                        f"{self._label()} of ${self.max_usd:g} would be crossed: ${self.spent_usd:.6f} spent, "
                        f"${self.reserved_usd:.6f} in flight, this call estimated at ${usd:.6f}; raise it with "
                        "budget.update(max_usd=...)", spent=self.spent_usd, limit=self.max_usd, estimate=usd)
            if self.max_tokens is not None and self.spent_tokens + self.reserved_tokens + tokens > self.max_tokens:
                self.refused += 1
                raise BudgetExceededError(
                    f"{self._label()} of {self.max_tokens} tokens would be crossed: {self.spent_tokens} spent, "
                    f"{self.reserved_tokens} in flight, this call estimated at {tokens}; raise it with "
                    "budget.update(max_tokens=...)", spent=self.spent_tokens, limit=self.max_tokens,
                    estimate=tokens)
            self.reserved_usd += usd or 0.0
            self.reserved_tokens += tokens

    def _give_back(self, usd: float, tokens: int, real_usd: float | None, real_tokens: int | None) -> None:
        with self._lock:
            self.reserved_usd = max(0.0, self.reserved_usd - usd)
            self.reserved_tokens = max(0, self.reserved_tokens - tokens)
            if real_tokens is not None:
                self.calls += 1
                self.spent_tokens += real_tokens
                self.spent_usd += real_usd or 0.0

    def _label(self) -> str:
        return f"budget {self.name!r}" if self.name else "the budget"


def _check_limits(max_usd: float | None, max_tokens: int | None) -> None:
    if max_usd is not None and (isinstance(max_usd, bool) or not isinstance(max_usd, (int, float)) or max_usd < 0):
        raise ConfigurationError(f"max_usd must be a non-negative number, got {max_usd!r}")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0):
        raise ConfigurationError(f"max_tokens must be a non-negative int, got {max_tokens!r}")


def estimate_call(body: Mapping[str, Any], profile: Any) -> tuple[int, float | None]:
    """(tokens, USD) a request may cost at most: the limiter's estimate, priced by the profile."""
    from ..ratelimit import request_cost

    tokens = request_cost(body, profile)
    # the same estimate with no completion allowance is the prompt part
    prompt = min(tokens, request_cost({**body, "max_completion_tokens": 0, "n": 1}, profile))
    return tokens, profile.cost(prompt, tokens - prompt)


def reserve(body: Mapping[str, Any], profile: Any, own: "Budget | None" = None,
            extra: Iterable["Budget"] = ()) -> BudgetHold | None:
    """Reserve a request's estimate on ``own`` (a provider's budget), ``extra`` and the budgets of
    the enclosing ``scope``s; raises BudgetExceededError (taking nothing) when one would be crossed."""
    scoped = scoped_budgets()
    if own is None and not extra and not scoped:
        return None
    budgets = [b for b in ((own,) if own is not None else ()) + tuple(extra) + scoped if b is not None]
    tokens, usd = estimate_call(body, profile)
    taken: list[tuple[Budget, float, int]] = []
    seen: set[int] = set()
    try:
        for b in budgets:
            if id(b) in seen:
                continue
            seen.add(id(b))
            b._take(usd, tokens, getattr(profile, "api_id", "?"))
            taken.append((b, usd or 0.0, tokens))
    except BudgetExceededError:
        for b, u, t in taken:
            b._give_back(u, t, None, None)
        raise
    return BudgetHold(taken, profile)


def settle(hold: BudgetHold | None, usage: Any, *, batch: bool = False) -> None:
    """Replace a hold's estimate with the real usage (``None``: the call failed, nothing billed)."""
    if hold is None or hold.settled:
        return
    hold.settled = True
    tokens = usage.total_tokens if usage is not None else None
    usd = hold.profile.usage_cost(usage, batch=batch) if usage is not None else None
    for b, u, t in hold.items:
        b._give_back(u, t, usd, tokens)
