"""Stream: a blocking iterator of StreamEvents over one HTTP event stream, and a context manager."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator

from .._sse import SSEDecoder
from ..errors import LLMClientError, StreamError
from ..types import CompletionResult, StreamEvent, StreamEventType

__all__ = ["Stream", "replay_events"]

E = StreamEventType


class Stream:
    """Iterate to get StreamEvents as bytes arrive; ``result()`` gives the CompletionResult.

    A failure mid-stream (connection lost, idle timeout, malformed data, in-band error) yields
    one ERROR event and then raises StreamError whose ``partial`` holds what arrived. ``close()``
    releases the connection and may be called from another thread. Not for sharing: one
    consumer thread per Stream.

        with provider.stream("Write a haiku") as stream:
            for event in stream:
                if event.type is StreamEventType.TOKEN:
                    print(event.data, end="", flush=True)
        result = stream.result()
    """

    def __init__(self, open_response: Callable[[], Any], make_accumulator: Callable[[str | None], Any], *,
                 max_reopen: int = 0, on_done: Callable[[CompletionResult], None] | None = None,
                 on_fail: Callable[[], None] | None = None, events: Iterator[StreamEvent] | None = None,
                 finalize: Callable[[CompletionResult], CompletionResult] | None = None) -> None:
        self._finalize = finalize
        self._open = open_response
        self._make_acc = make_accumulator
        self._max_reopen = max_reopen
        self._on_done = on_done
        self._on_fail = on_fail
        self._response: Any = None
        self._lock = threading.Lock()
        self._closed = False
        self._result: CompletionResult | None = None
        self._error: BaseException | None = None
        self._pending_error: BaseException | None = None
        self.acc: Any = None
        self._call: Any = None  # the observed call (observe.hooks) this stream finishes, if any
        if events is None:
            self._response = open_response()  # status errors raise here, before iteration
            self.request_id = self._response.request_id
            self._gen = self._events()
        else:
            self.request_id = None
            self._gen = self._replay(events)

    def __iter__(self) -> "Stream":
        return self

    def __next__(self) -> StreamEvent:
        if self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err
        return next(self._gen)

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading and release the HTTP connection (idempotent, thread-safe)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            resp = self._response
        if resp is not None:
            resp.close()
        if self._call is not None and not self._call.ended:
            self._call.end(self.acc.result() if self.acc is not None else None, closed_early=True)
        try:
            self._gen.close()
        except ValueError:  # being iterated in another thread: it sees the closed socket and stops
            pass

    @property
    def closed(self) -> bool:
        return self._closed

    def result(self) -> CompletionResult:
        """Consume what is left and return the assembled result (raises the stream's error)."""
        if self._result is None and self._error is None and not self._closed:
            for _ in self:
                pass
        if self._result is not None:
            return self._result
        if self._error is not None:
            raise self._error
        raise StreamError("stream was closed before it finished",
                          partial=self.acc.result() if self.acc is not None else None)

    def _replay(self, events: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
        for ev in events:
            if ev.type is E.DONE:
                self._result = ev.data
                if self._call is not None:
                    self._call.end(ev.data)
            yield ev

    def _events(self) -> Iterator[StreamEvent]:
        reopens = 0
        yielded = False
        try:
            while True:
                acc = self.acc = self._make_acc(self.request_id)
                decoder = SSEDecoder()
                try:
                    for chunk in self._response.iter_bytes():
                        if self._call is not None and not yielded and "ttfc" not in self._call.data:
                            self._call.data["ttfc"] = ttfc = time.monotonic() - self._call.started
                            self._call.event("first_chunk", duration=ttfc)
                        for sse in decoder.feed(chunk):
                            events = acc.feed(sse)
                            for ev in events:
                                yielded = True
                                yield ev
                            if acc.finished:
                                break
                        if acc.finished:
                            break
                    if self._closed:
                        return
                    if not acc.finished:
                        raise StreamError("stream ended before its final event (connection closed early)",
                                          request_id=self.request_id)
                except StreamError as exc:
                    if self._closed:
                        return
                    if not yielded and reopens < self._max_reopen:
                        # nothing reached the caller yet: a fresh attempt is safe
                        reopens += 1
                        self._response.close()
                        self._response = self._open()
                        self.request_id = self._response.request_id
                        continue
                    if exc.partial is None:
                        exc.partial = acc.result()
                    raise
                break
            result = acc.result()
            if self._finalize is not None:
                result = self._finalize(result)
            self._result = result
            if self._on_done is not None:
                self._on_done(result)
            if self._call is not None:
                self._call.end(result)
            yield StreamEvent(E.DONE, result)
        except LLMClientError as exc:
            self._error = exc
            if self._on_fail is not None:
                self._on_fail()
            if self._call is not None:
                self._call.end(getattr(exc, "partial", None), error=exc)
            self._pending_error = exc
            yield StreamEvent(E.ERROR, exc)
        finally:
            if self._response is not None:
                self._response.close()


def replay_events(result: CompletionResult) -> Iterator[StreamEvent]:
    """The events a live stream would have produced for ``result`` (used for cache hits)."""
    yield StreamEvent(E.META, {"model": result.model, "id": result.response_id,
                               "request_id": result.request_id, "cached": True})
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
