"""Hooks: the one event path. Callbacks hear what each call does (start/end, retries, fail-over,
cache, limiter waits, first chunk, tools, agent turns, batch items); OpenTelemetry and the Ledger
are subscribers like any other.

    >>> from llm_client_sync.observe import subscribe, scope
    >>> unsubscribe = subscribe(lambda e: print(e.type, e.model, e.cost), events={"request_end"})
    >>> with scope(context={"tenant": "acme"}):      # doctest: +SKIP
    ...     provider.complete("Hi")                   # request_end gpt-5-nano 1.2e-05

Callbacks run synchronously in the thread of the call; an exception in one is logged and never
reaches the call. With nothing subscribed every emission point is one attribute check
(``hooks.active``), so unobserved calls pay nothing else.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import logging
import threading
import time
import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, TypeVar, cast

from ..errors import ConfigurationError
from ..types import FrozenDict, Usage

__all__ = [
    "Call",
    "Event",
    "EventType",
    "Subscriber",
    "current_call",
    "emit",
    "observed",
    "register_owner_hooks",
    "scope",
    "start",
    "subscribe",
    "unsubscribe",
    "within",
]

log = logging.getLogger("llm_client_sync.observe")

Subscriber = Callable[["Event"], None]
_F = TypeVar("_F", bound=Callable[..., Any])


class EventType:
    """The event names (plain strings), and what each carries besides the call's own fields
    (``operation``, ``name``, ``provider``, ``model``, ``context``, ``call``, ``time``).

    - request_start: ``data`` server, stream, request (sampling params), prompt (as given).
    - request_end: ``usage``, ``cost``, ``response_model``, ``request_id``, ``duration``,
      ``error`` (failed), ``data`` finish_reason, response_id, cached, attempts, content,
      tool_calls, closed_early (a stream closed before it finished).
    - retry: ``data`` attempt, delay, status or error. failover: ``error``, ``data`` from,
      model, error, kind. cache_hit / cache_miss: nothing more. limiter_wait: ``duration``.
    - first_chunk: ``duration`` (time to first chunk of a stream).
    - tool_start: ``data`` tool_call_id, arguments. tool_end: ``duration``, ``error``, ``data``
      content, is_error, error_kind.
    - agent_start: ``data`` prompt. agent_turn: ``data`` turn. agent_end: ``usage``, ``cost``
      (the run's), ``data`` status, content.
    - batch_item: ``error``, ``data`` id, index, ok, attempts (BatchRunner: its item's model
      call had its own request events); for OpenAI Batch API results also ``usage``, ``cost``
      and ``data`` batch_api=True, batch_id (billed: the Ledger records these).
    """

    REQUEST_START = "request_start"
    REQUEST_END = "request_end"  # success or failure (``error`` set); carries usage and cost
    RETRY = "retry"  # the transport will send again: ``data`` has attempt, delay, status or error
    FAILOVER = "failover"  # a fallback chain moves on: ``data`` has from/to provider, reason
    CACHE_HIT = "cache_hit"
    CACHE_MISS = "cache_miss"
    LIMITER_WAIT = "limiter_wait"  # ``duration``: seconds the rate limiter held the call
    FIRST_CHUNK = "first_chunk"  # first bytes of a stream: ``duration`` is the time to first chunk
    TOOL_START = "tool_start"
    TOOL_END = "tool_end"
    AGENT_START = "agent_start"
    AGENT_TURN = "agent_turn"
    AGENT_END = "agent_end"
    BATCH_ITEM = "batch_item"  # one batch item finished (``data``: id, index, ok)

    ALL = frozenset({REQUEST_START, REQUEST_END, RETRY, FAILOVER, CACHE_HIT, CACHE_MISS, LIMITER_WAIT,
                     FIRST_CHUNK, TOOL_START, TOOL_END, AGENT_START, AGENT_TURN, AGENT_END, BATCH_ITEM})


_EMPTY = FrozenDict()


class Event(NamedTuple):
    """One thing that happened (an immutable tuple: cheap to build on the hot path). ``call`` is
    the operation it belongs to (its ``id``, ``parent``, ``operation``); ``context`` the caller's
    tags (user, tenant, run id, ...); ``duration`` is set on *_end events and waits; ``data``
    holds what is particular to the event type; ``time`` is the wall clock when it was sent."""

    type: str
    operation: str | None = None  # "chat", "embeddings", "execute_tool", "invoke_agent"
    name: str | None = None  # model, tool or agent name
    provider: str | None = None  # "openai", "anthropic", ...
    model: str | None = None  # the requested model
    response_model: str | None = None
    usage: Usage | None = None
    cost: float | None = None
    request_id: str | None = None
    duration: float | None = None
    error: BaseException | None = None
    context: Mapping[str, Any] = _EMPTY
    data: Mapping[str, Any] = _EMPTY
    call: "Call | None" = None
    time: float = 0.0


# -- registry ----------------------------------------------------------------------------------
_lock = threading.Lock()
_subscribers: tuple[tuple[Subscriber, frozenset[str] | None], ...] = ()
_registrations = 0  # provider and scope hooks alive
active = False
"""True while any subscriber may hear an event: the one check every emission point makes."""


def _recompute() -> None:
    global active
    active = bool(_subscribers) or _registrations > 0


def subscribe(callback: Subscriber, events: Iterable[str] | None = None) -> Callable[[], None]:
    """Call ``callback(event)`` for every event (or only the types in ``events``), from every
    provider; returns a function that unsubscribes it."""
    if not callable(callback):
        raise ConfigurationError("subscribe() takes a callable that accepts one Event")
    wanted = frozenset(events) if events is not None else None
    if wanted is not None and not wanted <= EventType.ALL:
        raise ConfigurationError(f"unknown event types {sorted(wanted - EventType.ALL)}; "
                                 f"known: {sorted(EventType.ALL)}")
    global _subscribers
    with _lock:
        _subscribers = _subscribers + ((callback, wanted),)
        _recompute()
    return lambda: unsubscribe(callback)


def unsubscribe(callback: Subscriber) -> None:
    """Remove every global subscription of ``callback`` (no error when there is none)."""
    global _subscribers
    with _lock:
        _subscribers = tuple(s for s in _subscribers if s[0] is not callback and s[0] != callback)
        _recompute()


def _hold_registration(n: int) -> None:
    global _registrations
    with _lock:
        _registrations += n
        _recompute()


def register_owner_hooks(owner: Any, hooks: Iterable[Subscriber] | None) -> tuple[Subscriber, ...]:
    """Hooks of one provider (or agent): kept while ``owner`` lives. Returns them as a tuple."""
    found = tuple(hooks or ())
    for h in found:
        if not callable(h):
            raise ConfigurationError("hooks must be callables that accept one Event")
    if found:
        _hold_registration(1)
        weakref.finalize(owner, _hold_registration, -1)
    return found


# -- scopes: per-call context, hooks and budgets, carried by a contextvar -------------------------
class _Scope(NamedTuple):
    call: "Call | None" = None
    context: Mapping[str, Any] = _EMPTY
    hooks: tuple[Subscriber, ...] = ()
    budgets: tuple[Any, ...] = ()


_ROOT = _Scope()
_scope: contextvars.ContextVar[_Scope] = contextvars.ContextVar("llm_client_sync_observe", default=_ROOT)


@contextmanager
def scope(context: Mapping[str, Any] | None = None, hooks: Iterable[Subscriber] = (),
          budget: Any = None) -> Iterator[None]:
    """Tag, observe and cap every call made inside the block (in this thread, and in threads the
    library starts from it: agent tools, batch workers).

    ``context`` merges into the enclosing scope's; ``hooks`` hear only calls made inside;
    ``budget`` (a Budget) is checked before each of them, with any enclosing budgets.
    """
    outer = _scope.get()
    hooks = tuple(hooks)
    merged = FrozenDict({**outer.context, **context}) if context else outer.context
    budgets = outer.budgets + ((budget,) if budget is not None else ())
    token = _scope.set(_Scope(outer.call, merged, outer.hooks + hooks, budgets))
    if hooks:
        _hold_registration(1)
    try:
        yield
    finally:
        _scope.reset(token)
        if hooks:
            _hold_registration(-1)


def scoped_budgets() -> tuple[Any, ...]:
    return _scope.get().budgets


def current_call() -> "Call | None":
    """The operation in progress in this context (a model call, tool or agent run), if any."""
    return _scope.get().call


@contextmanager
def within(call: "Call | None", budgets: tuple[Any, ...] = ()) -> Iterator[None]:
    """Make ``call`` the parent of what starts inside the block, and add ``budgets`` to the
    ones checked there (no-op for None and no budgets)."""
    if call is None and not budgets:
        yield
        return
    outer = _scope.get()
    token = _scope.set(_Scope(call if call is not None else outer.call, outer.context, outer.hooks,
                              outer.budgets + tuple(budgets)))
    try:
        yield
    finally:
        _scope.reset(token)


# -- calls and events --------------------------------------------------------------------------
_ids = itertools.count(1)


class Call:
    """One observed operation (a model call, a tool run, an agent run). Subscribers may keep
    their own per-call data in ``state`` (a dict keyed by the subscriber)."""

    __slots__ = ("id", "operation", "name", "provider", "model", "parent", "context", "hooks", "started",
                 "data", "state", "ended", "attempts", "__weakref__")

    def __init__(self, operation: str, name: str | None, *, provider: str | None, model: str | None,
                 parent: "Call | None", context: Mapping[str, Any], hooks: tuple[Subscriber, ...],
                 data: Mapping[str, Any]) -> None:
        self.id = next(_ids)
        self.operation = operation
        self.name = name
        self.provider = provider
        self.model = model
        self.parent = parent
        self.context = context
        self.hooks = hooks
        self.started = time.monotonic()
        self.data = dict(data)
        self.state: dict[Any, Any] = {}
        self.ended = False
        self.attempts = 1

    def __repr__(self) -> str:
        return f"Call(id={self.id}, operation={self.operation!r}, name={self.name!r})"

    def event(self, type: str, **fields: Any) -> None:
        """Send an event of this call to its subscribers."""
        data = fields.pop("data", None)
        _dispatch(Event(type, self.operation, self.name, self.provider, self.model, call=self, time=time.time(),
                        context=self.context, data=FrozenDict(data) if data else _EMPTY, **fields),
                  self.hooks)

    def end(self, result: Any = None, *, error: BaseException | None = None, **data: Any) -> None:
        """Finish the call once: ``result`` (CompletionResult, EmbeddingResult, ToolResult, ...) or
        ``error``; sends the matching *_end event with the duration."""
        with _end_lock:  # a stream may be closed from another thread while it finishes
            if self.ended:
                return
            self.ended = True
        usage = getattr(result, "usage", None)
        data.setdefault("attempts", self.attempts)
        for key in ("finish_reason", "response_id", "cached", "content", "tool_calls", "status", "is_error",
                    "error_kind"):
            value = getattr(result, key, None)
            if value is not None and key not in data:
                data[key] = value
        self.event(_END.get(self.operation, EventType.REQUEST_END),
                   response_model=getattr(result, "model", None),
                   usage=usage if isinstance(usage, Usage) else None, cost=getattr(result, "cost", None),
                   request_id=getattr(result, "request_id", None) or getattr(error, "request_id", None),
                   duration=time.monotonic() - self.started, error=error, data=data)


_end_lock = threading.Lock()
_END = {"execute_tool": EventType.TOOL_END, "invoke_agent": EventType.AGENT_END}
_START = {"execute_tool": EventType.TOOL_START, "invoke_agent": EventType.AGENT_START}


def start(operation: str, name: str | None = None, *, owner: Any = None, provider: str | None = None,
          model: str | None = None, context: Mapping[str, Any] | None = None, parent: "Call | None" = None,
          **data: Any) -> Call:
    """Begin an observed operation and send its *_start event. The parent is ``parent`` or the
    call current in this context; context tags merge (later wins): the owner's (provider), the
    parent call's, the scope's, then ``context``."""
    sc = _scope.get()
    parent = parent if parent is not None else sc.call
    tags = dict(getattr(owner, "observe_context", None) or ())
    for more in (parent.context if parent is not None else None, sc.context, context):
        if more:
            tags.update(more)
    hooks = tuple(getattr(owner, "observe_hooks", None) or ()) + sc.hooks
    if provider is None and owner is not None:
        provider = provider_name(owner)
    call = Call(operation, name, provider=provider, model=model, parent=parent,
                context=FrozenDict(tags) if tags else _EMPTY, hooks=hooks, data=data)
    call.event(_START.get(operation, EventType.REQUEST_START), data=data)
    return call


def note_retry(attempt: int, delay: float, **why: Any) -> None:
    """A transport's retry observer: the ``retry`` event of the call in progress."""
    if active:
        emit(EventType.RETRY, data={"attempt": attempt, "delay": delay, **why})


def emit(type: str, **fields: Any) -> None:
    """Send an event of the call current in this context (or a free-standing one)."""
    call = _scope.get().call
    if call is not None:
        if type == EventType.RETRY:
            call.attempts += 1
        call.event(type, **fields)
        return
    data = fields.pop("data", None)
    _dispatch(Event(type, context=_scope.get().context, data=FrozenDict(data) if data else _EMPTY,
                    time=time.time(), **fields), _scope.get().hooks)


def _dispatch(event: Event, extra: tuple[Subscriber, ...]) -> None:
    for callback, wanted in _subscribers:
        if wanted is None or event.type in wanted:
            _safe(callback, event)
    for callback in extra:
        _safe(callback, event)


def _safe(callback: Subscriber, event: Event) -> None:
    try:
        callback(event)
    except Exception:  # a broken hook must never break the call it observes
        log.warning("hook %r failed on %s event", callback, event.type, exc_info=True)


# a provider's ``name`` -> the semconv ``gen_ai.provider.name`` value, where they differ
_SEMCONV_NAMES = {"gemini": "gcp.gemini", "vertex": "gcp.vertex_ai", "azure": "azure.ai.openai"}


def provider_name(owner: Any) -> str:
    """The GenAI provider name of a provider object (semconv ``gen_ai.provider.name`` values)."""
    name = getattr(owner, "name", None)
    if not isinstance(name, str) or not name:
        name = type(owner).__name__.lower().removesuffix("provider")
    return _SEMCONV_NAMES.get(name, name)


# -- the decorator on provider methods --------------------------------------------------------
def observed(operation: str, model_of: Callable[[Any, Mapping[str, Any]], str | None] | None = None,
             ) -> Callable[[_F], _F]:
    """Wrap a provider method (``complete``, ``stream``, ``embed``) in an observed call.

    Adds the keywords ``context=`` (tags for this call only) and ``budget=`` (a Budget for this
    call only). A returned stream with an ``_observe(call)`` method finishes the call itself
    when it ends; anything else on return.
    """

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any, context: Mapping[str, Any] | None = None, budget: Any = None,
                    **kw: Any) -> Any:
            if budget is not None:  # a Budget for this call only: checked where the provider reserves
                with within(None, budgets=(budget,)):
                    return wrapper(self, *args, context=context, **kw)
            if not active:
                return fn(self, *args, **kw)
            model = model_of(self, kw) if model_of is not None else (kw.get("model") or getattr(self, "model", None))
            call = start(operation, model, owner=self, model=model, context=context,
                         server=getattr(self, "base_url", None), stream=fn.__name__ == "stream",
                         request=_request_params(kw), prompt=args[0] if args else kw.get("prompt"))
            try:
                with within(call):
                    result = fn(self, *args, **kw)
            except BaseException as exc:
                call.end(error=exc)
                raise
            observe = getattr(result, "_observe", None)  # a stream finishes the call when it ends
            if observe is not None:
                observe(call)
            else:
                call.end(result)
            return result

        return cast(_F, wrapper)  # the method keeps its signature for type checkers

    return decorate


_REQUEST_KEYS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "max_output_tokens", "seed",
                 "stop", "n", "frequency_penalty", "presence_penalty", "reasoning_effort", "tools")


def _request_params(kw: Mapping[str, Any]) -> Mapping[str, Any]:
    return {k: kw[k] for k in _REQUEST_KEYS if kw.get(k) is not None}
