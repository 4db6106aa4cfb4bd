"""The API key never leaves through any exit, even when a server echoes it back.

A distinctive key is read from a file with a trailing newline; a local server echoes the
Authorization header in error bodies, headers, in-band stream errors and model text. Every
exit (exception messages, ``err.body``/``err.headers``, chained tracebacks, logs, the CLI,
batch checkpoints, cache entries, Conversation files, SSE/Flask/Django/WebSocket/Pusher
payloads) is collected and grepped for the key.
"""

from __future__ import annotations

import json
import logging
import socket
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import serving

from llm_client_sync.errors import APIStatusError, ConfigurationError, LLMClientError
from llm_client_sync.providers.openai import OpenAIProvider

KEY = "sk-SECRET-canary-4f9d2c7e1b8a"
FRAGMENTS = (KEY, "SECRET-canary", "4f9d2c7e1b8a")


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        auth = self.headers.get("Authorization", "")
        text = json.dumps(body.get("messages", body.get("input", "")))
        self.server.seen.append(auth)  # type: ignore[attr-defined]
        if "echo-in-text" in text:
            self._reply_ok(body, f"your header was {auth}; key {auth[7:]}")
        elif "in-band" in text and body.get("stream"):
            frames = [
                {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-5-nano",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": f"token {auth[7:]} "}}]},
                {"error": {"message": f"proxy says: invalid {auth}", "type": "server_error"}},
            ]
            data = "".join(f"data: {json.dumps(f)}\n\n" for f in frames).encode()
            self._send(200, data, "text/event-stream")
        else:
            err = {"error": {"message": f"Incorrect API key provided: {auth[7:]} (header {auth})",
                             "type": "invalid_request_error", "code": "invalid_api_key"}}
            self._send(401, json.dumps(err).encode(), "application/json",
                       {"X-Echo-Authorization": auth, "WWW-Authenticate": f'Bearer error="{auth[7:]}"'})

    def _reply_ok(self, body, content):
        if body.get("stream"):
            frames = [
                {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-5-nano",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": content}}]},
                {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-5-nano",
                 "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            ]
            data = "".join(f"data: {json.dumps(f)}\n\n" for f in frames).encode() + b"data: [DONE]\n\n"
            self._send(200, data, "text/event-stream")
            return
        reply = {"id": "c1", "object": "chat.completion", "created": 0, "model": "gpt-5-nano",
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                              "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}}
        self._send(200, json.dumps(reply).encode(), "application/json")

    def _send(self, status, data, ctype, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def echo_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.seen = []  # type: ignore[attr-defined]
    with serving(server):
        yield server


@pytest.fixture()
def key_from_file(tmp_path):
    path = tmp_path / "openai.key"
    path.write_text(KEY + "\n")  # what `echo sk-... > file` leaves
    return path.read_text()


@pytest.fixture()
def provider(echo_server, key_from_file):
    p = OpenAIProvider("gpt-5-nano", api_key=key_from_file, base_url=f"http://127.0.0.1:{echo_server.server_port}/v1",
                       max_retries=0)
    yield p
    p.close()


def _leaks(*texts: object) -> list[str]:
    found = []
    for t in texts:
        s = t if isinstance(t, str) else t.decode("utf-8", "replace") if isinstance(t, bytes) else repr(t)
        for frag in FRAGMENTS:
            if frag in s:
                found.append(s[max(0, s.index(frag) - 60): s.index(frag) + 60])
    return found


def _all_of(exc: BaseException) -> list[object]:
    """Everything a user or a log can see of an exception (its ``partial`` is the model's reply,
    returned to the caller like any result, not an exit)."""
    out: list[object] = [str(exc), repr(exc), "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))]
    for name in ("body", "headers", "message", "args"):
        out.append(repr(getattr(exc, name, None)))
    return out


def test_trailing_newline_is_stripped_and_the_clean_key_is_sent(echo_server, provider):
    with pytest.raises(APIStatusError):
        provider.complete("hello")
    assert echo_server.seen[-1] == f"Bearer {KEY}"


@pytest.mark.parametrize("bad", [KEY[:6] + "\n" + KEY[6:], KEY + "\x00x", "sk-\x1b[31mred", KEY[:10] + " " + KEY[10:]])
def test_a_key_with_a_control_character_inside_is_refused_without_showing_it(bad):
    with pytest.raises(ConfigurationError) as info:
        OpenAIProvider("gpt-5-nano", api_key=bad, base_url="http://127.0.0.1:9/v1")
    assert "api_key" in str(info.value)
    assert not _leaks(*_all_of(info.value)) and "red" not in str(info.value)


def test_status_error_message_body_headers_and_traceback_are_redacted(provider, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(APIStatusError) as info:
        provider.complete("hello")
    err = info.value
    assert err.status_code == 401 and err.code == "invalid_api_key"
    assert "Incorrect API key provided" in str(err)  # the server's message survives
    assert "X-Echo-Authorization" in err.headers
    assert not _leaks(*_all_of(err), caplog.text)


def test_chained_connection_error_traceback_is_redacted(key_from_file, caplog):
    caplog.set_level(logging.DEBUG)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # a gateway that takes the key in the path: requests puts the URL in its message
    with OpenAIProvider("gpt-5-nano", api_key=key_from_file, base_url=f"http://127.0.0.1:{port}/{KEY}/v1",
                        max_retries=0) as p:
        with pytest.raises(LLMClientError) as info:
            p.complete("hello")
    texts = _all_of(info.value)
    assert "connection failed" in texts[0]
    assert info.value.__cause__ is not None
    assert not _leaks(*texts, caplog.text)


def _stream_events(provider, prompt):
    def gen():
        with provider.stream(prompt) as stream:
            yield from stream
    return gen()


@pytest.mark.parametrize("prompt", ["hello", "in-band error", "echo-in-text"])
def test_every_browser_adapter_payload_is_redacted(provider, prompt, tmp_path):
    from llm_client_sync.streaming import PusherAdapter, SSEAdapter, WebSocketAdapter, flask_response

    payloads: list[object] = []
    payloads.extend(SSEAdapter(heartbeat=None).transform(_stream_events(provider, prompt)))
    sent: list[str] = []
    try:
        WebSocketAdapter(sent.append).consume(_stream_events(provider, prompt))
    except LLMClientError as exc:
        payloads.extend(_all_of(exc))
    payloads.extend(sent)

    class FakePusher:
        batches: list = []

        def trigger_batch(self, batch, already_encoded=False):
            self.batches.append(batch)
            return {}

    pusher = FakePusher()
    try:
        PusherAdapter("chat-1", client=pusher).consume(_stream_events(provider, prompt))
    except LLMClientError as exc:
        payloads.extend(_all_of(exc))
    payloads.append(json.dumps(pusher.batches))
    flask = pytest.importorskip("flask")
    with flask.Flask(__name__).test_request_context():
        resp = flask_response(_stream_events(provider, prompt), heartbeat=None)
        payloads.append(b"".join(resp.response))
    django_body = _django_body(_stream_events(provider, prompt))
    if django_body is not None:
        payloads.append(django_body)
    assert len(payloads) > 5
    assert any("error" in str(p) or "your header" in str(p) for p in payloads)
    assert not _leaks(*payloads)


def _django_body(events):
    try:
        import django
        from django.conf import settings
    except ImportError:
        return None
    if not settings.configured:
        # the same settings the Django SSE tests use, whichever module configures first
        settings.configure(DEBUG=False, DEFAULT_CHARSET="utf-8", ALLOWED_HOSTS=["127.0.0.1", "localhost"],
                           SECRET_KEY="test-only", MIDDLEWARE=[], INSTALLED_APPS=[])
        django.setup()
    from llm_client_sync.streaming import django_response

    return b"".join(django_response(events, heartbeat=None).streaming_content)


def test_cache_entries_never_store_the_key(echo_server, key_from_file, tmp_path):
    cache_dir = tmp_path / "cache"
    with OpenAIProvider("gpt-5-nano", api_key=key_from_file, max_retries=0, cache_backend="fs",
                        cache_dir=str(cache_dir),
                        base_url=f"http://127.0.0.1:{echo_server.server_port}/v1") as p:
        first = p.complete("echo-in-text please")
        second = p.complete("echo-in-text please")
    # the live reply is the caller's own data; what was stored (and so a cache hit) is redacted
    assert f"your header was Bearer {KEY}" in first.content
    assert second.content == "your header was Bearer ***; key ***"
    files = [f for f in cache_dir.rglob("*") if f.is_file()]
    assert files
    assert not _leaks(*(f.read_bytes() for f in files))


def test_conversation_files_never_store_the_key(provider, tmp_path):
    from llm_client_sync.conversation import Conversation

    conv = Conversation("sys")
    conv.add_user(f"my key is {KEY}, and the header Bearer {KEY}")
    conv.add_assistant(provider.complete("echo-in-text").content)
    path = tmp_path / "conv.json"
    conv.save(path)
    assert not _leaks(path.read_bytes())
    assert Conversation.load(path).messages[1]["content"].startswith("my key is ***")


def test_batch_checkpoint_rows_never_store_the_key(provider, tmp_path):
    from llm_client_sync.batch import BatchRunner

    ck = tmp_path / "run.jsonl"
    results = BatchRunner(provider, max_workers=2, checkpoint=str(ck)).run(["hello", "echo-in-text"])
    assert not results[0].ok and results[1].ok
    assert not _leaks(ck.read_bytes(), *(_all_of(results[0].error)))


def test_cli_output_never_shows_the_key(echo_server, key_from_file, capsys, monkeypatch):
    from llm_client_sync.cli import main

    monkeypatch.setenv("OPENAI_API_KEY", key_from_file)  # with its trailing newline
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{echo_server.server_port}/v1")
    assert main(["chat", "hello", "--json"]) == 1
    assert main(["chat", "echo-in-text", "--json"]) == 0
    assert main(["chat", "in-band"]) == 1
    out = capsys.readouterr()
    assert "AuthenticationError" in out.err
    assert not _leaks(out.out, out.err)


def test_a_key_too_short_to_match_literally_is_still_redacted_in_a_bearer_header():
    from llm_client_sync._redact import redact

    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert redact({"h": [f"x {KEY} y"]}) == {"h": ["x *** y"]}
    assert redact("postgresql://user:pw123@host/db") == "postgresql://***@host/db"
    assert redact("task-force and desk-lamp") == "task-force and desk-lamp"


def test_redact_shapes_and_containers():
    from llm_client_sync._redact import redact, register_secret

    register_secret("plain-key-without-prefix-123")
    assert redact("x plain-key-without-prefix-123 y") == "x *** y"
    assert redact("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic ***"
    assert redact("https://h/v1?api_key=abc123&x=1") == "https://h/v1?api_key=***&x=1"
    assert redact("host=db password = s3cret dbname=x") == "host=db password = *** dbname=x"
    assert redact(b"Bearer abc123") == b"Bearer ***"
    assert redact({f"k {KEY}": (KEY, 5)}) == {"k ***": ("***", 5)}
    untouched = {"a": ["b", {"c": 1}]}
    assert redact(untouched) is untouched  # nothing to hide: no copy
    prose = ("a basic idea, a token of thanks, the bearer instruments, Basic authentication, Basic rules, "
             "sk-short, a task-force at the help-desk")
    assert redact(prose) == prose
