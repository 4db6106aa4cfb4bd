"""PusherAdapter: publish a stream on a Pusher channel (official ``pusher`` library, extra
``pusher``), coalescing tokens into messages under Pusher's size limit, with sequence numbers."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable, Iterable, Mapping

from .._checks import check_int, check_iterable, check_number, check_str
from ..errors import ConfigurationError, LLMClientError
from ..types import StreamEvent, StreamEventType, ToolCall
from ._payload import clean_text, dumps, error_summary
from ._upstream import close_upstream
from .callbacks import EventBuffer, as_exception

__all__ = ["DEFAULT_PUSHER_EVENTS", "PusherAdapter", "TokenCoalescer"]

#: Pusher's limit on an event's data, in UTF-8 bytes, and on events per batch call.
PUSHER_MAX_BYTES = 10_240
PUSHER_MAX_BATCH = 10

#: The event names of the async sibling library; reasoning and tool calls are off by default.
DEFAULT_PUSHER_EVENTS: Mapping[str, str | None] = {
    "response": "new-response",
    "token": "new-token",
    "reasoning": None,
    "tool_call": None,
    "finished": "response-finished",
}


def _escaped_bytes(text: str) -> int:
    """UTF-8 bytes ``text`` takes inside a JSON string (escapes are per character)."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


class TokenCoalescer:
    """Packs text pieces into messages ``{"response_id", "seq", "text"}`` whose JSON data is at
    most ``max_bytes`` UTF-8 bytes; consecutive pieces of one event name share a message. Pure:
    ``ready`` holds finished ``(event_name, data)`` pairs in sequence order."""

    def __init__(self, response_id: str, max_bytes: int = PUSHER_MAX_BYTES) -> None:
        self.response_id = response_id
        self.max_bytes = max_bytes
        self.next_seq = 0
        self.ready: list[tuple[str, str]] = []
        self._name: str | None = None
        self._parts: list[str] = []
        self._cost = 0
        self._budget = 0

    def add_text(self, name: str, text: str) -> None:
        text = clean_text(text)  # a lone surrogate cannot be measured (or sent) as UTF-8
        if self._name != name:
            self.finish()
        if self._name is None:
            self._open(name)
        cost = _escaped_bytes(text)
        if self._cost + cost <= self._budget:
            self._parts.append(text)
            self._cost += cost
            return
        for ch in text:  # too big for this message: cut between characters, never inside one
            cost = _escaped_bytes(ch)
            if self._cost + cost > self._budget:
                self.finish()
                self._open(name)
            self._parts.append(ch)
            self._cost += cost

    def add_message(self, name: str, fields: Mapping[str, Any]) -> None:
        """A whole message (fields plus response_id and seq) in sequence after pending text."""
        self.finish()
        data = dumps({"response_id": self.response_id, "seq": self.next_seq, **fields})
        self._check(data)
        self.ready.append((name, data))
        self.next_seq += 1

    def fits(self, fields: Mapping[str, Any]) -> bool:
        data = dumps({"response_id": self.response_id, "seq": self.next_seq, **fields})
        return len(data.encode("utf-8")) <= self.max_bytes

    @property
    def pending_text(self) -> bool:
        return bool(self._parts)

    def finish(self) -> None:
        """Close the open text message, if any, into ``ready``."""
        if self._name is not None and self._parts:
            data = dumps({"response_id": self.response_id, "seq": self.next_seq, "text": "".join(self._parts)})
            self._check(data)
            self.ready.append((self._name, data))
            self.next_seq += 1
        self._name, self._parts, self._cost = None, [], 0

    def take(self) -> list[tuple[str, str]]:
        ready, self.ready = self.ready, []
        return ready

    def _open(self, name: str) -> None:
        self._name, self._parts, self._cost = name, [], 0
        empty = dumps({"response_id": self.response_id, "seq": self.next_seq, "text": ""})
        self._budget = self.max_bytes - len(empty.encode("utf-8"))
        if self._budget < 4:  # room for at least one character of any width
            raise ConfigurationError(f"max_bytes={self.max_bytes} leaves no room for text")

    def _check(self, data: str) -> None:
        size = len(data.encode("utf-8"))
        if size > self.max_bytes:
            raise LLMClientError(f"a Pusher message would be {size} bytes (limit {self.max_bytes})")


