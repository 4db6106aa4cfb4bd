"""See and bound what the library does: hooks (events), a usage Ledger, Budgets, prices, and
OpenTelemetry GenAI spans and metrics (``instrument``, extra ``otel``).

Only ``hooks`` loads with the package; the rest loads on first use.
"""

from __future__ import annotations

from .hooks import Call, Event, EventType, current_call, scope, subscribe, unsubscribe

_LAZY = {
    "Budget": ".budget",
    "Ledger": ".ledger",
    "LedgerRow": ".ledger",
    "PRICES_AS_OF": ".prices",
    "Totals": ".ledger",
    "instrument": ".otel",
    "load_prices": ".prices",
    "price_table": ".prices",
    "set_prices": ".prices",
    "uninstrument": ".otel",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_client_sync.observe' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "Budget",
    "Call",
    "Event",
    "EventType",
    "Ledger",
    "LedgerRow",
    "PRICES_AS_OF",
    "Totals",
    "current_call",
    "instrument",
    "load_prices",
    "price_table",
    "scope",
    "set_prices",
    "subscribe",
    "uninstrument",
    "unsubscribe",
]
