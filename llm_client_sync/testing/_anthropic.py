"""MockAnthropicServer: the Anthropic Messages API (``/v1/messages``, ``count_tokens``) on loopback.

Replies are scripted like MockOpenAIServer's (and share its defaults). With thinking on, answers
start with a thinking block whose signature the server checks when it comes back, like the real
API: a tampered signature, or a tool_use turn sent back without its thinking block, gets a 400.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any, Iterator, Mapping

from ._openai import MockOpenAIServer, _sse, content_text, default_reply, special_reply
from ._replies import ErrorReply, Reply, StreamShape, TextReply, ToolCallReply
from ._server import JSONResponse, Request

__all__ = ["MockAnthropicServer", "anthropic_error"]

_WORDS = re.compile(r"\S+\s*|\s+")
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}
_STOP = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal", "tool_calls": "tool_use"}


def anthropic_error(status: int, message: str, *, type: str | None = None, request_id: str | None = None,
                    headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The API's ``{"type": "error", "error": {...}, "request_id": ...}`` envelope."""
    body: dict[str, Any] = {"type": "error", "error": {"type": type or _ERROR_TYPES.get(status, "api_error"),
                                                       "message": message}}
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status=status, headers=dict(headers or {}))


def scripted(server: MockOpenAIServer, body: Mapping[str, Any], view: Mapping[str, Any]) -> tuple[Any, Reply, StreamShape]:
    """The next scripted reply (after its latency) or the default one for the chat ``view``:
    (error/raw response to send as it is or None, the reply, its stream shape)."""
    reply = server.next_reply()
    server.wait_latency(reply)
    special = special_reply(reply, body, server)
    shape: StreamShape = reply if reply is not None else server.stream_shape
    return special, reply if reply is not None else default_reply(view), shape


def sign(thinking: str) -> str:
    """The mock's thinking signature: opaque base64, bound to the thinking text."""
    return base64.b64encode(hashlib.sha256(b"mock-signature:" + thinking.encode()).digest() * 2).decode()


