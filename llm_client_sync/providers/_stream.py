"""Stream: a blocking iterator of StreamEvents over one HTTP event stream, and a context manager.

The one stream lifecycle of the library: open (status errors raise here), check the content
type, decode SSE, feed the protocol's accumulator, re-open once before anything reached the
caller, and settle the caller's reservation exactly once on every exit (end, error, early
close, abandonment).
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from typing import Any, Callable, Iterator

from .._sse import DEFAULT_MAX_LINE, SSEDecoder
from ..errors import LLMClientError, StreamError
from ..transport import CancelToken, cancel_scope
from ..types import CompletionResult, StreamEvent, StreamEventType

__all__ = ["Stream", "replay_events"]

E = StreamEventType
# answers to a stream request that are not an event stream: read whole, parsed once, never re-sent
_NOT_EVENTS = frozenset({"application/json", "text/html", "text/xml", "application/xml"})


class Stream:
    """Iterate to get StreamEvents as bytes arrive; ``result()`` gives the CompletionResult.

    A failure mid-stream (connection lost, idle timeout, the call's total deadline, malformed
    data, an over-long line, in-band error) yields one ERROR event and then raises StreamError
    whose ``partial`` holds what arrived. ``close()`` releases the connection and may be called
    from another thread (also while the request is being (re-)opened). A stream that is dropped
    without ``close()`` (``for ev in provider.stream(...): break``) releases its connection at
    once, not at garbage collection. Not for sharing: one consumer thread per Stream.

    A server that answers the stream request with a JSON body (``Content-Type:
    application/json``) is parsed once into the result (``parse_body``) or reported as a
    StreamError; it is never re-sent.

        with provider.stream("Write a haiku") as stream:
            for event in stream:
                if event.type is StreamEventType.TOKEN:
                    print(event.data, end="", flush=True)
        result = stream.result()
    """

    def __init__(self, open_response: Callable[[], Any], make_accumulator: Callable[[str | None], Any], *,
                 max_reopen: int = 0, on_done: Callable[[CompletionResult], None] | None = None,
                 on_fail: Callable[[], None] | None = None, events: Iterator[StreamEvent] | None = None,
                 finalize: Callable[[CompletionResult], CompletionResult] | None = None,
                 parse_body: Callable[[Any, str | None], CompletionResult] | None = None) -> None:
        # the generator references only the _Run, never this Stream: dropping the Stream frees it
        # at once (no cycle), and the finalizer closes the connection and settles
        run = self._run = _Run(open_response, make_accumulator, max_reopen, on_done, on_fail, finalize, parse_body)
        if events is None:
            run.open_first()  # status errors raise here, before iteration
            self._gen = run.events()
        else:
            self._gen = run.replay(events)
        self._finalizer = weakref.finalize(self, run.close)

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> StreamEvent:
        run = self._run
        if run.pending_error is not None:
            err, run.pending_error = run.pending_error, None
            raise err
        return next(self._gen)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _observe(self, call: Any) -> None:
        """Finish ``call`` (an ``observe.hooks.Call``) when this stream ends."""
        self._run.call = call
        if self._run.result is not None:
            call.end(self._run.result)

    def close(self) -> None:
        """Stop reading and release the HTTP connection (idempotent, thread-safe)."""
        self._run.close()
        try:
            self._gen.close()
        except ValueError:  # being iterated in another thread: it sees the closed socket and stops
            pass

    @property
    def closed(self) -> bool:
        return self._run.closed

    @property
    def request_id(self) -> str | None:
        return self._run.request_id

    @property
    def acc(self) -> Any:
        """The protocol accumulator of the current attempt (what has arrived so far)."""
        return self._run.acc

    def result(self) -> CompletionResult:
        """Consume what is left and return the assembled result (raises the stream's error)."""
        run = self._run
        if run.result is None and run.error is None and not run.closed:
            for _ in self:
                pass
        if run.result is not None:
            return run.result
        if run.error is not None:
            raise run.error
        raise StreamError("stream was closed before it finished",
                          partial=run.acc.result() if run.acc is not None else None)


class _Run:
    """The state of one Stream, shared by its facade and its event generator."""

    __slots__ = ("open", "make_acc", "max_reopen", "on_done", "on_fail", "finalize", "parse_body", "response",
                 "lock", "closed", "result", "error", "pending_error", "acc", "request_id", "token", "settled",
                 "call")

    def __init__(self, open_response: Callable[[], Any], make_acc: Callable[[str | None], Any], max_reopen: int,
                 on_done: Any, on_fail: Any, finalize: Any, parse_body: Any) -> None:
        self.open = open_response
        self.make_acc = make_acc
        self.max_reopen = max_reopen
        self.on_done = on_done
        self.on_fail = on_fail
        self.finalize = finalize
        self.parse_body = parse_body
        self.response: Any = None
        self.lock = threading.Lock()
        self.closed = False
        self.result: CompletionResult | None = None
        self.error: BaseException | None = None
        self.pending_error: BaseException | None = None
        self.acc: Any = None
        self.request_id: str | None = None
        self.token = CancelToken()
        self.settled = False
        self.call: Any = None  # the observe.hooks Call this stream finishes, when hooks listen

    # -- settlement: exactly once --------------------------------------------------------------
    def _claim(self) -> bool:
        with self.lock:
            if self.settled:
                return False
            self.settled = True
            return True

    def fail(self) -> None:
        if self._claim() and self.on_fail is not None:
            self.on_fail()

    def done(self, result: CompletionResult) -> None:
        if self._claim() and self.on_done is not None:
            self.on_done(result)
        if self.call is not None:
            self.call.end(result)

    # -- opening and closing ---------------------------------------------------------------------
    def open_first(self) -> None:
        try:
            with cancel_scope(self.token):
                resp = self.open()
        except BaseException:
            self.fail()
            raise
        self.response = resp
        self.request_id = getattr(resp, "request_id", None)
        # re-opens keep the first request's deadline (Timeout.total bounds the whole stream)
        self.token.deadline = getattr(resp, "deadline", None)

    def reopen(self) -> bool:
        """Close the failed response and open a fresh one; False when closed meanwhile."""
        with self.lock:
            if self.closed:
                return False
            old = self.response
        if old is not None:
            old.close()
        with cancel_scope(self.token):  # a close() from another thread cancels the open in flight
            new = self.open()
        with self.lock:
            if not self.closed:
                self.response = new
                self.request_id = getattr(new, "request_id", None)
                return True
        new.close()  # closed while it opened: this response is ours to close
        return False

    def close(self) -> None:
        with self.lock:
            already = self.closed
            self.closed = True
            resp = self.response
        if not already:
            self.token.cancel()
        if resp is not None:
            resp.close()
        if self.result is None:
            self.fail()
            if self.call is not None:
                self.call.end(self.acc.result() if self.acc is not None else None, closed_early=True)

    # -- events ------------------------------------------------------------------------------------
    def replay(self, events: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
        for ev in events:
            if ev.type is E.DONE:
                self.result = ev.data
                self.settled = True
                if self.call is not None:
                    self.call.end(ev.data)
            yield ev

    def events(self) -> Iterator[StreamEvent]:
        reopens = 0
        yielded = False
        acc = None
        try:
            while True:
                resp = self.response
                acc = self.acc = self.make_acc(self.request_id)
                ctype = getattr(resp, "content_type", "") or ""
                media = ctype.split(";", 1)[0].strip()
                if media in _NOT_EVENTS or media.endswith("+json"):
                    result = self._whole_body(resp, media)
                    yield from replay_events(result, cached=False)
                    break
                decoder = SSEDecoder(getattr(resp, "max_line_bytes", None) or DEFAULT_MAX_LINE)
                feed, accumulate = decoder.feed, acc.feed
                reading = True
                try:
                    for chunk in resp.iter_bytes():
                        if reading and self.call is not None and "ttfc" not in self.call.data:
                            self.call.data["ttfc"] = ttfc = time.monotonic() - self.call.started
                            self.call.event("first_chunk", duration=ttfc)
                        reading = False
                        for sse in feed(chunk):
                            for ev in accumulate(sse):
                                yield ev
                                yielded = True
                            if acc.finished:
                                break
                        if acc.finished:
                            break
                        reading = True
                    if self.closed:
                        return
                    if not acc.finished and not getattr(acc, "complete_without_done", False):
                        raise StreamError("stream ended before its final event (connection closed early)",
                                          request_id=self.request_id)
                except StreamError as exc:
                    if self.closed:
                        return
                    if (reading or getattr(exc, "retryable", False)) and not yielded \
                            and reopens < self.max_reopen and not getattr(exc, "deadline_passed", False):
                        # nothing reached the caller yet and the connection broke (or the server sent a
                        # transient in-band error, e.g. Anthropic's overloaded_error): a fresh attempt is safe
                        reopens += 1
                        if not self.reopen():
                            return
                        continue
                    raise
                result = acc.result()
                if self.finalize is not None:
                    result = self.finalize(result)
                self.result = result
                self.done(result)
                yield StreamEvent(E.DONE, result)
                break
        except LLMClientError as exc:
            if self.closed:
                return
            if isinstance(exc, StreamError) and exc.partial is None and acc is not None:
                exc.partial = acc.result()
            self.error = exc
            resp = self.response
            if resp is not None:
                resp.close()  # the error is final: release the connection before reporting it
            self.fail()
            if self.call is not None:
                self.call.end(getattr(exc, "partial", None), error=exc)
            self.pending_error = exc
            yield StreamEvent(E.ERROR, exc)
        finally:
            resp = self.response
            if resp is not None:
                resp.close()

    def _whole_body(self, resp: Any, ctype: str) -> CompletionResult:
        """A JSON (or HTML) answer to a stream request: parsed once, never re-sent."""
        raw = resp.read_all()
        head = raw[:300].decode("utf-8", errors="replace")
        rid = self.request_id
        if "json" not in ctype:  # an HTML/XML page: a proxy, a captive portal, a wrong base_url
            raise StreamError(f"the server answered a stream request with {ctype!r}, not an event stream "
                              f"(check base_url): {head!r}", request_id=rid, body=head)
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise StreamError(f"the server answered a stream request with a {ctype!r} body that is not JSON "
                              f"(check base_url): {head!r}", request_id=rid, body=head) from exc
        if isinstance(data, dict) and data.get("error") and not data.get("choices") and not data.get("output"):
            err = data["error"]
            msg = err.get("message") if isinstance(err, dict) else err
            raise StreamError(f"the server answered the stream request with an error: {str(msg)[:500]}",
                              request_id=rid, body=data)
        if self.parse_body is None:
            raise StreamError(f"the server answered a stream request with a JSON body instead of an event "
                              f"stream: {head!r}", request_id=rid, body=data)
        result = self.parse_body(data, rid)
        if self.finalize is not None:
            result = self.finalize(result)
        self.result = result
        self.done(result)
        return result


def replay_events(result: CompletionResult, *, cached: bool = True) -> Iterator[StreamEvent]:
    """The events a live stream would have produced for ``result`` (cache hits, and a server
    that answered a stream request with one JSON body)."""
    yield StreamEvent(E.META, {"model": result.model, "id": result.response_id,
                               "request_id": result.request_id, "cached": cached})
    if result.reasoning:
        yield StreamEvent(E.REASONING, result.reasoning)
    if result.content:
        yield StreamEvent(E.TOKEN, result.content)
    for k, tc in enumerate(result.tool_calls):
        yield StreamEvent(E.TOOL_CALL_START, {"index": k, "id": tc.id, "name": tc.name})
        if tc.raw_arguments:
            yield StreamEvent(E.TOOL_CALL_DELTA, {"index": k, "arguments": tc.raw_arguments})
        yield StreamEvent(E.TOOL_CALL_END, tc)
    yield StreamEvent(E.USAGE, result.usage)
    yield StreamEvent(E.DONE, result)
