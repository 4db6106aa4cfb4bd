"""The SSE decoder against a small reference model of the event-stream rules, fed at many split points,
plus the exact ``max_line`` boundaries (written to kill the mutants mutmut left alive in ``_sse.py``)."""

from __future__ import annotations

import random
import re
import typing

import pytest

from llm_client_sync._sse import DEFAULT_MAX_LINE, SSEDecoder, SSELineTooLong, ServerSentEvent
from llm_client_sync.errors import LLMClientError, StreamError

BOM = b"\xef\xbb\xbf"


def reference(stream: bytes) -> tuple[list[ServerSentEvent], int]:
    """The WHATWG event-stream rules as the library applies them, on the whole stream at once:
    a leading BOM is dropped, lines end in CRLF, CR or LF, an unterminated last line is discarded,
    ``id`` and ``retry`` persist across events, the event type resets after every blank line."""
    if stream.startswith(BOM):
        stream = stream[3:]
    *lines, _tail = re.split(rb"\r\n|\r|\n", stream)
    events: list[ServerSentEvent] = []
    comments = 0
    data: list[str] = []
    event, last_id, retry = "", None, None
    for raw in lines:
        line = raw.decode("utf-8", "replace")
        if not line:
            if data:
                events.append(ServerSentEvent("\n".join(data), event or "message", last_id, retry))
            data, event = [], ""
            continue
        if line.startswith(":"):
            comments += 1
            continue
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return events, comments


def decode(chunks, max_line: int = DEFAULT_MAX_LINE) -> tuple[list[ServerSentEvent], SSEDecoder]:
    d = SSEDecoder(max_line=max_line)
    out: list[ServerSentEvent] = []
    for c in chunks:
        out.extend(d.feed(c))
    return out, d


def splits(stream: bytes, rng: random.Random):
    """Whole, every two-way split, byte by byte, and seeded random cuts (bounded)."""
    yield [stream]
    for i in range(1, len(stream)):
        yield [stream[:i], stream[i:]]
    yield [stream[i:i + 1] for i in range(len(stream))]
    for _ in range(40):
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randint(2, 6))))
        yield [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]


STREAMS = [
    # LF only, several events on the fast path: no-space values, multi-line data, event types that reset
    b": c1\n: c2\ndata:abc\ndata: two\n\nevent: ping\ndata: x\n\ndata:  spaced\n\ndata: y\ndata: z\ndata: w\n\ndata: \xff later\n\n",
    # CR-only line ends (old Mac style), a comment, id and retry that persist
    b"id: 1\rretry: 250\rdata: a\r\r: keep-alive\revent: e\rdata: b\r\rdata: c\r\r",
    # CRLF, empty data lines, a field without a colon, unknown fields, an id with NUL (ignored)
    b"data\r\ndata:\r\n\r\nfoo: bar\r\nid: ok\r\nid: b\x00ad\r\ndata: d\r\n\r\nevent\r\ndata: e\r\n\r\n",
    # a BOM at the start; a blank line with no data resets the event type
    BOM + b"event: first\n\ndata: after reset\n\nevent: kept\ndata: 1\n\n",
    # invalid UTF-8 in data (replaced), mixed line ends, an unterminated last event (discarded)
    b"data: \xff\xfe ok\n\ndata: caf\xc3\xa9\r\n\r\ndata: mix\r\ndata: ed\n\rdata: lost",
    # a stream that starts with blank lines and then a BOM-like prefix that is NOT at the start
    b"\n\r\n" + BOM + b"data: not a bom\n\ndata: real\n\n",
    # LF-only, starting with blank lines (the first read has no CR)
    b"\n\ndata: lead\n\n",
    # retry values that are not ASCII digits are ignored
    "retry: 12x\nretry: -5\nretry: \u0661\u0662\nretry: \u00b2\ndata: r\n\nretry: 7\ndata: s\n\n".encode(),
]


