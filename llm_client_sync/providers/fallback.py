"""FallbackProvider: a chain of providers that answers completely or fails cleanly, within one deadline.

Which failures move on (the rest reach the caller at once, with their reason):

====================================================  ==========================================
connection error, timeout (first byte, read, total)   next provider
a 2xx body that is not the API's (not JSON, ...)       next provider
408, 409, 429, 5xx (after the provider's own retries,  next provider
or at once when retry-after > ``max_retry_after``)
stream cut, stalled (idle timeout), malformed, error   next provider (the answer restarts there)
local rate-limit wait too long                         next provider
400 ``context_length_exceeded``                        next provider with a larger context window,
                                                       else that error
400/401/403/404/422, content filter, anything else     raised as is (never retried elsewhere)
====================================================  ==========================================
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Generator, Iterable, Iterator, Mapping

from .._checks import check_iterable
from ..errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    ContextWindowExceededError,
    LLMClientError,
    RateLimitTimeoutError,
    StreamError,
    StructuredOutputError,
)
from ..observe import hooks as _hooks
from ..transport import Timeout, is_retryable
from ..types import Attempt, CompletionResult, EmbeddingResult, StreamEvent, StreamEventType
from ._breaker import BreakerState, CircuitBreaker
from .base import BaseProvider, Provider

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .base import Prompt, RequestParams

__all__ = ["BreakerState", "CircuitBreaker", "FallbackProvider", "FallbackStream"]

E = StreamEventType
_NEXT, _CONTEXT, _FATAL = "next", "context", "fatal"
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_PHRASES = ("maximum context length", "context length", "context window", "prompt is too long",
                    "exceeds the maximum number of tokens", "too many tokens")
_FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "responsible_ai_policy_violation"})


def _error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = getattr(exc, "body", None)
    err = body.get("error") if isinstance(body, dict) else None
    return str(err.get("code")) if isinstance(err, dict) and err.get("code") else None


def classify(exc: BaseException) -> str:
    """``"next"`` (try the next provider), ``"context"`` (a provider with a larger window may
    fit) or ``"fatal"`` (the caller gets this error).

    Transient is what the transport's one predicate (``is_retryable``) says, plus every 429
    (``insufficient_quota`` too: another provider's account may have quota), a 2xx body that is
    not the API's, and a local rate-limit wait that timed out."""
    if isinstance(exc, ContextWindowExceededError):
        return _CONTEXT
    if _error_code(exc) in _FILTER_CODES:
        return _FATAL
    if isinstance(exc, APIStatusError):
        message = str(exc).lower()
        if exc.status_code in (400, 413, 422) and (_error_code(exc) in _CONTEXT_CODES
                                                    or any(p in message for p in _CONTEXT_PHRASES)):
            return _CONTEXT
        return _NEXT if exc.status_code == 429 or is_retryable(exc) else _FATAL
    if isinstance(exc, APIResponseValidationError) and not isinstance(exc, StructuredOutputError):
        return _NEXT  # a 2xx body that is not the API's (a proxy's HTML page, a broken server)
    if isinstance(exc, RateLimitTimeoutError) or is_retryable(exc):
        return _NEXT
    return _FATAL


def _label(provider: Any) -> str:
    return f"{getattr(provider, 'name', type(provider).__name__)}:{provider.model}"


class FallbackProvider:
    """A Provider made of providers: the first healthy one answers.

    ``complete`` tries each provider in order, moving on after the failures listed in this
    module's docstring; a circuit breaker per provider skips one that keeps failing (open after
    ``failure_threshold`` consecutive failures, one probe call after ``cooldown`` seconds, closed
    again when it succeeds). ``stream`` fails over the same way: invisibly before the first
    event; after events reached the caller, with a META event ``{"event": "fallback", "from",
    "to", "reason", "discard": <characters of text already sent>}`` and then the next provider's
    whole answer (no assistant prefill). DONE carries the complete answer of the provider that
    finished; a cut answer is never a success.

    The result says who answered (``provider``, ``model``) with that provider's usage and cost
    only; the failed attempts are in ``result.attempts`` (never billed). A failure that reaches
    the caller carries them too, as ``exc.attempts``.

    Args:
        providers: the chain, primary first; each a Provider (closed by ``close()``).
        timeout: a Timeout for every call through the chain (``total``: one deadline for the
            whole call, fail-overs included; ``first_byte``: give a silent server up early;
            ``stream_idle``: give a stalled stream up). Replaces the members' own timeouts;
            per call ``complete(..., timeout=)`` replaces it. Members that are not BaseProviders
            (or chains) keep their own timeouts.
        max_retry_after: a member asking (429/503 ``retry-after``) to wait longer than this is
            left at once for the next provider.
        failure_threshold, cooldown: the circuit breakers' settings.
        clock: for the breakers and the deadline (a test passes a fake one).

    Thread-safe: share one chain between threads; its streams belong to one thread each.

        >>> llm = FallbackProvider([OpenAIProvider("gpt-5-mini"),                  # doctest: +SKIP
        ...                         OpenAIProvider("gpt-5-mini", base_url=AZURE_URL)],
        ...                        timeout=Timeout(total=20, first_byte=3, stream_idle=10))
        >>> llm.complete("Hi").provider                                             # doctest: +SKIP
    """

    name = "fallback"

    def __init__(self, providers: Iterable[Provider], *, timeout: Timeout | float | None = None,
                 max_retry_after: float = 10.0, failure_threshold: int = 3, cooldown: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        members = tuple(check_iterable(providers, "providers"))
        if not members:
            raise ConfigurationError("FallbackProvider needs at least one provider")
        for i, p in enumerate(members):
            if not isinstance(p, Provider):
                raise ConfigurationError(f"providers[{i}] is not a Provider (it needs model, profile, complete, "
                                         f"stream, embed, close): got {type(p).__name__}")
        if not max_retry_after >= 0:
            raise ConfigurationError(f"max_retry_after must be non-negative seconds, got {max_retry_after!r}")
        self.providers = members
        self.timeout = None if timeout is None else Timeout.coerce(timeout)
        self.max_retry_after = float(max_retry_after)
        self.breakers = tuple(CircuitBreaker(failure_threshold, cooldown, clock=clock) for _ in members)
        self._clock = clock
        self._settings = {"max_retry_after": self.max_retry_after, "failure_threshold": failure_threshold,
                          "cooldown": float(cooldown)}

    @property
    def model(self) -> str:
        """The primary's model (each result says which model answered)."""
        return self.providers[0].model

    @property
    def profile(self) -> Any:
        """The primary's profile (context budgets are the primary's)."""
        return self.providers[0].profile

    def __repr__(self) -> str:
        return f"FallbackProvider([{', '.join(_label(p) for p in self.providers)}])"

    def __enter__(self) -> "FallbackProvider":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close every provider of the chain."""
        for p in self.providers:
            p.close()

    # -- configuration for other processes ---------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """A JSON-able configuration of the chain and its members (no API keys), for process and
        cluster executors; ``from_config`` rebuilds it (breakers start closed there)."""
        members = []
        for i, p in enumerate(self.providers):
            if not callable(getattr(p, "to_config", None)):
                raise ConfigurationError(f"providers[{i}] ({type(p).__name__}) has no to_config(): "
                                         "the chain cannot be rebuilt in another process")
            cls = type(p)
            members.append({"class": f"{cls.__module__}:{cls.__qualname__}", "config": p.to_config()})
        timeout = dataclasses.asdict(self.timeout) if self.timeout is not None else None
        return {"providers": members, "timeout": timeout, **self._settings}

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> "FallbackProvider":
        import importlib

        members = []
        for m in config["providers"]:
            module, _, name = str(m["class"]).partition(":")
            klass = getattr(importlib.import_module(module), name, None)
            if not (isinstance(klass, type) and issubclass(klass, (BaseProvider, FallbackProvider))):
                raise ConfigurationError(f"{m['class']!r} is not a provider class of this library")
            members.append(klass.from_config(m["config"]))
        settings = {k: v for k, v in config.items() if k != "providers"}
        return cls(members, **{**settings, **overrides})

    # -- calls -----------------------------------------------------------------------------
    def complete(self, prompt: "Prompt | None" = None, **params: "Unpack[RequestParams]") -> CompletionResult:
        """The first complete answer of the chain (see the class docstring for what moves on).
        ``timeout`` bounds the whole chain; the other keywords go to each provider."""
        timeout = params.pop("timeout", None)
        run = _Run(self, timeout)
        for i in run.candidates():
            started = self._clock()
            try:
                result = self.providers[i].complete(prompt, **params, **run.member_kwargs(i))
            except LLMClientError as exc:
                run.failed(i, exc, started)
                continue
            return run.succeeded(i, result)
        run.exhausted()
        raise AssertionError("unreachable")  # pragma: no cover

    def stream(self, prompt: "Prompt | None" = None, **params: "Unpack[RequestParams]") -> "FallbackStream":
        """A stream that fails over (see the class docstring); errors before any provider
        answered are raised here, like ``Stream``'s status errors."""
        timeout = params.pop("timeout", None)
        return FallbackStream(_Run(self, timeout), prompt, params)

    def embed(self, texts: str | Iterable[str], dimensions: int | None = None, **kw: Any) -> EmbeddingResult:
        """Embeddings from the first provider of the chain that has an embeddings API and answers.

        The vectors of different models are not comparable: use a chain of the same embedding
        model on different endpoints."""
        run = _Run(self, None)
        for i in run.candidates():
            p = self.providers[i]
            if isinstance(p, BaseProvider) and type(p).embed is BaseProvider.embed:
                continue  # no embeddings API
            started = self._clock()
            try:
                result = p.embed(texts, dimensions, **kw)
            except LLMClientError as exc:
                run.failed(i, exc, started)
                continue
            self.breakers[i].record_success()
            return result
        run.exhausted()
        raise AssertionError("unreachable")  # pragma: no cover


class _Run:
    """The state of one call through the chain: deadline, attempts, the window it needs."""

    def __init__(self, chain: FallbackProvider, timeout: Timeout | float | None) -> None:
        self.chain = chain
        self.clock = chain._clock
        self.timeout = Timeout.coerce(timeout) if timeout is not None else chain.timeout
        total = self.timeout.total if self.timeout is not None else None
        self.deadline = None if total is None else self.clock() + total
        self.attempts: list[Attempt] = []
        self.last: LLMClientError | None = None
        self.need_window = 0
        self.skipped: list[int] = []

    def expired(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def candidates(self) -> Iterator[int]:
        """Indices of the providers to try, in order (checked lazily: a context overflow met on
        the way leaves out the providers whose window is no larger)."""
        for i, p in enumerate(self.chain.providers):
            if self.need_window and getattr(p.profile, "context_window", 0) <= self.need_window:
                continue
            if self.expired():
                return
            if not self.chain.breakers[i].allow():
                self.skipped.append(i)
                continue
            yield i

    def member_kwargs(self, i: int) -> dict[str, Any]:
        """Per-call ``timeout=`` (what is left of the deadline) and ``retry=`` (retry-after cap)."""
        p = self.chain.providers[i]
        if not isinstance(p, (BaseProvider, FallbackProvider)):
            return {}
        kw: dict[str, Any] = {}
        if self.timeout is not None:
            t = self.timeout
            if self.deadline is not None:
                left = max(self.deadline - self.clock(), 0.001)
                t = dataclasses.replace(t, total=left, connect=min(t.connect, left), read=min(t.read, left),
                                        stream_idle=min(t.stream_idle, left),
                                        first_byte=None if t.first_byte is None else min(t.first_byte, left))
            kw["timeout"] = t
        if isinstance(p, BaseProvider):
            policy = p.transport.retry
            if policy.max_retry_after > self.chain.max_retry_after:
                kw["retry"] = dataclasses.replace(policy, max_retry_after=self.chain.max_retry_after)
        return kw

    def failed(self, i: int, exc: LLMClientError, started: float) -> None:
        """Record a failed attempt; raises when the chain must stop (fatal error, deadline)."""
        p = self.chain.providers[i]
        kind = classify(exc)
        self.attempts.append(Attempt(getattr(p, "name", type(p).__name__), p.model, type(exc).__name__,
                                     str(exc)[:500], getattr(exc, "status_code", None),
                                     round(max(self.clock() - started, 0.0), 6)))
        breaker = self.chain.breakers[i]
        if kind == _NEXT:
            breaker.record_failure()
        else:
            breaker.record_success()  # the provider answered: it is up
        self.last = exc
        exc.attempts = tuple(self.attempts)  # type: ignore[attr-defined]
        if kind == _FATAL:
            raise exc
        if _hooks.active:
            _hooks.emit(_hooks.EventType.FAILOVER, error=exc, data={
                "from": _label(p), "model": p.model, "error": type(exc).__name__, "kind": kind})
        if kind == _CONTEXT:
            self.need_window = max(self.need_window, getattr(p.profile, "context_window", 0))
        if self.expired():
            self.timed_out(exc)

    def timed_out(self, cause: BaseException | None) -> None:
        total = self.timeout.total if self.timeout is not None else None
        err = APITimeoutError(f"the fallback chain's deadline of {total:g} s passed after "
                              f"{len(self.attempts)} failed attempt(s)"
                              + (f"; last: {type(cause).__name__}: {cause}" if cause is not None else ""))
        err.attempts = tuple(self.attempts)  # type: ignore[attr-defined]
        raise err from cause

    def succeeded(self, i: int, result: CompletionResult) -> CompletionResult:
        self.chain.breakers[i].record_success()
        if not self.attempts:
            return result
        return dataclasses.replace(result, attempts=tuple(self.attempts) + tuple(result.attempts))

    def exhausted(self) -> None:
        """No provider is left: raise the last error (or say every circuit is open)."""
        if self.last is not None:
            if self.expired():
                self.timed_out(self.last)
            raise self.last
        if self.expired():
            self.timed_out(None)
        if self.need_window:
            raise ContextWindowExceededError("no provider of the chain has a larger context window")
        names = ", ".join(_label(self.chain.providers[i]) for i in self.skipped)
        err = APIConnectionError(f"every provider of the fallback chain is unavailable (circuit open: {names}); "
                                 f"they are probed again after their cool-down")
        err.attempts = ()  # type: ignore[attr-defined]
        raise err


class FallbackStream:
    """A stream over a chain: iterate for StreamEvents; ``result()``; ``close()`` (any thread).

    Yields the events of the provider answering now; on a fail-over after events reached the
    caller, one META ``{"event": "fallback", ...}`` (see FallbackProvider) and the next answer
    from its start. A failure that ends the chain yields ERROR, then raises it.
    """

    def __init__(self, run: _Run, prompt: Any, params: dict[str, Any]) -> None:
        self._run = run
        self._prompt = prompt
        self._params = params
        self._lock = threading.Lock()
        self._closed = False
        self._current: Any = None
        self._index = -1
        self._started = 0.0
        self._result: CompletionResult | None = None
        self._error: BaseException | None = None
        self._pending_error: BaseException | None = None
        self._candidates = run.candidates()
        self._open_next()  # errors before any provider answered are raised here
        self._gen = self._events()

    @property
    def request_id(self) -> str | None:
        return getattr(self._current, "request_id", None)

    @property
    def provider(self) -> Any:
        """The provider answering now."""
        return self._run.chain.providers[self._index]

    def __iter__(self) -> "FallbackStream":
        return self

    def __next__(self) -> StreamEvent:
        if self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err
        return next(self._gen)

    def __enter__(self) -> "FallbackStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop reading and release the connection (idempotent, thread-safe)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            current = self._current
        if current is not None:
            current.close()
        try:
            self._gen.close()
        except ValueError:  # being iterated in another thread: it sees the closed stream and stops
            pass

    def result(self) -> CompletionResult:
        """Consume what is left and return the complete answer (raises the chain's error)."""
        if self._result is None and self._error is None and not self._closed:
            for _ in self:
                pass
        if self._result is not None:
            return self._result
        if self._error is not None:
            raise self._error
        raise StreamError("stream was closed before it finished")

    def _open_next(self) -> None:
        run = self._run
        for i in self._candidates:
            started = run.clock()
            try:
                stream = run.chain.providers[i].stream(self._prompt, **self._params, **run.member_kwargs(i))
            except LLMClientError as exc:
                run.failed(i, exc, started)
                continue
            with self._lock:
                self._current, self._index, self._started = stream, i, started
                closed = self._closed
            if closed:
                stream.close()
            return
        run.exhausted()

    def _events(self) -> Generator[StreamEvent, None, None]:
        run = self._run
        sent_chars = 0        # text of the current provider that reached the caller
        visible = False       # any event of the current provider reached the caller
        switch: dict[str, Any] | None = None
        try:
            while True:
                stream, i = self._current, self._index
                failure: LLMClientError | None = None
                try:
                    for ev in stream:
                        if ev.type is E.ERROR:
                            failure = ev.data
                            break
                        if switch is not None:
                            switch["to"] = _label(run.chain.providers[i])
                            yield StreamEvent(E.META, switch)
                            switch = None
                        if ev.type is E.DONE:
                            self._result = run.succeeded(i, ev.data)
                            yield StreamEvent(E.DONE, self._result)
                            return
                        if run.expired():
                            acc = getattr(stream, "acc", None)
                            failure = StreamError("the fallback chain's deadline passed mid-stream",
                                                  partial=acc.result() if acc is not None else None)
                            break
                        if ev.type is E.TOKEN and isinstance(ev.data, str):
                            sent_chars += len(ev.data)
                        visible = True
                        yield ev
                    else:
                        failure = StreamError("the stream ended without its final event")
                except LLMClientError as exc:
                    failure = exc
                finally:
                    stream.close()
                if self._closed:
                    return
                assert failure is not None
                run.failed(i, failure, self._started)
                if visible:
                    switch = {"event": "fallback", "from": _label(run.chain.providers[i]), "to": None,
                              "reason": f"{type(failure).__name__}: {failure}"[:300], "discard": sent_chars}
                    sent_chars, visible = 0, False
                self._open_next()
        except LLMClientError as exc:
            self._error = exc
            self._pending_error = exc
            yield StreamEvent(E.ERROR, exc)
