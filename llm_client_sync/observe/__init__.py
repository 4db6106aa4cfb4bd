"""See and bound what the library does: hooks (events) and Budgets load with the library; the
Ledger (``observe.ledger``, also ``llm_client_sync.Ledger``), prices (``observe.prices``) and
OpenTelemetry (``observe.otel``, ``llm_client_sync.instrument``, extra ``otel``) load when used.
"""

from __future__ import annotations

from .budget import Budget
from .hooks import Call, Event, EventType, current_call, scope, subscribe, unsubscribe

__all__ = ["Budget", "Call", "Event", "EventType", "current_call", "scope", "subscribe", "unsubscribe"]
