"""Consuming a stream in process: callbacks, a buffering pass-through, and collect_stream."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Iterator

from .._checks import check_iterable
from ..errors import StreamError
from ..types import Choice, CompletionResult, StreamEvent, StreamEventType, ToolCall, Usage
from ._upstream import ClosingIterator, close_upstream

__all__ = ["BufferingAdapter", "CallbackAdapter", "collect_stream"]


class EventBuffer:
    """Accumulates events: text, reasoning, finished tool calls, usage, the final result.

    Thread-safe: one thread feeds while others read the properties.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._tool_calls: list[ToolCall] = []
        self._usage: Usage | None = None
        self._meta: dict[str, Any] = {}
        self._result: Any = None
        self._error: BaseException | None = None
        self._done = False

    def feed(self, event: StreamEvent) -> None:
        kind = event.type
        with self._lock:
            if event.choice:  # the accumulated fields describe the first choice, like CompletionResult
                if kind is StreamEventType.DONE:
                    self._result, self._done = event.data, True
                return
            if kind is StreamEventType.TOKEN:
                self._content.append(event.data)
            elif kind is StreamEventType.REASONING:
                self._reasoning.append(event.data)
            elif kind is StreamEventType.TOOL_CALL_END:
                self._tool_calls.append(event.data)
            elif kind is StreamEventType.USAGE:
                self._usage = event.data
            elif kind is StreamEventType.META and isinstance(event.data, dict):
                self._meta.update(event.data)
            elif kind is StreamEventType.DONE:
                self._result, self._done = event.data, True
            elif kind is StreamEventType.ERROR:
                self._error = event.data

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            self._error = exc

    @property
    def content(self) -> str:
        with self._lock:
            return "".join(self._content)

    @property
    def reasoning(self) -> str:
        with self._lock:
            return "".join(self._reasoning)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        with self._lock:
            return tuple(self._tool_calls)

    @property
    def usage(self) -> Usage | None:
        with self._lock:
            return self._usage

    @property
    def error(self) -> BaseException | None:
        with self._lock:
            return self._error

    @property
    def done(self) -> bool:
        with self._lock:
            return self._done

    @property
    def result(self) -> Any:
        """The DONE event's result, or None before it arrived."""
        with self._lock:
            return self._result

    def assemble(self) -> CompletionResult:
        """A CompletionResult from what arrived (for streams that end without a DONE event),
        assembled and priced by the one ``build_result`` (the model's profile from the META event)."""
        from ..models import DEFAULT_PROFILE, get_profile
        from ..providers._chat import build_result

        with self._lock:
            content = "".join(self._content)
            reasoning = "".join(self._reasoning)
            calls = tuple(self._tool_calls)
            model = self._meta.get("model")
            choice = Choice(0, content if content or not calls else None, calls,
                            "tool_calls" if calls else None)
            usage = self._usage or Usage()
            request_id = self._meta.get("request_id")
        profile = get_profile(model) if isinstance(model, str) and model.strip() else DEFAULT_PROFILE
        return build_result([choice], usage, profile, model=model, request_id=request_id, raw=None,
                            response_id=None, reasoning=reasoning or None)

    def final(self) -> Any:
        """The DONE result if there was one, else ``assemble()``."""
        return self.result if self.done else self.assemble()


class BufferingAdapter(EventBuffer):
    """Passes events through unchanged while keeping ``content``, ``reasoning``,
    ``tool_calls``, ``usage``, ``result`` (the DONE value) and ``error``.

        >>> buf = BufferingAdapter()                           # doctest: +SKIP
        >>> for event in buf.wrap(provider.stream("Hi")): ...  # doctest: +SKIP
        >>> buf.content, buf.result.usage                      # doctest: +SKIP

    Closing the wrapper (or leaving the loop and dropping it) closes the upstream stream.
    """

    def wrap(self, stream: Iterable[StreamEvent]) -> Iterator[StreamEvent]:
        return ClosingIterator(self._pass(stream), stream)

    def _pass(self, stream: Iterable[StreamEvent]) -> Iterator[StreamEvent]:
        try:
            for event in stream:
                self.feed(event)
                yield event
        except Exception as exc:
            self.fail(exc)
            raise
        finally:
            close_upstream(stream)


