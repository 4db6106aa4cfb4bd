"""What the client does against hostile servers: one scenario per row, each in a fresh process
capped at ``--cap`` seconds, so the same script measures any checkout (before/after a change):

    PYTHONPATH=/path/to/checkout python benchmarks/bench_hostile.py [--cap 8] [--only NAME,...]

The scripted socket server is the one of ``tests/integration/test_hostile_transport.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
import zlib

HERE = os.path.abspath(__file__)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "integration"))

from test_hostile_transport import COMPLETION, SSE, Conn, Scripted, chunk_event, chunked  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _provider(server: Scripted, **kw):
    from llm_client_sync import OpenAIProvider

    return OpenAIProvider(model="gpt-5-nano", api_key="k", base_url=server.url, **kw)


def _outcome(fn) -> str:
    t0 = time.monotonic()
    rss0 = _rss_mb()
    try:
        fn()
        what = "returned"
    except BaseException as exc:  # noqa: BLE001 - the point is to report any outcome
        what = f"{type(exc).__name__}: {str(exc)[:90]}"
    return f"{what} after {time.monotonic() - t0:.2f} s, RSS +{_rss_mb() - rss0:.0f} MB"


def trickling_json_total2() -> str:
    from llm_client_sync import RetryPolicy, Timeout

    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Length": "100000"})
        while conn.send(b" "):
            time.sleep(0.5)

    p = _provider(Scripted(script), timeout=Timeout(total=2, read=30), retry=RetryPolicy(max_retries=0))
    return _outcome(lambda: p.complete("x"))


def trickling_stream_total2() -> str:
    from llm_client_sync import RetryPolicy, Timeout

    def script(conn: Conn) -> None:
        conn.head(headers=SSE)
        while conn.send(chunked(chunk_event("w "))):
            time.sleep(0.5)

    p = _provider(Scripted(script), timeout=Timeout(total=2, stream_idle=30), retry=RetryPolicy(max_retries=0))
    return _outcome(lambda: list(p.stream("x")))


def body_200mb() -> str:
    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Length": str(200 * 2**20)})
        block = b" " * 2**16
        for _ in range(200 * 16):
            if not conn.send(block):
                return

    p = _provider(Scripted(script))
    return _outcome(lambda: p.complete("x"))


def gzip_bomb_256mb() -> str:
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = b" " * 2**20
    payload = b"".join([z.compress(block) for _ in range(256)] + [z.flush()])  # never 256 MiB in memory here

    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Encoding": "gzip",
                           "Content-Length": str(len(payload))})
        conn.send(payload)

    p = _provider(Scripted(script))
    return _outcome(lambda: p.complete("x")) + f" ({len(payload) // 1024} KB on the wire)"


def endless_sse_line() -> str:
    def script(conn: Conn) -> None:
        conn.head(headers=SSE)
        conn.send(chunked(chunk_event("first ")) + chunked(b"data: "))
        block = chunked(b"x" * 2**14)
        while conn.send(block):
            pass

    p = _provider(Scripted(script))
    return _outcome(lambda: list(p.stream("x")))


def gzip_event_stream() -> str:
    def script(conn: Conn) -> None:
        z = zlib.compressobj(6, zlib.DEFLATED, 31)
        conn.head(headers={**SSE, "Content-Encoding": "gzip"})
        conn.send(chunked(z.compress(chunk_event("Hello")) + z.flush(zlib.Z_SYNC_FLUSH)))
        time.sleep(1.0)
        rest = z.compress(chunk_event(" world") + chunk_event(None, "stop") + b"data: [DONE]\n\n") + z.flush()
        conn.send(chunked(rest) + b"0\r\n\r\n")

    p = _provider(Scripted(script))
    first: list[float] = []
    t0 = time.monotonic()

    def run() -> None:
        from llm_client_sync import StreamEventType as E

        with p.stream("x") as st:
            for ev in st:
                if ev.type is E.TOKEN and not first:
                    first.append(time.monotonic() - t0)
            r = st.result()
        if r.content != "Hello world":
            raise AssertionError(f"content {r.content!r}")

    out = _outcome(run)
    return out + (f"; first token at {first[0] * 1000:.0f} ms" if first else "; no token")


def json_answer_to_stream() -> str:
    body = json.dumps(COMPLETION).encode()

    def script(conn: Conn) -> None:
        conn.head(headers={"Content-Type": "application/json", "Content-Length": str(len(body))})
        conn.send(body)

    server = Scripted(script)
    p = _provider(server)
    out = _outcome(lambda: p.stream("x").result())
    return out + f"; requests sent: {len(server.requests)}"


def _retry_hint(hint: dict) -> str:
    from llm_client_sync import RetryPolicy

    def script(conn: Conn) -> None:
        body = json.dumps(COMPLETION if len(server.requests) > 1 else {"error": {"message": "slow"}}).encode()
        status = "200 OK" if len(server.requests) > 1 else "429 Too Many Requests"
        conn.head(status, {**hint, "Content-Type": "application/json", "Content-Length": str(len(body))})
        conn.send(body)

    server = Scripted(script)
    p = _provider(server, retry=RetryPolicy(max_retries=1, base=0.05, cap=0.05))
    return _outcome(lambda: p.complete("x"))


def retry_after_nan() -> str:
    return _retry_hint({"retry-after-ms": "nan"})


def retry_after_year_99999() -> str:
    return _retry_hint({"retry-after": "Fri, 31 Dec 99999 23:59:59 GMT"})


def retry_policy_attempt_2000() -> str:
    from llm_client_sync import RetryPolicy

    return _outcome(lambda: RetryPolicy().delay(2000))


def tls_self_signed() -> str:
    import tempfile

    d = tempfile.mkdtemp()
    cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    server = Scripted(lambda conn: None, tls=(cert, key))
    from llm_client_sync import RetryPolicy

    p = _provider(server, retry=RetryPolicy(max_retries=2, base=0.01, cap=0.01))
    out = _outcome(lambda: p.complete("x"))
    return out.split(": ")[0] + f"; connections: {len(server.accepted)}; names REQUESTS_CA_BUNDLE: " \
        f"{'REQUESTS_CA_BUNDLE' in out or _names_bundle(p)}"


def _names_bundle(p) -> bool:
    try:
        p.complete("x")
    except Exception as exc:  # noqa: BLE001
        return "REQUESTS_CA_BUNDLE" in str(exc)
    return False


def redirect_message() -> str:
    def script(conn: Conn) -> None:
        conn.head("307 Temporary Redirect", {"Location": "https://elsewhere.example/v1", "Content-Length": "0"})

    p = _provider(Scripted(script))
    try:
        p.complete("x")
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {str(exc)[:100]}"
    return "returned"


def aio_cancel_silent() -> str:
    from llm_client_sync.aio import AsyncOpenAIProvider

    server = Scripted(lambda conn: conn.wait_closed(60))
    sync = _provider(server)
    exited: list[float] = []
    real = sync.complete

    def complete(*a, **kw):
        try:
            return real(*a, **kw)
        finally:
            exited.append(time.monotonic())

    sync.complete = complete

    async def main() -> float:
        task = asyncio.ensure_future(AsyncOpenAIProvider(provider=sync).complete("x"))
        await asyncio.sleep(0.3)
        task.cancel()
        t = time.monotonic()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return t

    t_cancel = asyncio.run(main())
    end = time.monotonic() + 5
    while not exited and time.monotonic() < end:
        time.sleep(0.01)
    if not exited:
        return f"worker thread still in the call 5 s after the cancel; connections: {len(server.accepted)}"
    return f"worker thread freed {(exited[0] - t_cancel) * 1000:.0f} ms after the cancel; connections: {len(server.accepted)}"


def abandoned_stream_gc_off() -> str:
    from llm_client_sync import StreamEventType as E

    def script(conn: Conn) -> None:
        conn.head(headers=SSE)
        while conn.send(chunked(chunk_event("w "))):
            time.sleep(0.02)

    server = Scripted(script)
    p = _provider(server)
    gc.disable()
    for ev in p.stream("x"):
        if ev.type is E.TOKEN:
            break
    t0 = time.monotonic()
    if server.closed_event.wait(5):
        return f"server saw the connection closed {(server.closed_at[0] - t0) * 1000:.0f} ms after the break"
    return "connection still open 5 s after the break (released only by the garbage collector)"


SCENARIOS = {f.__name__: f for f in (
    trickling_json_total2, trickling_stream_total2, body_200mb, gzip_bomb_256mb, endless_sse_line,
    gzip_event_stream, json_answer_to_stream, retry_after_nan, retry_after_year_99999, retry_policy_attempt_2000,
    tls_self_signed, redirect_message, aio_cancel_silent, abandoned_stream_gc_off)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cap", type=float, default=8.0, help="seconds a scenario may take before it is reported as hung")
    ap.add_argument("--only", default="")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(SCENARIOS[args.one]())
        sys.stdout.flush()
        os._exit(0)  # scripted servers run daemon threads
    names = [n for n in (args.only.split(",") if args.only else SCENARIOS)]
    print("| scenario | outcome |\n|---|---|")
    for name in names:
        try:
            out = subprocess.run([sys.executable, HERE, "--one", name], capture_output=True, text=True,
                                 timeout=args.cap)
            text = (out.stdout.strip().splitlines() or [out.stderr.strip().splitlines()[-1]])[-1]
        except subprocess.TimeoutExpired:
            text = f"still running after {args.cap:g} s (hung)"
        print(f"| {name} | {text.replace('|', '/')} |", flush=True)


if __name__ == "__main__":
    threading.excepthook = lambda args: None  # a server thread's broken pipe is not news
    main()
