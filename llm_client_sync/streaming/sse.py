"""Server-Sent Events out of a stream, and Flask/Django streaming responses around them."""

from __future__ import annotations

import functools
import logging
import queue
import re
from typing import Any, Iterable, Iterator, Mapping

from ..types import StreamEvent, StreamEventType
from .._checks import check_iterable
from ..errors import ConfigurationError
from ._payload import dumps, error_summary, event_payload, resolve_names, result_summary, safe_text
from ._upstream import END, ERROR, ClosingIterator, Pump, close_upstream
from .callbacks import EventBuffer

__all__ = ["SSE_HEADERS", "SSEAdapter", "django_response", "flask_response", "format_sse"]

log = logging.getLogger("llm_client_sync.streaming")

#: Headers a streaming SSE response needs; X-Accel-Buffering stops nginx from buffering it.
SSE_HEADERS: Mapping[str, str] = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_FIELD_BREAKERS = re.compile(r"[\r\n\0]")


def format_sse(event: str | None, data: Any, *, id: str | None = None) -> str:
    """One SSE frame: ``event: <name>\\ndata: <json>\\n\\n`` (``data`` JSON-encoded unless str).

    A str ``data`` is split on CR, LF and CRLF (each line its own ``data:`` field, as the spec
    rejoins them); ``event`` and ``id`` lose CR, LF and NUL so they cannot end their field or
    start another one.
    """
    text = safe_text(data) if isinstance(data, str) else dumps(data)
    lines = []
    if event:
        lines.append(f"event: {_FIELD_BREAKERS.sub('', safe_text(str(event)))}")
    if id is not None:
        lines.append(f"id: {_FIELD_BREAKERS.sub('', safe_text(str(id)))}")
    # a data line may not contain a line break: each line of the text becomes its own data field
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(text))
    return "\n".join(lines) + "\n\n"


class SSEAdapter:
    """Turns a stream of StreamEvents into SSE frames, one per event, JSON data.

    ``event_names`` renames event types (keys: StreamEventType or its value such as "token";
    a None value drops that type). The output always ends with a ``done`` frame: the DONE
    event's result, or, when the stream failed, an ``error`` frame followed by ``done`` with
    ``"result": null``.

    ``heartbeat`` seconds of model silence produce a comment line (``: heartbeat``): it keeps
    proxies from timing out, and a WSGI server only notices a vanished client when a write
    fails, so heartbeats are what let it close the generator, and with it the upstream HTTP
    stream, while the model is thinking. ``heartbeat=None`` reads the stream inline (no thread).

        >>> for frame in SSEAdapter().transform(provider.stream("Hi")):  # doctest: +SKIP
        ...     wsgi_write(frame)

    The iterator ``transform`` returns has ``close()``, which closes the upstream even if
    iteration never started; WSGI servers call it when the client goes away.
    """

    def __init__(self, event_names: Mapping[Any, str | None] | None = None, heartbeat: float | None = 15.0,
                 *, heartbeat_comment: str = "heartbeat") -> None:
        if heartbeat is not None and (isinstance(heartbeat, bool) or not isinstance(heartbeat, (int, float))
                                      or not heartbeat > 0 or heartbeat == float("inf")):
            raise ConfigurationError(f"heartbeat must be a positive finite number of seconds or None, "
                                     f"got {heartbeat!r}")
        if not isinstance(heartbeat_comment, str) or _FIELD_BREAKERS.search(heartbeat_comment):
            raise ConfigurationError("heartbeat_comment must be a str without CR, LF or NUL")
        self.names = resolve_names(event_names)
        self.heartbeat = heartbeat
        self._heartbeat_frame = f": {heartbeat_comment}\n\n"

    def transform(self, stream: Iterable[StreamEvent]) -> Iterator[str]:
        """SSE frames (str) for ``stream``; closing the result closes ``stream``."""
        check_iterable(stream, "stream")
        return ClosingIterator(self._frames(stream), stream)

    def encode(self, stream: Iterable[StreamEvent]) -> Iterator[bytes]:
        """Like ``transform`` but UTF-8 bytes, for servers that want bytes."""
        frames = self.transform(stream)
        return ClosingIterator((f.encode("utf-8") for f in frames), frames)

    def frame(self, event: StreamEvent) -> str | None:
        """The frame for one event, or None when its type is dropped."""
        name = self.names.get(event.type)
        if name is None:
            return None
        return format_sse(name, event_payload(event))

    def _frames(self, stream: Iterable[StreamEvent]) -> Iterator[str]:
        buffer = EventBuffer()
        pump = Pump(stream).start() if self.heartbeat else None
        iterator = None if pump else iter(stream)
        failure: BaseException | None = None
        try:
            while True:
                if pump is not None:
                    try:
                        item, exc = pump.get(self.heartbeat)
                    except queue.Empty:
                        yield self._heartbeat_frame
                        continue
                else:
                    try:
                        item, exc = next(iterator), None  # type: ignore[arg-type]
                    except StopIteration:
                        item = END
                    except Exception as err:
                        item, exc = ERROR, err
                if item is END:
                    break
                if item is ERROR:
                    log.warning("stream failed while sending SSE: %s", type(exc).__name__)
                    if exc is not failure:  # not already sent as an ERROR event
                        yield self._error_frame(exc)
                    failure = exc
                    break
                buffer.feed(item)
                if item.type is StreamEventType.ERROR:
                    failure = item.data
                frame = self.frame(item)
                if frame is not None:
                    yield frame
                if item.type is StreamEventType.DONE and not item.choice:
                    return
            yield self._done_frame(None if failure is not None else buffer.final())
        finally:
            if pump is not None:
                pump.stop()
            else:
                close_upstream(stream)

    def _error_frame(self, exc: BaseException) -> str:
        name = self.names.get(StreamEventType.ERROR) or "error"
        return format_sse(name, {"type": "error", "error": error_summary(exc)})

    def _done_frame(self, result: Any) -> str:
        name = self.names.get(StreamEventType.DONE) or "done"
        return format_sse(name, {"type": "done", "result": result_summary(result)})


