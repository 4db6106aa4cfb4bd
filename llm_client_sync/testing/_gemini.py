"""MockGeminiServer: the Gemini API (generateContent, streamGenerateContent, countTokens, embeddings) on loopback.

Replies are scripted like MockOpenAIServer's (and share its defaults). Function calls come with a
``thoughtSignature`` on the first call part, and the server checks it comes back unchanged on the
next turn (a 400 otherwise), like Gemini 3.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any, Iterator, Mapping

from ._anthropic import scripted
from ._openai import MockOpenAIServer, _sse, fake_embedding, special_reply
from ._replies import ErrorReply, Reply, StreamShape, TextReply, ToolCallReply
from ._server import BytesResponse, JSONResponse, Request

__all__ = ["MockGeminiServer", "gemini_error"]

_WORDS = re.compile(r"\S+\s*|\s+")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 503: "UNAVAILABLE",
           504: "DEADLINE_EXCEEDED"}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


def gemini_error(status: int, message: str, *, retry_delay: str | None = None,
                 headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The API's ``{"error": {"code", "message", "status", "details"?}}`` envelope."""
    err: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    if retry_delay is not None:
        err["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}]
    return JSONResponse({"error": err}, status=status, headers=dict(headers or {}))


def sign(name: str, args: Any) -> str:
    raw = json.dumps([name, args], sort_keys=True).encode()
    return base64.b64encode(hashlib.sha256(b"mock-thought:" + raw).digest() * 2).decode()


def chat_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """A generateContent request as chat messages/tools/response_format, for ``default_reply``."""
    messages: list[dict[str, Any]] = []
    for c in body.get("contents") or ():
        parts = list(c.get("parts") or ())
        text = "".join(p.get("text", "") for p in parts if "text" in p and not p.get("thought"))
        if c.get("role") == "model":
            calls = [{"id": p["functionCall"].get("name"), "type": "function",
                      "function": {"name": p["functionCall"].get("name"),
                                   "arguments": json.dumps(p["functionCall"].get("args") or {})}}
                     for p in parts if "functionCall" in p]
            msg: dict[str, Any] = {"role": "assistant", "content": text or None}
            if calls:
                msg["tool_calls"] = calls
            messages.append(msg)
            continue
        for p in parts:
            if "functionResponse" in p:
                fr = p["functionResponse"]
                resp = fr.get("response") or {}
                messages.append({"role": "tool", "tool_call_id": fr.get("name"),
                                 "content": resp.get("result") if isinstance(resp.get("result"), str)
                                 else json.dumps(resp)})
        if text:
            messages.append({"role": "user", "content": text})
    tools = [{"type": "function", "function": {"name": d.get("name"),
                                               "parameters": d.get("parametersJsonSchema") or d.get("parameters") or {}}}
             for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
    view: dict[str, Any] = {"messages": messages, "tools": tools}
    gen = body.get("generationConfig") or {}
    if gen.get("responseJsonSchema") or gen.get("responseSchema"):
        view["response_format"] = {"type": "json_schema", "json_schema": {
            "schema": gen.get("responseJsonSchema") or gen.get("responseSchema")}}
    return view


class MockGeminiServer(MockOpenAIServer):
    """A local Gemini API (and the OpenAI routes too) for tests, demos and benchmarks.

    ``base_url`` is what ``GeminiProvider(base_url=...)`` takes. Requests need an
    ``x-goog-api-key`` header (403 otherwise). ``streamGenerateContent?alt=sse`` streams SSE
    events framed with CRLF, without ``alt`` one JSON array. Scripted replies, ``stream_shape``
    faults and the other options work as in MockOpenAIServer; ``add_error(429)`` carries a
    RetryInfo delay.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                 stream_shape: StreamShape | None = None, rate_limit_headers: Mapping[str, str] | None = None) -> None:
        super().__init__(host, port, latency=latency, stream_shape=stream_shape,
                         rate_limit_headers=rate_limit_headers)
        self.state["gemini_signatures"] = {}  # (name, args) of the first call of a turn -> signature
        self.route("POST", "/v1beta/models/{target}", self._model_call)

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give GeminiProvider: ``http://127.0.0.1:<port>/v1beta``."""
        return f"{self.url}/v1beta"

    def add_error(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None, *,
                  message: str | None = None, code: str | None = None, type: str | None = None,
                  retry_delay: str | None = None) -> "MockGeminiServer":
        if body is None:
            delay = retry_delay if retry_delay is not None else ("1s" if status == 429 else None)
            body = gemini_error(status, message or f"mock error {status}", retry_delay=delay).body
        return self.add(ErrorReply(status=status, body=body, headers=dict(headers or {})))

    def base_headers(self, reply: Reply | None = None) -> dict[str, str]:
        headers = {"x-gemini-service-tier": "standard", **self.rate_limit_headers}
        if reply is not None:
            headers.update(reply.headers)
        return headers

    # -- handlers --------------------------------------------------------------------------
    def _model_call(self, req: Request) -> Any:
        h = {k.lower(): v for k, v in req.recorded.headers.items()}
        if not h.get("x-goog-api-key") and not req.recorded.query.get("key"):
            return gemini_error(403, "Method doesn't allow unregistered callers (callers without established "
                                     "identity). Please use API Key or other form of API consumer identity to call "
                                     "this API.")
        model, _, action = req.params["target"].partition(":")
        body = req.json if isinstance(req.json, dict) else {}
        if action in ("generateContent", "streamGenerateContent"):
            return self._generate(req, model, body, stream=action == "streamGenerateContent")
        if action == "countTokens":
            inner = body.get("generateContentRequest") or body
            text = json.dumps([inner.get("systemInstruction"), inner.get("contents"), inner.get("tools")])
            return JSONResponse({"totalTokens": max(1, len(text) // 4)})
        if action in ("embedContent", "batchEmbedContents"):
            return self._embed(body, action)
        return gemini_error(404, f"models/{model} is not found for API version v1beta, or is not supported for "
                                 f"{action}.")

    def _generate(self, req: Request, model: str, body: Mapping[str, Any], stream: bool) -> Any:
        if not isinstance(body.get("contents"), list) or not body["contents"]:
            return gemini_error(400, "* GenerateContentRequest.contents: contents is not specified")
        bad = self._check_signatures(body)
        if bad is not None:
            return bad
        special, reply, shape = scripted(self, body, chat_view(body))
        if special is not None:
            return special
        thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
        parts, finish = self._parts(reply, bool(thinking.get("includeThoughts")))
        prompt = max(1, len(json.dumps(body.get("contents"))) // 4)
        out = max(1, sum(len(_WORDS.findall(json.dumps(p))) for p in parts))
        usage = dict(reply.usage) if reply.usage else {"promptTokenCount": prompt, "candidatesTokenCount": out,
                                                       "totalTokenCount": prompt + out}
        rid = f"mockresp{self.next_id():08d}"
        response = {"candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": finish,
                                    "index": 0}],
                    "usageMetadata": usage, "modelVersion": reply.model or model, "responseId": rid}
        headers = self.base_headers(reply)
        if not stream:
            return JSONResponse(response, headers=headers)
        chunks = list(_chunks(response, shape))
        if req.recorded.query.get("alt") == ["sse"]:
            return _sse(_sse_events(chunks, shape), shape, headers)
        body_text = "[" + "\n,\r\n".join(json.dumps(c, indent=2) for c in chunks) + "\n]"
        return BytesResponse(body_text.encode(), headers=headers, content_type="application/json")

    def _embed(self, body: Mapping[str, Any], action: str) -> Any:
        reply = self.next_reply()
        self.wait_latency(reply)
        special = special_reply(reply, body, self)
        if special is not None:
            return special
        requests = body.get("requests") if action == "batchEmbedContents" else [body]
        if not isinstance(requests, list) or not requests:
            return gemini_error(400, "* BatchEmbedContentsRequest.requests: requests is not specified")
        if len(requests) > 100:
            return gemini_error(400, "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch")
        out = []
        for r in requests:
            text = "".join(p.get("text", "") for p in (r.get("content") or {}).get("parts") or ())
            out.append({"values": fake_embedding(text, int(r.get("outputDimensionality") or 8))})
        if action == "embedContent":
            return JSONResponse({"embedding": out[0]})
        return JSONResponse({"embeddings": out})

    def _check_signatures(self, body: Mapping[str, Any]) -> Any:
        with self.lock:
            issued = dict(self.state["gemini_signatures"])
        for i, c in enumerate(body.get("contents") or ()):
            if c.get("role") != "model":
                continue
            for j, p in enumerate(c.get("parts") or ()):
                if "functionCall" not in p:
                    continue
                fc = p["functionCall"]
                want = issued.get(sign(fc.get("name") or "", fc.get("args") or {}))
                if want is not None and p.get("thoughtSignature") != want:
                    return gemini_error(400, f"Function call is missing a thought_signature in functionCall parts. "
                                             f"This is required for tools to work correctly (contents[{i}].parts[{j}])")
        return None

    def _parts(self, reply: Reply, include_thoughts: bool) -> tuple[list[dict[str, Any]], str]:
        parts: list[dict[str, Any]] = []
        reasoning = getattr(reply, "reasoning", None)
        if include_thoughts or reasoning:
            parts.append({"text": reasoning or "Thinking about the request.", "thought": True})
        if isinstance(reply, TextReply):
            text = reply.refusal if reply.refusal is not None else reply.text
            part: dict[str, Any] = {"text": text}
            if include_thoughts:
                part["thoughtSignature"] = sign("text", text)
            parts.append(part)
            return parts, _FINISH.get(reply.finish_reason, "STOP")
        assert isinstance(reply, ToolCallReply)
        if reply.content:
            parts.append({"text": reply.content})
        for k, (name, args) in enumerate(reply.calls):
            args = json.loads(args) if isinstance(args, str) else dict(args)
            part = {"functionCall": {"name": name, "args": args}}
            if k == 0:
                # the issued signature is stored under the call it belongs to; the wire value is opaque
                key = sign(name, args)
                part["thoughtSignature"] = sign("signature", key)
                with self.lock:
                    self.state["gemini_signatures"][key] = part["thoughtSignature"]
            parts.append(part)
        return parts, "STOP"


def _chunks(response: Mapping[str, Any], shape: StreamShape) -> Iterator[dict[str, Any]]:
    """The response as stream chunks: text in pieces, calls whole, cumulative usage, finish last."""
    cand = response["candidates"][0]
    usage = response["usageMetadata"]
    pieces: list[dict[str, Any]] = []
    step = max(1, shape.words_per_chunk)
    for p in cand["content"]["parts"]:
        if "text" in p and "thoughtSignature" not in p:
            words = _WORDS.findall(p["text"]) or [""]
            pieces.extend({**p, "text": "".join(words[j:j + step])} for j in range(0, len(words), step))
        else:
            pieces.append(p)
    total_out = usage.get("candidatesTokenCount", 0)
    for n, p in enumerate(pieces):
        last = n == len(pieces) - 1
        c: dict[str, Any] = {"content": {"parts": [p], "role": "model"}, "index": 0}
        if last:
            c["finishReason"] = cand["finishReason"]
        u = dict(usage) if last else {**usage, "candidatesTokenCount": max(1, total_out * (n + 1) // len(pieces))}
        yield {"candidates": [c], "usageMetadata": u, "modelVersion": response["modelVersion"],
               "responseId": response["responseId"]}


def _sse_events(chunks: list[dict[str, Any]], shape: StreamShape) -> Iterator[bytes]:
    for n, chunk in enumerate(chunks):
        if shape.error_after is not None and n >= shape.error_after:
            err = {"error": {"code": 503, "message": "The model is overloaded. Please try again later.",
                             "status": "UNAVAILABLE"}}
            yield b"data: " + json.dumps(err).encode() + b"\r\n\r\n"
            return
        yield b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"
