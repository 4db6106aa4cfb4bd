"""Ledger: every billed model call (provider, model, tokens, USD, context tags), totals by any
tag, exported as JSON or CSV rows. A hooks subscriber, shared across providers and threads.

    >>> ledger = Ledger().attach()                     # hears every provider from now on
    >>> with scope(context={"tenant": "acme"}):        # doctest: +SKIP
    ...     provider.complete("Hi")
    >>> ledger.totals(by="tenant")["acme"].cost        # doctest: +SKIP
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from ..types import FrozenDict, Usage
from .hooks import Event, EventType, subscribe

__all__ = ["Ledger", "LedgerRow", "Totals"]

_FIELDS = ("time", "provider", "operation", "model", "response_model", "request_id", "prompt_tokens",
           "completion_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens", "total_tokens",
           "cost", "batch")


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One billed call. ``cost`` is None when the model has no prices."""

    time: float
    provider: str | None
    operation: str | None
    model: str | None
    response_model: str | None
    request_id: str | None
    usage: Usage
    cost: float | None
    batch: bool = False
    tags: Mapping[str, Any] = field(default_factory=FrozenDict)

    def to_dict(self) -> dict[str, Any]:
        """A flat dict: the fields, the token counts, and the tags (as ``tag.<name>`` in CSV)."""
        out: dict[str, Any] = {"time": self.time, "provider": self.provider, "operation": self.operation,
                               "model": self.model, "response_model": self.response_model,
                               "request_id": self.request_id}
        out.update(self.usage.to_dict())
        out.update(cost=self.cost, batch=self.batch, tags=dict(self.tags))
        return out


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over a group of rows (``cost`` None when no row had a known cost)."""

    calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None

    def add(self, row: LedgerRow) -> "Totals":
        cost = self.cost if row.cost is None else round((self.cost or 0.0) + row.cost, 10)
        return Totals(self.calls + 1, self.usage + row.usage, cost)


class Ledger:
    """Records billed calls. Thread-safe.

    A call is billed when it finished with usage and was not served from the cache; items of an
    OpenAI Batch API job are recorded when their results are fetched (``batch=True``), once per
    (batch id, item id) however often the results are fetched again (``resume()``). ``attach()``
    subscribes it to every provider; or pass it in a provider's ``hooks`` / a ``scope``'s hooks
    to record only those calls.
    """

    def __init__(self) -> None:
        self._rows: list[LedgerRow] = []
        self._batch_items: set[tuple[Any, Any]] = set()  # (batch id, item id) already recorded
        self._lock = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None

    def __call__(self, event: Event) -> None:
        # a model call, or an item of an OpenAI Batch API job (billed at the batch discount)
        billed = event.type == EventType.REQUEST_END or (event.type == EventType.BATCH_ITEM
                                                          and event.data.get("batch_api"))
        if not billed or event.usage is None or not event.usage.total_tokens or event.data.get("cached"):
            return
        row = LedgerRow(event.time, event.provider, event.operation, event.model, event.response_model,
                        event.request_id, event.usage, event.cost, bool(event.data.get("batch_api")),
                        FrozenDict(event.context))
        if not row.batch:
            self.record(row)
            return
        item = (event.data.get("batch_id"), event.data.get("id"))
        with self._lock:  # results fetched again (a second resume()) were billed once
            if item not in self._batch_items:
                self._batch_items.add(item)
                self._rows.append(row)

    def record(self, row: LedgerRow) -> None:
        """Add a row by hand (a call made outside the library, a correction)."""
        with self._lock:
            self._rows.append(row)

    def attach(self) -> "Ledger":
        """Subscribe to every provider's events (idempotent); returns self."""
        if self._unsubscribe is None:
            self._unsubscribe = subscribe(self, events={EventType.REQUEST_END, EventType.BATCH_ITEM})
        return self

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def __enter__(self) -> "Ledger":
        return self.attach()

    def __exit__(self, *exc: Any) -> None:
        self.detach()

    # -- reading ----------------------------------------------------------------------------
    def rows(self) -> list[LedgerRow]:
        with self._lock:
            return list(self._rows)

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def __iter__(self) -> Iterator[LedgerRow]:
        return iter(self.rows())

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._batch_items.clear()

    def total(self) -> Totals:
        out = Totals()
        for row in self.rows():
            out = out.add(row)
        return out

    def totals(self, by: str | Callable[[LedgerRow], Any] = "model") -> dict[Any, Totals]:
        """Totals grouped by a field (``"model"``, ``"provider"``, ``"operation"``), a context tag
        (``"tenant"``, ``"user"``, ...; rows without it group under None) or a function of a row."""
        key = by if callable(by) else _key(by)
        out: dict[Any, Totals] = {}
        for row in self.rows():
            k = key(row)
            out[k] = out.get(k, Totals()).add(row)
        return out

    # -- export -----------------------------------------------------------------------------
    def to_json(self) -> str:
        """The rows as a JSON array of flat objects."""
        return json.dumps([r.to_dict() for r in self.rows()], default=str)

    def to_csv(self) -> str:
        """The rows as CSV: the fixed columns, then one ``tag.<name>`` column per tag seen."""
        import csv
        import io

        rows = self.rows()
        tags = sorted({k for r in rows for k in r.tags})
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(list(_FIELDS) + [f"tag.{t}" for t in tags])
        for r in rows:
            d = r.to_dict()
            writer.writerow([d[f] for f in _FIELDS] + [r.tags.get(t, "") for t in tags])
        return buf.getvalue()


_ROW_FIELDS = frozenset({"provider", "operation", "model", "response_model", "request_id", "batch"})


def _key(name: str) -> Callable[[LedgerRow], Any]:
    if name in _ROW_FIELDS:
        return lambda row: getattr(row, name)
    return lambda row: row.tags.get(name)