class PusherAdapter:
    """Publishes a stream on ``channel``: ``new-response`` first, then the text as
    ``new-token`` messages, then ``response-finished`` (names set by ``event_names``).

    Every message's data is JSON with ``response_id`` and ``seq`` (0, 1, 2, ... per response)
    so a subscriber can restore order; ``response-finished`` carries the last ``seq``,
    ``finish_reason``, ``usage``, ``model``, ``cost``, the tool calls' ids and names, and
    ``error`` (null on success). Tokens are coalesced: pending text is published when
    ``flush_interval`` seconds have passed since the last publish (checked as events arrive),
    each message at most ``max_bytes`` UTF-8 bytes, at most ``max_batch`` events per
    ``trigger_batch`` call.

    Give a ``pusher.Pusher`` as ``client`` or its settings (``app_id``, ``key``, ``secret``,
    ``cluster`` or ``host``/``port``/``ssl``). Encrypted channels are not supported (the
    limit would apply to the ciphertext).

        >>> PusherAdapter("chat-42", app_id="12345", key="app-key", secret="...",  # doctest: +SKIP
        ...               cluster="eu").consume(provider.stream("Hi"))
    """

    def __init__(self, channel: str, client: Any = None, *, app_id: str | int | None = None,
                 key: str | None = None, secret: str | None = None, cluster: str | None = None,
                 host: str | None = None, port: int | None = None, ssl: bool = True,
                 event_names: Mapping[str, str | None] | None = None, max_bytes: int = PUSHER_MAX_BYTES,
                 max_batch: int = PUSHER_MAX_BATCH, flush_interval: float = 0.1,
                 metadata: Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        check_str(channel, "channel")
        check_int(max_bytes, "max_bytes", maximum=PUSHER_MAX_BYTES)
        check_int(max_batch, "max_batch", maximum=PUSHER_MAX_BATCH)
        check_number(flush_interval, "flush_interval", allow_zero=True)
        if channel.startswith("private-encrypted-"):
            raise ConfigurationError("PusherAdapter does not support encrypted channels")
        if not 1 <= max_batch <= PUSHER_MAX_BATCH:
            raise ConfigurationError(f"max_batch must be between 1 and {PUSHER_MAX_BATCH}")
        if max_bytes > PUSHER_MAX_BYTES:
            raise ConfigurationError(f"max_bytes cannot exceed Pusher's limit of {PUSHER_MAX_BYTES}")
        unknown = set(event_names or ()) - set(DEFAULT_PUSHER_EVENTS)
        if unknown:
            raise ConfigurationError(f"unknown event_names keys: {sorted(unknown)}")
        self.names = {**DEFAULT_PUSHER_EVENTS, **dict(event_names or {})}
        for name in self.names.values():
            if name is not None and len(name) > 200:
                raise ConfigurationError("a Pusher event name is limited to 200 characters")
        if client is None:
            client = _make_client(app_id, key, secret, cluster, host, port, ssl)
        _validate_channel(channel)
        self.channel = channel
        self.client = client
        self.max_bytes = max_bytes
        self.max_batch = max_batch
        self.flush_interval = flush_interval
        self.metadata = dict(metadata or {})
        self._clock = clock
        self.published_batches = 0

    def __repr__(self) -> str:  # the client holds the secret: never show it
        return f"PusherAdapter(channel={self.channel!r})"

    def consume(self, stream: Iterable[StreamEvent], *, response_id: str | None = None) -> Any:
        """Publish ``stream`` and return its final result. A stream error is published in
        ``response-finished`` and re-raised (unless a DONE event followed it, as from an agent);
        a publish failure closes the stream and raises LLMClientError."""
        check_iterable(stream, "stream")
        rid = response_id or uuid.uuid4().hex
        packer = TokenCoalescer(rid, self.max_bytes)
        buffer = EventBuffer()
        failure: BaseException | None = None
        try:
            if self.names["response"]:
                packer.add_message(self.names["response"], self.metadata)
                self._publish(packer.take())
            last = self._clock()
            iterator = iter(stream)
            while True:
                try:
                    event = next(iterator)
                except StopIteration:
                    break
                except Exception as exc:
                    failure = failure or exc
                    break
                buffer.feed(event)
                if event.choice:
                    continue
                if event.type is StreamEventType.ERROR:
                    failure = as_exception(event.data, buffer)
                self._add(packer, event)
                if event.type is StreamEventType.DONE:
                    break
                if len(packer.ready) >= self.max_batch or (
                        (packer.ready or packer.pending_text) and self._clock() - last >= self.flush_interval):
                    packer.finish()
                    self._publish(packer.take())
                    last = self._clock()
            result = buffer.result if buffer.done else (None if failure is not None else buffer.final())
            if self.names["finished"]:
                packer.add_message(self.names["finished"], self._finished_fields(packer, result, failure))
            self._publish(packer.take())
        finally:
            close_upstream(stream)
        if failure is not None and not buffer.done:
            raise failure
        return result

    def _add(self, packer: TokenCoalescer, event: StreamEvent) -> None:
        kind = event.type
        if kind is StreamEventType.TOKEN and self.names["token"] and event.data:
            packer.add_text(self.names["token"], event.data)
        elif kind is StreamEventType.REASONING and self.names["reasoning"] and event.data:
            packer.add_text(self.names["reasoning"], event.data)
        elif kind is StreamEventType.TOOL_CALL_END and self.names["tool_call"] and isinstance(event.data, ToolCall):
            tc = event.data
            fields: dict[str, Any] = {"tool_call": {"id": tc.id, "name": tc.name, "raw_arguments": tc.raw_arguments}}
            if not packer.fits(fields):
                fields = {"tool_call": {"id": tc.id, "name": tc.name}, "truncated": True}
            packer.add_message(self.names["tool_call"], fields)

    def _finished_fields(self, packer: TokenCoalescer, result: Any, failure: BaseException | None) -> dict[str, Any]:
        packer.finish()
        fields: dict[str, Any] = {
            "last_seq": packer.next_seq,
            "finish_reason": getattr(result, "finish_reason", None),
            "model": getattr(result, "model", None),
            "status": getattr(result, "status", None),
            "usage": getattr(result, "usage", None),
            "cost": getattr(result, "cost", None),
            "tool_calls": [{"id": tc.id, "name": tc.name} for tc in getattr(result, "tool_calls", None) or ()],
            "error": error_summary(failure) if failure is not None else None,
        }
        if fields["error"] and len(fields["error"]["message"]) > 1000:
            fields["error"]["message"] = fields["error"]["message"][:1000] + "..."
        if not packer.fits(fields):
            fields["tool_calls"] = []
            fields["truncated"] = True
        return fields

    def _publish(self, messages: list[tuple[str, str]]) -> None:
        for start in range(0, len(messages), self.max_batch):
            batch = [{"channel": self.channel, "name": name, "data": data}
                     for name, data in messages[start:start + self.max_batch]]
            try:
                # already_encoded: data is our JSON text; the library's own size check measures
                # sys.getsizeof, which rejects valid mixed-width text, so we check bytes instead.
                reply = self.client.trigger_batch(batch, already_encoded=True)
            except Exception as exc:
                raise LLMClientError(f"publishing to Pusher failed: {type(exc).__name__}: {exc}") from exc
            # soketi answers some failures (bad signature) with HTTP 200 and an error body
            if isinstance(reply, Mapping) and reply.get("error"):
                raise LLMClientError(f"Pusher rejected the batch: {reply.get('error')} (code {reply.get('code')})")
            self.published_batches += 1


def _validate_channel(channel: str) -> None:
    try:
        from pusher.util import validate_channel
    except ImportError:  # a client given directly need not be the official library
        return
    try:
        validate_channel(channel)
    except ValueError as exc:
        raise ConfigurationError(f"invalid Pusher channel name {channel!r}: {exc}") from exc


def _make_client(app_id: Any, key: str | None, secret: str | None, cluster: str | None,
                 host: str | None, port: int | None, ssl: bool) -> Any:
    if app_id is None or not key or not secret:
        raise ConfigurationError("PusherAdapter needs a client or app_id, key and secret")
    from .._extras import import_extra

    pusher = import_extra("pusher", "pusher", "PusherAdapter")
    kwargs: dict[str, Any] = {"app_id": str(app_id), "key": key, "secret": secret, "ssl": ssl}
    if cluster:
        kwargs["cluster"] = cluster
    if host:
        kwargs["host"] = host
    if port:
        kwargs["port"] = port
    return pusher.Pusher(**kwargs)
