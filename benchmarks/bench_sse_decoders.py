"""Our SSE decoder (llm_client_sync._sse) against sseclient-py on the same streams, in one run.

Measures: throughput on a recorded-shape chat stream; the first-event delay on a close-delimited
body read from a real socket; a stream truncated mid-event; an invalid UTF-8 byte; a 4 MiB line
fed in 1 KiB reads (linear or quadratic assembly). Needs ``pip install sseclient-py`` for the
comparison column (it is not a dependency of the library).

    python benchmarks/bench_sse_decoders.py
"""

from __future__ import annotations

import json
import socket
import threading
import time

from llm_client_sync._sse import SSEDecoder

try:
    import sseclient
except ImportError:  # pragma: no cover
    sseclient = None

CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5-nano",
         "choices": [{"index": 0, "delta": {"content": "word "}, "finish_reason": None}]}
EVENT = b"data: " + json.dumps(CHUNK).encode() + b"\n\n"


def ours(reads):
    dec = SSEDecoder()
    out = []
    for r in reads:
        out.extend(e.data for e in dec.feed(r))
    return out


def theirs(reads):
    return [e.data for e in sseclient.SSEClient(iter(reads)).events()]


def throughput(fn, n=20_000, size=4096):
    body = EVENT * n
    reads = [body[i:i + size] for i in range(0, len(body), size)]
    t = time.perf_counter()
    got = fn(reads)
    dt = time.perf_counter() - t
    assert len(got) == n, len(got)
    return n / dt


def long_line(fn, mib=4):
    line = b"data: " + b"x" * (mib << 20) + b"\n\n"
    reads = [line[i:i + 1024] for i in range(0, len(line), 1024)]
    t = time.perf_counter()
    got = fn(reads)
    assert len(got) == 1 and len(got[0]) == mib << 20
    return time.perf_counter() - t


def truncated(fn):
    reads = [EVENT, b'data: {"choices": [{"delta": {"content": "trunc']
    try:
        got = fn(reads)
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        return f"raises {type(exc).__name__}"
    return f"{len(got)} events (partial event {'dispatched' if len(got) > 1 else 'held back'})"


def bad_utf8(fn):
    reads = [b"data: caf\xe9\n\n"]
    try:
        got = fn(reads)
    except Exception as exc:  # noqa: BLE001
        return f"raises {type(exc).__name__}"
    return f"decoded {got[0]!r}"


def first_event_delay(fn_name):
    """A close-delimited body (no Content-Length, no chunking): the first event, then silence."""
    import requests

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    release = threading.Event()

    def serve():
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + EVENT)
        release.wait(3)
        conn.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    resp = requests.get(f"http://127.0.0.1:{port}/", stream=True, timeout=5)
    t = time.perf_counter()
    if fn_name == "ours":
        dec = SSEDecoder()
        while True:
            data = resp.raw.read1(65536)
            if not data or dec.feed(data):
                break
    else:
        next(sseclient.SSEClient(resp).events())
    dt = time.perf_counter() - t
    release.set()
    resp.close()
    th.join(5)
    srv.close()
    return dt * 1000


def main() -> None:
    rows = [("measurement", "llm_client_sync._sse", "sseclient-py")]
    fns = {"ours": ours, "theirs": theirs if sseclient else None}

    def col(f, *a):
        return "not installed" if f is None else f(*a)

    rows.append(("events/s, 20k chat chunks in 4 KiB reads", f"{throughput(ours):,.0f}",
                 col(fns["theirs"] and (lambda: f"{throughput(theirs):,.0f}"))))
    rows.append(("first event, close-delimited body, ms", f"{first_event_delay('ours'):.1f}",
                 col(sseclient and (lambda: f"{first_event_delay('theirs'):.1f}"))))
    rows.append(("4 MiB line in 1 KiB reads, s", f"{long_line(ours):.3f}",
                 col(fns["theirs"] and (lambda: f"{long_line(theirs):.3f}"))))
    rows.append(("stream cut mid-event", truncated(ours), col(fns["theirs"] and (lambda: truncated(theirs)))))
    rows.append(("invalid UTF-8 byte", bad_utf8(ours), col(fns["theirs"] and (lambda: bad_utf8(theirs)))))
    widths = [max(len(str(r[i])) for r in rows) for i in range(3)]
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
