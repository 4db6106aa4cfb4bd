"""MockOpenAIServer: chat completions and embeddings, scripted or with sensible defaults."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import struct
import time
from collections import deque
from typing import Any, Iterator, Mapping, Sequence

from ._replies import ErrorReply, RawReply, Reply, StreamShape, TextReply, ToolCallReply
from ._server import BytesResponse, JSONResponse, Request, ServerCore, SSEResponse, error_response

__all__ = ["MockOpenAIServer"]

_WORDS = re.compile(r"\S+\s*|\s+")
_MODEL_IDS = ("gpt-5", "gpt-5-mini", "gpt-5-nano", "text-embedding-3-small")


def _model_object(model: str) -> dict[str, Any]:
    # ``created``: a fixed date, like the real one of a published model
    return {"id": model, "object": "model", "created": 1754425777, "owned_by": "system"}


class MockOpenAIServer(ServerCore):
    """A real OpenAI-compatible HTTP server on 127.0.0.1 (random port) for tests and demos.

    Scripted replies are served first-in first-out to model requests (chat, responses,
    embeddings take errors); with none queued it answers sensibly: echoes the last user message,
    calls an offered tool whose name the prompt mentions, summarises tool results, and fills a
    JSON schema for structured output. Thread-safe.

        >>> with MockOpenAIServer() as server:  # doctest: +SKIP
        ...     server.add_text("Hello!")
        ...     OpenAIProvider(api_key="test", base_url=server.base_url).complete("Hi").content
        'Hello!'
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                 stream_shape: StreamShape | None = None,
                 rate_limit_headers: Mapping[str, str] | None = None) -> None:
        super().__init__(host, port, latency=latency)
        self.stream_shape = stream_shape or StreamShape()
        self.rate_limit_headers = dict(rate_limit_headers or {})
        self._script: deque[Reply] = deque()
        self._ids = itertools.count(1)
        self.route("POST", "/v1/chat/completions", self._chat)
        self.route("POST", "/v1/embeddings", self._embeddings)
        self.route("GET", "/v1/models", self._models)
        self.route("GET", "/v1/models/{model}", self._model)

    # -- scripting -------------------------------------------------------------------------
    def add(self, *replies: Reply) -> "MockOpenAIServer":
        with self.lock:
            self._script.extend(replies)
        return self

    def add_text(self, text: str, **opts: Any) -> "MockOpenAIServer":
        return self.add(TextReply(text=text, **opts))

    def add_tool_calls(self, calls: Sequence[tuple[str, Any]], **opts: Any) -> "MockOpenAIServer":
        return self.add(ToolCallReply(calls=list(calls), **opts))

    def add_error(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None, *,
                  message: str | None = None, code: str | None = None, type: str | None = None) -> "MockOpenAIServer":
        if body is None:
            body = {"error": {"message": message or f"mock error {status}",
                              "type": type or ("server_error" if status >= 500 else "invalid_request_error"),
                              "param": None, "code": code}}
        return self.add(ErrorReply(status=status, body=body, headers=dict(headers or {})))

    def add_raw(self, body: bytes | str, **opts: Any) -> "MockOpenAIServer":
        return self.add(RawReply(body=body.encode() if isinstance(body, str) else body, **opts))

    @property
    def pending(self) -> int:
        """Scripted replies not yet served."""
        with self.lock:
            return len(self._script)

    def next_reply(self) -> Reply | None:
        with self.lock:
            return self._script.popleft() if self._script else None

    def next_id(self) -> int:
        return next(self._ids)

    def base_headers(self, reply: Reply | None = None) -> dict[str, str]:
        rid = f"req_mock{self.next_id():08d}"
        headers = {"x-request-id": rid, "openai-processing-ms": "1", **self.rate_limit_headers}
        if reply is not None:
            headers.update(reply.headers)
        return headers

    def wait_latency(self, reply: Reply | None) -> None:
        latency = reply.latency if reply is not None and reply.latency is not None else self.latency
        if latency:
            time.sleep(latency)

    # -- handlers --------------------------------------------------------------------------
    def _chat(self, req: Request) -> Any:
        body = req.json
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            return error_response(400, "'model' and 'messages' are required", param="messages")
        reply = self.next_reply()
        self.wait_latency(reply)
        special = special_reply(reply, body, self)
        if special is not None:
            return special
        shape: StreamShape = reply if reply is not None else self.stream_shape
        if reply is None:
            reply = default_reply(body)
        model = reply.model or body["model"]
        n = int(body.get("n") or 1)
        usage = dict(reply.usage) if reply.usage else _usage(body, reply)
        headers = self.base_headers(reply)
        cid = f"chatcmpl-mock{self.next_id()}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _chat_events(cid, model, reply, n, usage if include_usage else None, shape)
            return _sse(events, shape, headers)
        choices = [_chat_choice(i, reply) for i in range(n)]
        return JSONResponse({"id": cid, "object": "chat.completion", "created": int(time.time()),
                             "model": model, "choices": choices, "usage": usage,
                             "system_fingerprint": None, "service_tier": "default"}, headers=headers)

    def _embeddings(self, req: Request) -> Any:
        body = req.json or {}
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not body.get("model"):
            return error_response(400, "'model' and a non-empty 'input' are required", param="input")
        if len(inputs) > 2048:
            return error_response(400, "'input' must have at most 2048 items", param="input")
        reply = self.next_reply()
        self.wait_latency(reply)
        special = special_reply(reply, body, self)
        if special is not None:
            return special
        dims = int(body.get("dimensions") or 8)
        b64 = body.get("encoding_format") == "base64"
        data = []
        tokens = 0
        for i, text in enumerate(inputs):
            vec = fake_embedding(str(text), dims)
            tokens += max(1, len(str(text)) // 4)
            emb: Any = base64.b64encode(struct.pack(f"<{dims}f", *vec)).decode() if b64 else vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        return JSONResponse({"object": "list", "data": data, "model": body["model"],
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                            headers=self.base_headers(reply))

    def _models(self, req: Request) -> Any:
        return JSONResponse({"object": "list", "data": [_model_object(m) for m in _MODEL_IDS]})

    def _model(self, req: Request) -> Any:
        model = req.params["model"]
        if model not in _MODEL_IDS:
            return error_response(404, f"The model '{model}' does not exist", param="model", code="model_not_found")
        return JSONResponse(_model_object(model))


def special_reply(reply: Reply | None, body: Mapping[str, Any], server: MockOpenAIServer) -> Any:
    """Errors and raw bodies, common to every model endpoint; None for normal replies."""
    if isinstance(reply, ErrorReply):
        headers = server.base_headers(reply)
        return JSONResponse(reply.body, status=reply.status, headers=headers)
    if isinstance(reply, RawReply):
        headers = server.base_headers(reply)
        if reply.stream:
            events = [e + b"\n\n" for e in re.split(rb"\r?\n\r?\n", reply.body) if e.strip()]
            return _sse(events, reply, headers)
        return BytesResponse(reply.body, status=reply.status, headers=headers, content_type=reply.content_type)
    return None


def fake_embedding(text: str, dims: int) -> list[float]:
    """Deterministic unit vector from a hash of the text."""
    raw = b""
    seed = text.encode()
    counter = 0
    while len(raw) < dims * 4:
        raw += hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        counter += 1
    vals = [((b - 127.5) / 127.5) for b in raw[: dims]]
    norm = sum(v * v for v in vals) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in vals]


# -- default behaviour ----------------------------------------------------------------------
def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return content_text(m.get("content"))
    return ""


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def default_reply(body: Mapping[str, Any]) -> Reply:
    """Echo, call a tool the prompt names, summarise tool results, or fill a JSON schema."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        names = {tc.get("id"): tc.get("function", {}).get("name")
                 for m in messages if m.get("role") == "assistant" for tc in (m.get("tool_calls") or [])}
        results = []
        for m in reversed(messages):
            if m.get("role") != "tool":
                break
            results.append(f"{names.get(m.get('tool_call_id')) or 'tool'} returned {content_text(m.get('content'))}")
        return TextReply(text="Here is what I found: " + "; ".join(reversed(results)) + ".")
    prompt = last_user_text(messages)
    calls = pick_tool_calls(prompt, body.get("tools") or [])
    if calls:
        return ToolCallReply(calls=calls)
    fmt = body.get("response_format") or {}
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        return TextReply(text=json.dumps(fill_schema(schema, prompt)))
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_object":
        return TextReply(text=json.dumps({"echo": prompt}))
    return TextReply(text=f"You said: {prompt}" if prompt else "Hello! How can I help?")


def pick_tool_calls(prompt: str, tools: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    words = set(re.findall(r"[a-z0-9]+", prompt.lower()))
    calls = []
    for t in tools:
        fn = t.get("function") or t  # chat nests under "function"; the Responses API does not
        name = fn.get("name")
        if not name:
            continue
        parts = [p for p in re.split(r"[_\W]+", name.lower()) if len(p) >= 4 and p not in ("tool", "func")]
        if name.lower() in prompt.lower() or any(p in words for p in parts):
            calls.append((name, fill_args(fn.get("parameters") or {}, prompt)))
    return calls


def _subject(prompt: str) -> str:
    m = re.search(r"\b(?:in|for|about|of|on)\s+([^?.!,;]+)", prompt)
    if m:
        return m.group(1).strip()
    return prompt.strip().rstrip("?.!") or "example"


def fill_args(schema: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    props = schema.get("properties") or {}
    required = schema.get("required") or list(props)
    return {k: fill_schema(props[k], prompt) for k in required if k in props}


def fill_schema(schema: Mapping[str, Any], prompt: str) -> Any:
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if "anyOf" in schema and schema["anyOf"]:
        return fill_schema(schema["anyOf"][0], prompt)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return fill_args(schema, prompt) if schema.get("properties") else {}
    if kind == "array":
        return [fill_schema(schema.get("items") or {"type": "string"}, prompt)]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _subject(prompt)


def _usage(body: Mapping[str, Any], reply: Reply) -> dict[str, Any]:
    prompt = max(1, len(json.dumps(body.get("messages") or body.get("input") or "")) // 4)
    if isinstance(reply, TextReply):
        completion = max(1, len(_WORDS.findall(reply.text)))
    elif isinstance(reply, ToolCallReply):
        completion = sum(max(1, len(_args_text(a)) // 4) for _, a in reply.calls)
    else:
        completion = 1
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def _args_text(args: Any) -> str:
    return args if isinstance(args, str) else json.dumps(args)


def _chat_choice(index: int, reply: Reply) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    finish = "stop"
    if isinstance(reply, TextReply):
        msg["content"] = reply.text if reply.refusal is None else None
        msg["refusal"] = reply.refusal
        if reply.reasoning:
            msg["reasoning_content"] = reply.reasoning
        finish = reply.finish_reason
    elif isinstance(reply, ToolCallReply):
        msg["content"] = reply.content
        msg["tool_calls"] = [{"id": f"call_mock{index}_{i}", "type": "function",
                              "function": {"name": name, "arguments": _args_text(args)}}
                             for i, (name, args) in enumerate(reply.calls)]
        finish = "tool_calls"
    return {"index": index, "message": msg, "logprobs": None, "finish_reason": finish}


def _chunk(cid: str, model: str, choices: list[dict[str, Any]], usage: Any = ...) -> bytes:
    obj: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                           "model": model, "service_tier": "default", "system_fingerprint": None, "choices": choices}
    if usage is not ...:
        obj["usage"] = usage
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chat_events(cid: str, model: str, reply: Reply, n: int, usage: Any,
                 shape: StreamShape) -> Iterator[bytes]:
    def choice(i: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}

    u = None if usage is not None else ...
    count = 0

    def emit(choices: list[dict[str, Any]], final_usage: Any = None) -> bytes:
        nonlocal count
        count += 1
        return _chunk(cid, model, choices, final_usage if final_usage is not None else u)

    for i in range(n):
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        if isinstance(reply, ToolCallReply):
            first["content"] = None
        yield emit([choice(i, first)])
    for i in range(n):
        if isinstance(reply, TextReply):
            if reply.reasoning:
                for piece in _WORDS.findall(reply.reasoning):
                    yield emit([choice(i, {"reasoning_content": piece})])
            if reply.refusal is not None:
                yield emit([choice(i, {"refusal": reply.refusal})])
            else:
                words = _WORDS.findall(reply.text)
                step = max(1, shape.words_per_chunk)
                for j in range(0, len(words), step):
                    if shape.error_after is not None and count >= shape.error_after:
                        err = {"error": {"message": "mock in-band error", "type": "server_error",
                                         "param": None, "code": "server_error"}}
                        yield b"data: " + json.dumps(err).encode() + b"\n\n"
                        return
                    yield emit([choice(i, {"content": "".join(words[j:j + step])})])
            finish = reply.finish_reason
        else:
            assert isinstance(reply, ToolCallReply)
            if reply.content:
                for piece in _WORDS.findall(reply.content):
                    yield emit([choice(i, {"content": piece})])
            for k, (name, args) in enumerate(reply.calls):
                text = _args_text(args)
                yield emit([choice(i, {"tool_calls": [{"index": k, "id": f"call_mock{i}_{k}", "type": "function",
                                                         "function": {"name": name, "arguments": ""}}]})])
                step = max(1, shape.args_chunk)
                for j in range(0, len(text), step):
                    yield emit([choice(i, {"tool_calls": [{"index": k, "function": {"arguments": text[j:j + step]}}]})])
            finish = "tool_calls"
        yield emit([choice(i, {}, finish)])
    if usage is not None:
        yield emit([], usage)
    if not shape.omit_done:
        yield b"data: [DONE]\n\n"


def _sse(events: Any, shape: StreamShape, headers: Mapping[str, str]) -> SSEResponse:
    return SSEResponse(events=events, headers=headers, framing=shape.framing, chunk_delay=shape.chunk_delay,
                       first_delay=shape.first_delay, drop_after=shape.drop_after, stall_after=shape.stall_after,
                       stall=shape.stall, split_writes=shape.split_writes)
