"""Scripted replies for the local server: what the next model request gets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

__all__ = ["ErrorReply", "RawReply", "Reply", "StreamShape", "TextReply", "ToolCallReply"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamShape:
    """How a streamed reply is delivered (ignored for non-stream requests, except ``latency``).

    ``words_per_chunk`` text granularity; ``args_chunk`` characters of tool arguments per delta;
    ``framing`` "chunked" or "close"; ``chunk_delay``/``first_delay`` seconds; ``drop_after``
    events then the connection is cut; ``stall_after``/``stall`` silence mid-stream;
    ``omit_done`` leaves out ``data: [DONE]``; ``error_after`` sends an in-band error event after
    that many events; ``split_writes`` writes each event in pieces of that many bytes;
    ``latency`` seconds before the response starts.
    """

    words_per_chunk: int = 1
    args_chunk: int = 7
    framing: str = "chunked"
    chunk_delay: float = 0.0
    first_delay: float = 0.0
    drop_after: int | None = None
    stall_after: int | None = None
    stall: float = 0.0
    omit_done: bool = False
    error_after: int | None = None
    split_writes: int | None = None
    latency: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply(StreamShape):
    """Base of scripted replies; ``usage`` overrides the computed usage object."""

    usage: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    model: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TextReply(Reply):
    text: str
    finish_reason: str = "stop"
    reasoning: str | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallReply(Reply):
    """``calls``: (name, arguments) pairs; arguments a dict or a raw JSON string."""

    calls: Sequence[tuple[str, Any]]
    content: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorReply(Reply):
    status: int
    body: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RawReply(Reply):
    """Bytes sent as they are: a recorded SSE body (``stream=True``) or any JSON/text body."""

    body: bytes
    status: int = 200
    stream: bool = False
    content_type: str = "application/json"
