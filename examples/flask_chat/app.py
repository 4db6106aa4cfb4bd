"""A small chat page: Flask streams the model's answer as Server-Sent Events and the browser
reads it with EventSource (static/chat.js).

    python examples/flask_chat/app.py            # http://127.0.0.1:5000
    python examples/flask_chat/app.py --check    # serve, fetch one answer over SSE, exit

With OPENAI_API_KEY unset it talks to the library's local mock server, so it runs offline.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
from typing import Any, Iterator

from flask import Flask, render_template, request

from llm_client_sync.errors import LLMClientError
from llm_client_sync.streaming import SSEAdapter, flask_response
from llm_client_sync.types import StreamEvent, StreamEventType

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM = "You are a helpful assistant. Answer briefly."
MAX_MESSAGE_CHARS = 4000


def create_app(provider: Any, *, heartbeat: float = 15.0, model_params: dict[str, Any] | None = None) -> Flask:
    """The chat app around ``provider`` (anything with ``stream(messages, **params)``)."""
    app = Flask(__name__, root_path=HERE)
    adapter = SSEAdapter(heartbeat=heartbeat, event_names={"tool_call_delta": None})
    params = dict(model_params or {})

    @app.get("/")
    def index() -> str:
        return render_template("index.html")

    @app.get("/chat/stream")
    def chat_stream() -> Any:
        message = request.args.get("message", "").strip()
        if not message or len(message) > MAX_MESSAGE_CHARS:
            return {"error": f"message must be 1 to {MAX_MESSAGE_CHARS} characters"}, 400
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": message}]
        try:
            stream: Any = provider.stream(messages, **params)
        except LLMClientError as exc:  # e.g. a bad key: tell the page instead of answering 500
            stream = iter([StreamEvent(StreamEventType.ERROR, exc)])
        return flask_response(stream, adapter)

    return app


@contextlib.contextmanager
def offline_or_real_provider() -> Iterator[Any]:
    """OpenAIProvider for the real API when OPENAI_API_KEY is set, else for a local mock server."""
    from llm_client_sync.providers.openai import OpenAIProvider

    if os.environ.get("OPENAI_API_KEY"):
        provider = OpenAIProvider(model=os.environ.get("OPENAI_MODEL", "gpt-5-nano"))
        try:
            yield provider
        finally:
            provider.close()
        return
    from llm_client_sync.testing import MockOpenAIServer

    with MockOpenAIServer() as server:
        provider = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url)
        try:
            yield provider
        finally:
            provider.close()


def check(app: Flask) -> str:
    """Serve ``app`` on a free port, read one streamed answer with requests, return its text."""
    import json

    import requests
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/chat/stream"
        text = []
        with requests.get(url, params={"message": "Hello from the check"}, stream=True, timeout=10) as resp:
            resp.raise_for_status()
            for frame in resp.iter_lines(decode_unicode=True, delimiter="\n\n"):
                fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line and not line.startswith(":"))
                if fields.get("event") == "token":
                    text.append(json.loads(fields["data"])["text"])
                elif fields.get("event") == "done":
                    break
        return "".join(text)
    finally:
        server.shutdown()
        thread.join(5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--check", action="store_true", help="fetch one answer over SSE and exit")
    args = parser.parse_args(argv)
    with offline_or_real_provider() as provider:
        app = create_app(provider)
        if args.check:
            print(check(app))
            return
        app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
