"""Serve a model's stream as Server-Sent Events from Flask, and read it back with requests.

    python examples/streaming_sse.py           # serve on a free port, read one stream, exit
    python examples/streaming_sse.py --serve   # keep serving: curl -N 'http://127.0.0.1:8000/stream?q=Hi'

With OPENAI_API_KEY unset it runs against the library's local mock server (no network).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import threading
from typing import Any, Iterator

import requests
from flask import Flask, request
from werkzeug.serving import make_server

from llm_client_sync.providers.openai import OpenAIProvider
from llm_client_sync.streaming import SSEAdapter, flask_response


@contextlib.contextmanager
def make_provider() -> Iterator[Any]:
    if os.environ.get("OPENAI_API_KEY"):
        with contextlib.closing(OpenAIProvider(model=os.environ.get("OPENAI_MODEL", "gpt-5-nano"))) as p:
            yield p
        return
    from llm_client_sync.testing import MockOpenAIServer

    with MockOpenAIServer() as server:
        with contextlib.closing(OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url)) as p:
            yield p


def create_app(provider: Any) -> Flask:
    app = Flask(__name__)
    # heartbeats keep proxies from timing out and let the server notice a closed tab
    adapter = SSEAdapter(heartbeat=10.0)

    @app.get("/stream")
    def stream() -> Any:
        return flask_response(provider.stream(request.args.get("q", "Hello")), adapter)

    return app


def read_stream(url: str) -> None:
    """Print each SSE event the server sends (a real client would use EventSource)."""
    with requests.get(url, stream=True, timeout=30) as resp:
        print(resp.status_code, resp.headers["Content-Type"])
        for frame in resp.iter_lines(decode_unicode=True, delimiter="\n\n"):
            if not frame.strip() or frame.startswith(":"):
                continue
            fields = dict(line.split(": ", 1) for line in frame.splitlines())
            data = json.loads(fields["data"])
            print(f"{fields['event']:>10}  {json.dumps(data, ensure_ascii=False)[:100]}")
            if fields["event"] == "done":
                return


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    with make_provider() as provider:
        app = create_app(provider)
        if args.serve:
            app.run(host="127.0.0.1", port=args.port, threaded=True)
            return
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            read_stream(f"http://127.0.0.1:{server.server_port}/stream?q=Tell+me+about+SSE")
        finally:
            server.shutdown()
            thread.join(5)


if __name__ == "__main__":
    main()