def _adapter(adapter: SSEAdapter | None, heartbeat: float | None) -> SSEAdapter:
    return adapter if adapter is not None else SSEAdapter(heartbeat=heartbeat)


def flask_response(stream: Iterable[StreamEvent], adapter: SSEAdapter | None = None, *,
                   heartbeat: float | None = 15.0, status: int = 200,
                   headers: Mapping[str, str] | None = None) -> Any:
    """A ``flask.Response`` streaming ``stream`` as SSE (needs the ``flask`` extra).

        >>> @app.get("/chat")                                                 # doctest: +SKIP
        ... def chat():
        ...     return flask_response(provider.stream(request.args["q"]))
    """
    from .._extras import import_extra

    Response = import_extra("flask", "flask", "flask_response()").Response

    body = _adapter(adapter, heartbeat).encode(stream)
    return Response(body, status=status, content_type=SSE_CONTENT_TYPE,
                    headers={**SSE_HEADERS, **dict(headers or {})})


def django_response(stream: Iterable[StreamEvent], adapter: SSEAdapter | None = None, *,
                    heartbeat: float | None = 15.0, status: int = 200,
                    headers: Mapping[str, str] | None = None) -> Any:
    """A ``django.http.StreamingHttpResponse`` streaming ``stream`` as SSE (needs ``django``).

    Works under WSGI (gunicorn, runserver) and ASGI (uvicorn, daphne) alike: under ASGI the
    blocking stream is read one frame at a time on a worker thread, so each token is sent as it
    arrives instead of Django buffering the whole answer. Either server closing the response
    (the browser left) closes the upstream stream.
    """
    body = _adapter(adapter, heartbeat).encode(stream)
    response = _django_response_class()(body, status=status, content_type=SSE_CONTENT_TYPE)
    response._llm_upstream = stream
    for key, value in {**SSE_HEADERS, **dict(headers or {})}.items():
        response[key] = value
    return response


def _django_response_class() -> Any:
    """StreamingHttpResponse whose ``__aiter__`` streams a sync body frame by frame (Django's own
    would collect the whole body with ``sync_to_async(list)`` first)."""
    from .._extras import import_extra

    return _sse_response_class(import_extra("django.http", "django", "django_response()").StreamingHttpResponse)


@functools.lru_cache(maxsize=None)
def _sse_response_class(StreamingHttpResponse: Any) -> Any:
    class SSEStreamingHttpResponse(StreamingHttpResponse):
        _llm_upstream: Any = None

        async def __aiter__(self) -> Any:
            import asyncio

            parts = iter(self.streaming_content)
            try:
                while True:  # ends with the body; a disconnect cancels the awaiting task
                    part = await asyncio.to_thread(next, parts, END)
                    if part is END:
                        return
                    yield part
            finally:
                # the body may still be running on the worker thread: closing the upstream (safe
                # from any thread) unblocks it; the body's own close is best effort
                close_upstream(self._llm_upstream)

        def close(self) -> None:
            try:
                super().close()
            except ValueError:  # "generator already executing" on the worker thread
                close_upstream(self._llm_upstream)

    return SSEStreamingHttpResponse