@pytest.mark.parametrize("stream", STREAMS, ids=range(len(STREAMS)))
def test_decoder_matches_reference_model_at_every_split(stream):
    want, want_comments = reference(stream)
    assert want, "each stream dispatches at least one event"
    rng = random.Random(len(stream))
    for chunks in splits(stream, rng):
        got, d = decode(chunks)
        assert got == want, chunks
        assert d.comments == want_comments, chunks


def test_event_defaults_and_type_hints():
    ev = ServerSentEvent("x")
    assert (ev.event, ev.id, ev.retry) == ("message", None, None)
    hints = typing.get_type_hints(ServerSentEvent)
    assert hints["id"] == typing.Optional[str] and hints["retry"] == typing.Optional[int]


def test_event_without_id_or_retry_has_none():
    (ev,), _ = decode([b"data: x\n\n"])
    assert ev == ServerSentEvent("x", "message", None, None)
    (ev,), _ = decode([b"data: x\r\n", b"\r\n"])
    assert ev.id is None and ev.retry is None and ev.event == "message"


def test_default_cap_is_16_mib():
    assert DEFAULT_MAX_LINE == 16 * 1024 * 1024
    assert SSEDecoder().max_line == DEFAULT_MAX_LINE


def test_bom_only_stripped_at_very_start():
    assert decode([BOM + b"data: a\n\n"])[0] == [ServerSentEvent("a")]
    assert decode([BOM, b"data: a\n\n"])[0] == [ServerSentEvent("a")]
    # after a leading blank line the BOM is part of the field name, so the line is ignored
    assert decode([b"\n" + BOM + b"data: a\n\n"])[0] == []
    assert decode([b"\n", BOM + b"data: a\n\n"])[0] == []


def test_lf_of_split_crlf_skipped_once_only():
    got, _ = decode([b"data: a\r", b"\ndata: b\r\n", b"\r\n"])
    assert got == [ServerSentEvent("a\nb")]
    # the pending CR is settled by the next non-empty read; a later LF is a real line end
    got, _ = decode([b"data: a\r", b"data: b", b"\n\n"])
    assert got == [ServerSentEvent("a\nb")]
    got, _ = decode([b"data: a\r", b"\n", b"\n"])
    assert got == [ServerSentEvent("a")]
    got, _ = decode([b"data: a\r", b"\n\n"])
    assert got == [ServerSentEvent("a")]


def test_pending_and_flush():
    d = SSEDecoder()
    assert not d.pending
    d.feed(b"data: a")
    assert d.pending
    d.feed(b"\n")
    assert d.pending  # data buffered, no blank line yet
    assert d.flush() == [] and not d.pending
    assert d.feed(b"\n") == []  # the flushed event is gone
    assert d.feed(b"event: x\ndata: b\n\n") == [ServerSentEvent("b", "x")]
    d.feed(b"data: c")
    d.flush()
    assert d.feed(b"data: ") == [] and d.feed(b"d") == [] and d.feed(b"\n\n") == [ServerSentEvent("d")]


# --- max_line: a line, or one event's data, may be exactly max_line bytes --------------------------


def _data_line(total: int) -> bytes:
    """A ``data:`` line of exactly ``total`` bytes (without its line end)."""
    return b"data:" + b"x" * (total - 5)


def _decoder(warm: bool, cap: int) -> SSEDecoder:
    """A decoder at its first read, or warmed by one event (LF-only reads then take the fast path)."""
    d = SSEDecoder(max_line=cap)
    if warm:
        assert d.feed(b"data: w\n\n") == [ServerSentEvent("w")]
    return d


both_paths = pytest.mark.parametrize("warm", [False, True], ids=["first-read", "fast-path"])
both_ends = pytest.mark.parametrize("end", [b"\n", b"\r\n"])