Callback = Callable[[Any], Any]


class CallbackAdapter:
    """Calls ``on_token(text)``, ``on_reasoning(text)``, ``on_tool_call(ToolCall)``,
    ``on_done(result)`` and ``on_error(exc)`` as events arrive.

    ``consume(stream)`` returns the final result (a CompletionResult, or an agent's result). A
    callback that raises stops the stream: the upstream is closed and the exception re-raised. A
    stream error (raised, or an ERROR event) goes to ``on_error``; it is re-raised unless a DONE
    event follows it (an agent reports a failed model call that way, the result saying so).
    ``on_event(event)`` sees every event first.

        >>> CallbackAdapter(on_token=lambda t: print(t, end="")).consume(provider.stream("Hi"))  # doctest: +SKIP
    """

    def __init__(self, *, on_token: Callback | None = None, on_reasoning: Callback | None = None,
                 on_tool_call: Callback | None = None, on_done: Callback | None = None,
                 on_error: Callback | None = None, on_event: Callback | None = None) -> None:
        self.on_token = on_token
        self.on_reasoning = on_reasoning
        self.on_tool_call = on_tool_call
        self.on_done = on_done
        self.on_error = on_error
        self.on_event = on_event
        self._handlers: dict[StreamEventType, Callback | None] = {
            StreamEventType.TOKEN: on_token,
            StreamEventType.REASONING: on_reasoning,
            StreamEventType.TOOL_CALL_END: on_tool_call,
            StreamEventType.DONE: on_done,
        }

    def consume(self, stream: Iterable[StreamEvent]) -> Any:
        check_iterable(stream, "stream")
        buffer = EventBuffer()
        seen = Consumed()
        try:
            for event in drain(stream, buffer, seen):
                if self.on_event is not None:
                    self.on_event(event)
                if event.type is StreamEventType.ERROR:
                    self._report(seen.failure)  # type: ignore[arg-type]
                    continue
                handler = self._handlers.get(event.type)
                if handler is not None:
                    handler(event.data)
            if seen.raised is not None:
                if not seen.repeat:
                    self._report(seen.raised)
                raise seen.raised
        finally:
            close_upstream(stream)
        failure = seen.failure
        if buffer.done:  # an agent reports a failed model call as ERROR, then DONE with the result
            return buffer.result
        if failure is not None:
            raise failure
        result = buffer.assemble()
        if self.on_done is not None:
            self.on_done(result)
        return result

    def _report(self, exc: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(exc)


class Consumed:
    """What ``drain`` saw besides the events: the stream's failure (from an ERROR event, or raised
    by the stream), and whether the raised exception repeats the ERROR event before it."""

    __slots__ = ("failure", "raised", "repeat")

    def __init__(self) -> None:
        self.failure: BaseException | None = None
        self.raised: BaseException | None = None
        self.repeat = False


def drain(stream: Iterable[StreamEvent], buffer: EventBuffer, seen: Consumed) -> Iterator[StreamEvent]:
    """The one consume loop of the adapters: yield ``stream``'s events up to its final DONE (choice
    0) or its end, fed to ``buffer``. An ERROR event sets ``seen.failure``; an exception the stream
    raises ends the loop and lands in ``seen.raised`` (``seen.repeat``: a Stream raises the error it
    has just yielded as an ERROR event, which an adapter must not report twice)."""
    iterator = iter(stream)
    while True:
        try:
            event = next(iterator)
        except StopIteration:
            return
        except Exception as exc:
            seen.repeat = exc is seen.failure
            seen.raised = exc
            seen.failure = seen.failure or exc
            return
        buffer.feed(event)
        if event.type is StreamEventType.ERROR:
            seen.failure = as_exception(event.data, buffer)
        yield event
        if event.type is StreamEventType.DONE and not event.choice:
            return


def as_exception(data: Any, buffer: EventBuffer) -> BaseException:
    if isinstance(data, BaseException):
        return data
    return StreamError(f"stream error event: {data!r}", partial=buffer.assemble())


def collect_stream(stream: Iterable[StreamEvent]) -> Any:
    """Read a stream to the end and return its result (the DONE value, else one assembled from
    the events); a stream error is raised. The upstream is closed either way."""
    return CallbackAdapter().consume(stream)