def chat_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """A Messages request as chat messages/tools/response_format, for ``default_reply``."""
    messages: list[dict[str, Any]] = []
    for m in body.get("messages") or ():
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or ())
        texts = [b.get("text", "") for b in blocks if b.get("type") == "text"]
        if m.get("role") == "assistant":
            calls = [{"id": b.get("id"), "type": "function",
                      "function": {"name": b.get("name"), "arguments": json.dumps(b.get("input") or {})}}
                     for b in blocks if b.get("type") == "tool_use"]
            msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
            if calls:
                msg["tool_calls"] = calls
            messages.append(msg)
            continue
        for b in blocks:
            if b.get("type") == "tool_result":
                messages.append({"role": "tool", "tool_call_id": b.get("tool_use_id"),
                                 "content": content_text(b.get("content"))})
        if texts:
            messages.append({"role": "user", "content": " ".join(texts)})
    view: dict[str, Any] = {"messages": messages,
                            "tools": [{"type": "function", "function": {"name": t.get("name"),
                                                                        "parameters": t.get("input_schema") or {}}}
                                      for t in body.get("tools") or () if t.get("name")]}
    fmt = body.get("output_format") or (body.get("output_config") or {}).get("format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        view["response_format"] = {"type": "json_schema", "json_schema": {"schema": fmt.get("schema") or {}}}
    return view


class MockAnthropicServer(MockOpenAIServer):
    """A local Anthropic Messages API (and the OpenAI routes too) for tests, demos and benchmarks.

    ``base_url`` is what ``AnthropicProvider(base_url=...)`` takes. Requests need ``x-api-key``
    (401 otherwise) and ``anthropic-version`` (400). Scripted replies, ``stream_shape`` faults
    (``error_after`` sends an ``event: error`` overloaded_error) and ``rate_limit_headers`` work as
    in MockOpenAIServer; ``thinking=True`` adds a signed thinking block to every answer.

        >>> with MockAnthropicServer() as server:  # doctest: +SKIP
        ...     server.add_text("Hello!")
        ...     AnthropicProvider(api_key="test", base_url=server.base_url).complete("Hi").content
        'Hello!'
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                 stream_shape: StreamShape | None = None, rate_limit_headers: Mapping[str, str] | None = None,
                 thinking: bool = False) -> None:
        super().__init__(host, port, latency=latency, stream_shape=stream_shape,
                         rate_limit_headers=rate_limit_headers)
        self.thinking = thinking
        self.state["anthropic_thinking"] = {}  # tool_use id -> signature of the thinking block next to it
        self.route("POST", "/v1/messages", self._messages)
        self.route("POST", "/v1/messages/count_tokens", self._count_tokens)

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give AnthropicProvider: ``http://127.0.0.1:<port>``."""
        return self.url

    def add_error(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None, *,
                  message: str | None = None, code: str | None = None, type: str | None = None) -> "MockAnthropicServer":
        if body is None:
            body = anthropic_error(status, message or f"mock error {status}", type=type).body
        return self.add(ErrorReply(status=status, body=body, headers=dict(headers or {})))

    def base_headers(self, reply: Reply | None = None) -> dict[str, str]:
        headers = {"request-id": f"req_mock{self.next_id():08d}", **self.rate_limit_headers}
        if reply is not None:
            headers.update(reply.headers)
        return headers

    # -- handlers --------------------------------------------------------------------------
    def _check(self, req: Request) -> Any:
        h = {k.lower(): v for k, v in req.recorded.headers.items()}
        if not h.get("x-api-key"):
            return anthropic_error(401, "x-api-key header is required")
        if not h.get("anthropic-version"):
            return anthropic_error(400, "anthropic-version: header is required")
        body = req.json
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
            return anthropic_error(400, "model: Field required; messages: Field required")
        return None

    def _messages(self, req: Request) -> Any:
        bad = self._check(req)
        if bad is not None:
            return bad
        body = req.json
        if not isinstance(body.get("max_tokens"), int):
            return anthropic_error(400, "max_tokens: Field required")
        thinking_on = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive") or self.thinking
        bad = self._check_thinking(body, thinking_on)
        if bad is not None:
            return bad
        view = chat_view(body)
        special, reply, shape = scripted(self, body, view)
        if special is not None:
            return special
        blocks, stop = self._blocks(reply, thinking_on, view)
        out_tokens = sum(len(_WORDS.findall(json.dumps(b))) for b in blocks) or 1
        usage = dict(reply.usage) if reply.usage else {
            "input_tokens": max(1, len(json.dumps(body.get("messages"))) // 4), "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": out_tokens}
        msg = {"model": reply.model or body["model"], "id": f"msg_mock{self.next_id():08d}", "type": "message",
               "role": "assistant", "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": usage}
        headers = self.base_headers(reply)
        if body.get("stream"):
            return _sse(_events(msg, shape), shape, headers)
        return JSONResponse(msg, headers=headers)

    def _count_tokens(self, req: Request) -> Any:
        bad = self._check(req)
        if bad is not None:
            return bad
        body = req.json
        text = json.dumps([body.get("system"), body.get("messages"), body.get("tools")])
        return JSONResponse({"input_tokens": max(1, len(text) // 4)})

    def _check_thinking(self, body: Mapping[str, Any], thinking_on: bool) -> Any:
        with self.lock:
            issued = dict(self.state["anthropic_thinking"])
        for i, m in enumerate(body.get("messages") or ()):
            if m.get("role") != "assistant" or isinstance(m.get("content"), str):
                continue
            blocks = list(m.get("content") or ())
            sigs = set()
            for j, b in enumerate(blocks):
                if b.get("type") == "thinking":
                    if b.get("signature") != sign(b.get("thinking") or ""):
                        return anthropic_error(400, f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
                    sigs.add(b["signature"])
            for j, b in enumerate(blocks):
                want = issued.get(b.get("id")) if b.get("type") == "tool_use" else None
                if thinking_on and want is not None and want not in sigs:
                    return anthropic_error(400, f"messages.{i}.content.{j}: Expected `thinking` or "
                                                "`redacted_thinking`, but found `tool_use`. When `thinking` is "
                                                "enabled, a final `assistant` message must start with a thinking "
                                                "block")
        return None

    def _blocks(self, reply: Reply, thinking_on: bool, view: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
        blocks: list[dict[str, Any]] = []
        reasoning = getattr(reply, "reasoning", None)
        if thinking_on or reasoning:
            users = [m for m in view["messages"] if m.get("role") in ("user", "tool")]
            thought = reasoning or f"The user wrote: {content_text(users[-1]['content']) if users else ''}"
            blocks.append({"type": "thinking", "thinking": thought, "signature": sign(thought)})
        if isinstance(reply, TextReply):
            blocks.append({"type": "text", "text": reply.refusal if reply.refusal is not None else reply.text})
            stop = "refusal" if reply.refusal is not None else _STOP.get(reply.finish_reason, "end_turn")
            return blocks, stop
        assert isinstance(reply, ToolCallReply)
        if reply.content:
            blocks.append({"type": "text", "text": reply.content})
        for name, args in reply.calls:
            tid = f"toolu_mock{self.next_id():08d}"
            blocks.append({"type": "tool_use", "id": tid, "name": name,
                           "input": json.loads(args) if isinstance(args, str) else dict(args)})
            if blocks[0]["type"] == "thinking":
                with self.lock:
                    self.state["anthropic_thinking"][tid] = blocks[0]["signature"]
        return blocks, "tool_use"


def _event(name: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _events(msg: Mapping[str, Any], shape: StreamShape) -> Iterator[bytes]:
    usage = dict(msg["usage"])
    start = {**msg, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events: list[bytes] = [_event("message_start", {"type": "message_start", "message": start})]
    for i, block in enumerate(msg["content"]):
        kind = block["type"]
        empty = {"text": {"type": "text", "text": ""}, "thinking": {"type": "thinking", "thinking": "", "signature": ""},
                 "tool_use": {**block, "input": {}}}[kind]
        events.append(_event("content_block_start", {"type": "content_block_start", "index": i,
                                                     "content_block": empty}))
        if i == 0:
            events.append(_event("ping", {"type": "ping"}))
        step = max(1, shape.words_per_chunk)
        if kind in ("text", "thinking"):
            words = _WORDS.findall(block[kind])
            for j in range(0, len(words), step):
                delta = {"type": f"{kind}_delta", kind: "".join(words[j:j + step])}
                events.append(_event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
            if kind == "thinking":
                events.append(_event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                    "type": "signature_delta", "signature": block["signature"]}}))
        else:
            text = json.dumps(block["input"])
            pieces = [""] + [text[j:j + max(1, shape.args_chunk)] for j in range(0, len(text), max(1, shape.args_chunk))]
            for piece in pieces:
                events.append(_event("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                    "type": "input_json_delta", "partial_json": piece}}))
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": i}))
    events.append(_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": msg["stop_reason"],
                                                                              "stop_sequence": None},
                                           "usage": usage}))
    if not shape.omit_done:
        events.append(_event("message_stop", {"type": "message_stop"}))
    for n, ev in enumerate(events):
        if shape.error_after is not None and n >= shape.error_after:
            yield _event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            return
        yield ev
