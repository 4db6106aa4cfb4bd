"""WebSocketAdapter: one JSON text message per stream event through any websocket's ``send``."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from .._checks import check_iterable
from ..errors import ConfigurationError
from ..types import StreamEvent, StreamEventType
from ._payload import dumps, error_summary, event_payload, resolve_names, result_summary
from ._upstream import close_upstream
from .callbacks import EventBuffer, as_exception

__all__ = ["WebSocketAdapter"]


class WebSocketAdapter:
    """Sends each event as a JSON message ``{"type": "token", "text": ...}`` via ``send``.

    ``send`` is an object with ``.send(str)`` (websocket-client, websockets' sync API,
    flask-sock, simple-websocket) or a callable taking the message. ``event_names`` sets the
    ``type`` field per event type (None drops that type). The last message is always
    ``{"type": "done", ...}``; a stream error first sends ``{"type": "error", ...}``.

    ``consume(stream)`` returns the final result. If sending fails (the client went away) the
    upstream stream is closed and the send error re-raised; a stream error is sent to the
    client, then re-raised unless a DONE event follows it (as from an agent).

        >>> def handler(ws):                                   # websockets.sync.server  # doctest: +SKIP
        ...     WebSocketAdapter(ws).consume(provider.stream(ws.recv()))
    """

    def __init__(self, send: Any, *, event_names: Mapping[Any, str | None] | None = None) -> None:
        target = getattr(send, "send", None)
        if callable(target):
            self._send: Callable[[str], Any] = target
        elif callable(send):
            self._send = send
        else:
            raise ConfigurationError(f"send must be a callable or have a .send method, got {type(send).__name__}")
        self.names = resolve_names(event_names)

    def message(self, event: StreamEvent) -> str | None:
        """The JSON text for one event, or None when its type is dropped."""
        name = self.names.get(event.type)
        if name is None:
            return None
        payload = event_payload(event)
        payload["type"] = name
        return dumps(payload)

    def consume(self, stream: Iterable[StreamEvent]) -> Any:
        check_iterable(stream, "stream")
        buffer = EventBuffer()
        failure: BaseException | None = None
        try:
            iterator = iter(stream)
            while True:
                try:
                    event = next(iterator)
                except StopIteration:
                    break
                except Exception as exc:
                    if exc is not failure:  # not already sent as an ERROR event
                        self._send(dumps({"type": self._name(StreamEventType.ERROR), "error": error_summary(exc)}))
                    failure = exc
                    break
                buffer.feed(event)
                if event.type is StreamEventType.ERROR:
                    failure = as_exception(event.data, buffer)
                text = self.message(event)
                if text is not None:
                    self._send(text)
                if event.type is StreamEventType.DONE and not event.choice:
                    return event.data
            result = None if failure is not None else buffer.final()
            self._send(dumps({"type": self._name(StreamEventType.DONE), "result": result_summary(result)}))
        finally:
            close_upstream(stream)
        if failure is not None:
            raise failure
        return result

    def _name(self, kind: StreamEventType) -> str:
        return self.names.get(kind) or kind.value