@both_paths
@both_ends
def test_event_data_of_exactly_max_line_is_accepted(warm, end):
    cap = 40
    d = _decoder(warm, cap)
    line = _data_line(cap)
    assert d.feed(line + end + end) == [ServerSentEvent("x" * (cap - 5))]
    # and again, so the counter was reset after the dispatch
    assert d.feed(line + end + end) == [ServerSentEvent("x" * (cap - 5))]


@both_paths
@both_ends
def test_event_data_over_max_line_raises_across_lines(warm, end):
    cap = 40
    d = _decoder(warm, cap)
    half = _data_line(cap // 2 + 1)  # each line fits, the event's data together does not
    with pytest.raises(SSELineTooLong) as info:
        d.feed(half + end + half + end + end)
    err = info.value
    assert isinstance(err, StreamError) and isinstance(err, LLMClientError)
    assert str(err).startswith("an event-stream line or event exceeds max_line_bytes=40 ")
    assert str(err).endswith(": not an API event stream, or raise the cap")
    assert "max_line_bytes=40" in str(err) and f"({2 * len(half)} bytes so far)" in str(err)
    # the decoder recovers: state was reset, an event of exactly the cap goes through afterwards
    assert d.feed(b"\n") == []
    assert d.feed(_data_line(cap) + end + end) == [ServerSentEvent("x" * (cap - 5))]


@pytest.mark.parametrize("first", [b"", b"data: w\n\n"], ids=["first-read", "fast-path"])
def test_unterminated_line_of_exactly_max_line_is_kept(first):
    cap = 30
    d = SSEDecoder(max_line=cap)
    d.feed(first)
    assert d.feed(_data_line(cap)) == []
    assert d.feed(b"\n\n") == [ServerSentEvent("x" * (cap - 5))]
    d.feed(first)
    with pytest.raises(SSELineTooLong, match=r"\(31 bytes so far\)"):
        d.feed(_data_line(cap + 1))


def test_line_growing_over_many_reads_raises_before_it_ends():
    cap = 30
    d = SSEDecoder(max_line=cap)
    d.feed(b"data: w\n\n")
    d.feed(b"data:")  # 5 bytes buffered
    fed = 5
    with pytest.raises(SSELineTooLong):
        for _ in range(20):  # bounded: 20 reads of 3 bytes
            fed += 3
            d.feed(b"abc")
    assert fed == 32  # raised on the first read that took the line over the cap, not later
    assert not d.pending
    # the decoder goes on with the next line, also one that arrives in several reads
    assert d.feed(b"data: ") == [] and d.feed(b"q") == [] and d.feed(b"\n\n") == [ServerSentEvent("q")]


def test_line_of_exactly_max_line_over_many_reads_is_accepted():
    cap = 30
    d = SSEDecoder(max_line=cap)
    for piece in (b"data:", b"x" * 10, b"x" * 10, b"x" * 5):
        assert d.feed(piece) == []
    assert d.feed(b"\n\n") == [ServerSentEvent("x" * 25)]


def test_non_ascii_digit_retry_does_not_crash():
    # "\u00b2".isdigit() is True but int() rejects it: the field must be ignored, not raise ValueError
    got, _ = decode(["retry: \u00b2\ndata: a\n\nretry: \u0661\ndata: b\n\n".encode()])
    assert got == [ServerSentEvent("a"), ServerSentEvent("b")]


def test_unterminated_line_over_max_line_raises_on_the_cr_path():
    d = SSEDecoder(max_line=30)
    with pytest.raises(SSELineTooLong, match=r"max_line_bytes=30 \(31 bytes so far\)"):
        d.feed(b": a\r" + _data_line(31))
    assert not d.pending
    assert d.feed(b"data: b\r\r") == [ServerSentEvent("b")]


def test_flush_resets_the_event_data_count():
    d = SSEDecoder(max_line=40)
    d.feed(b"data: w\n\ndata: partial\n")
    d.flush()
    assert d.feed(_data_line(40) + b"\n\n") == [ServerSentEvent("x" * 35)]
