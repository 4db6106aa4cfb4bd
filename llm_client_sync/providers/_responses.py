"""Responses API wire protocol (pure): chat-style messages -> ``input`` items, parsing, streams.

Same interface as ChatProtocol, so the provider, the Stream and the Agent do not care which
protocol is spoken. Reasoning and function-call output items are kept in
``CompletionResult.output_items``; an assistant message dict carrying ``output_items`` sends
them back as they are (the API needs reasoning items next to their function calls).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from .._sse import ServerSentEvent
from ._chat import build_result
from ..errors import ConfigurationError, LLMClientError, StreamError
from ..models import ModelProfile
from ..types import Choice, CompletionResult, StreamEvent, StreamEventType, ToolCall, Usage

__all__ = ["ResponsesProtocol", "ResponsesAccumulator", "parse_responses_response"]

E = StreamEventType
_RENAMED = {"max_completion_tokens": "max_output_tokens", "max_tokens": "max_output_tokens"}
# chat parameters the Responses API has no equivalent for: refuse rather than drop silently
_UNSUPPORTED = ("stop", "seed", "logprobs", "frequency_penalty", "presence_penalty", "logit_bias", "stream_options")
_PASS_BACK = ("reasoning", "function_call")


def _plain(value: Any) -> Any:
    """FrozenDict/tuple -> dict/list (results are frozen; bodies must be mutable JSON)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return "" if content is None else str(content)


def _content(content: Any, role: str) -> Any:
    """Chat content (str or parts) -> Responses content (str or input/output parts)."""
    if content is None or isinstance(content, str):
        return content or ""
    text_type = "output_text" if role == "assistant" else "input_text"
    parts = []
    for p in content:
        p = _plain(p)
        kind = p.get("type")
        if kind == "text":
            parts.append({"type": text_type, "text": p.get("text", "")})
        elif kind == "image_url":
            img = p.get("image_url")
            url = img.get("url") if isinstance(img, Mapping) else img
            part = {"type": "input_image", "image_url": url, "detail": "auto"}
            if isinstance(img, Mapping) and img.get("detail"):
                part["detail"] = img["detail"]
            parts.append(part)
        else:
            parts.append(p)  # already a Responses part (input_text, input_image, input_file, ...)
    return parts


def messages_to_input(messages: list[Mapping[str, Any]], use_instructions: bool = True) -> tuple[str | None, list[Any]]:
    """Chat-style messages -> (instructions from leading system messages, ``input`` items)."""
    instructions: list[str] = []
    items: list[Any] = []
    leading = use_instructions
    for m in messages:
        role = m.get("role")
        if leading and role in ("system", "developer") and isinstance(m.get("content"), str):
            instructions.append(m["content"])
            continue
        leading = False
        if role == "tool":
            items.append({"type": "function_call_output", "call_id": m["tool_call_id"],
                          "output": _text_of(m.get("content"))})
        elif role == "assistant":
            items.extend(_assistant_items(m))
        elif role == "function":  # legacy chat role: nothing to call back, keep the text
            items.append({"role": "user", "content": _text_of(m.get("content"))})
        else:
            items.append({"role": role, "content": _content(m.get("content"), role)})
    return ("\n\n".join(instructions) if instructions else None), items


def _assistant_items(m: Mapping[str, Any]) -> list[Any]:
    kept = [_plain(it) for it in m.get("output_items") or ()]
    sent_calls = {it.get("call_id") for it in kept if it.get("type") == "function_call"}
    out = [it for it in kept if it.get("type") != "function_call"]  # reasoning first, as produced
    text = _text_of(m.get("content"))
    if text:
        out.append({"role": "assistant", "content": text})
    out.extend(it for it in kept if it.get("type") == "function_call")
    for tc in m.get("tool_calls") or ():
        if tc.get("id") in sent_calls:
            continue
        fn = tc.get("function") or {}
        out.append({"type": "function_call", "call_id": tc.get("id"), "name": fn.get("name", ""),
                    "arguments": fn.get("arguments") or "{}"})
    return out


def convert_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """Chat ``{"type": "function", "function": {...}}`` -> flat Responses function tool."""
    tool = _plain(tool)
    if tool.get("type") != "function" or "function" not in tool:
        return tool  # already flat, or a built-in tool (web_search, file_search, ...)
    fn = tool["function"]
    out = {"type": "function", "name": fn["name"]}
    for k in ("description", "parameters", "strict"):
        if fn.get(k) is not None:
            out[k] = fn[k]
    out.setdefault("parameters", {"type": "object", "properties": {}})
    out.setdefault("strict", False)  # chat tools are loose unless marked; Responses defaults to strict
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, Mapping) and choice.get("type") == "function" and "function" in choice:
        return {"type": "function", "name": choice["function"]["name"]}
    return _plain(choice)


def _text_format(spec: Mapping[str, Any]) -> dict[str, Any]:
    kind = spec.get("type")
    if kind == "json_schema" and "json_schema" in spec:
        js = spec["json_schema"]
        fmt = {"type": "json_schema", "name": js.get("name", "response"), "schema": js.get("schema", {})}
        for k in ("description", "strict"):
            if js.get(k) is not None:
                fmt[k] = js[k]
        return fmt
    return _plain(spec)


class ResponsesProtocol:
    """``/responses``: OpenAI's recommended API for the gpt-5 family."""

    name = "responses"
    endpoint = "/responses"

    def build(self, profile: ModelProfile, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        params = {k: v for k, v in params.items() if v is not None}
        for k in _UNSUPPORTED:
            if k in params:
                raise ConfigurationError(f"{k!r} is not supported by the Responses API; use api='chat' for it")
        n = params.pop("n", 1)
        if n != 1:
            raise ConfigurationError("the Responses API returns one answer per call (n must be 1)")
        explicit = params.pop("instructions", None)
        instructions, items = messages_to_input(messages, use_instructions=explicit is None)
        body: dict[str, Any] = {"model": profile.api_id, "input": items}
        if explicit is not None or instructions is not None:
            body["instructions"] = explicit if explicit is not None else instructions
        for old, new in _RENAMED.items():
            if old in params:
                body[new] = params.pop(old)
        reasoning = dict(_plain(params.pop("reasoning", None) or {}))
        effort = params.pop("reasoning_effort", None)
        if effort is not None:
            reasoning["effort"] = effort
        if "reasoning_summary" in params:
            reasoning["summary"] = params.pop("reasoning_summary")
        if reasoning:
            body["reasoning"] = reasoning
        text = dict(_plain(params.pop("text", None) or {}))
        fmt = params.pop("response_format", None)
        if fmt is not None:
            text["format"] = _text_format(fmt)
        if "verbosity" in params:
            text["verbosity"] = params.pop("verbosity")
        if text:
            body["text"] = text
        if "tools" in params:
            body["tools"] = [convert_tool(t) for t in params.pop("tools")]
        if "tool_choice" in params:
            body["tool_choice"] = _tool_choice(params.pop("tool_choice"))
        for k, v in params.items():
            body[k] = _plain(v)
        return body

    def path(self, model: str, stream: bool) -> str:
        """The endpoint for a (streamed) call; the same for every model here."""
        return self.endpoint

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "stream": True}

    def parse(self, data: Mapping[str, Any], profile: ModelProfile, request_id: str | None) -> CompletionResult:
        return parse_responses_response(data, profile, request_id)

    def accumulator(self, profile: ModelProfile, request_id: str | None) -> "ResponsesAccumulator":
        return ResponsesAccumulator(profile, request_id)


def _finish(status: str | None, details: Any, has_calls: bool) -> str:
    if status == "incomplete":
        reason = (details or {}).get("reason") if isinstance(details, Mapping) else None
        return "content_filter" if reason == "content_filter" else "length"
    return "tool_calls" if has_calls else "stop"


def _build(texts: list[str], refusals: list[str], calls: list[ToolCall], reasoning: str | None,
           items: list[Any], usage: Usage, profile: ModelProfile, *, finish: str | None, model: str | None,
           request_id: str | None, response_id: str | None, raw: Any) -> CompletionResult:
    content = "".join(texts) if texts else (None if calls or refusals else "")
    refusal = "".join(refusals) or None
    return build_result([Choice(0, content, tuple(calls), finish, refusal)], usage, profile, model=model,
                        request_id=request_id, raw=raw, response_id=response_id, reasoning=reasoning or None,
                        output_items=items)


def parse_responses_response(data: Mapping[str, Any], profile: ModelProfile,
                             request_id: str | None = None) -> CompletionResult:
    """A ``response`` JSON object -> CompletionResult (raises LLMClientError when it failed)."""
    if data.get("status") == "failed":
        err = data.get("error") or {}
        raise LLMClientError(f"the response failed: {err.get('message') or err}")
    texts: list[str] = []
    refusals: list[str] = []
    calls: list[ToolCall] = []
    reasoning: list[str] = []
    items: list[Any] = []
    for item in data.get("output") or ():
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or ():
                if part.get("type") == "output_text":
                    texts.append(part.get("text", ""))
                elif part.get("type") == "refusal":
                    refusals.append(part.get("refusal", ""))
        elif kind == "function_call":
            calls.append(ToolCall.from_raw(item.get("call_id", ""), item.get("name", ""), item.get("arguments", "")))
        if kind == "reasoning":
            reasoning.extend(s.get("text", "") for s in item.get("summary") or () if s.get("text"))
        if kind in _PASS_BACK:
            items.append(_plain(item))
    return _build(texts, refusals, calls, "\n\n".join(reasoning), items, Usage.from_api(data.get("usage")), profile,
                  finish=_finish(data.get("status"), data.get("incomplete_details"), bool(calls)),
                  model=data.get("model"), request_id=request_id, response_id=data.get("id"), raw=data)


class ResponsesAccumulator:
    """Feeds on SSE events of a Responses stream; returns StreamEvents; ``result()`` assembles."""

    def __init__(self, profile: ModelProfile, request_id: str | None = None) -> None:
        self.profile = profile
        self.request_id = request_id
        self.finished = False
        self.model: str | None = None
        self.id: str | None = None
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self._meta_sent = False
        self._text: list[str] = []
        self._refusal: list[str] = []
        self._reasoning: dict[tuple[str, int], list[str]] = {}  # (item id, summary index) -> parts
        self._calls: dict[str, list[Any]] = {}  # item id -> [call_id, name, [arg parts], ended, final args]
        self._items: dict[int, Any] = {}  # output_index -> finished pass-back item

    def feed(self, sse: ServerSentEvent) -> list[StreamEvent]:
        try:
            ev = json.loads(sse.data)
        except ValueError as exc:
            raise StreamError(f"malformed stream event (not JSON): {sse.data[:200]!r}", partial=self.result(),
                              request_id=self.request_id) from exc
        if not isinstance(ev, dict):
            raise StreamError(f"malformed stream event: {sse.data[:200]!r}", partial=self.result(),
                              request_id=self.request_id)
        kind = ev.get("type") or sse.event
        handler = _HANDLERS.get(kind)
        return handler(self, ev) if handler is not None else []

    # -- event handlers --------------------------------------------------------------------
    def _meta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        resp = ev.get("response") or {}
        self.model = resp.get("model") or self.model
        self.id = resp.get("id") or self.id
        if self._meta_sent:
            return []
        self._meta_sent = True
        return [StreamEvent(E.META, {"model": self.model, "id": self.id, "request_id": self.request_id})]

    def _text_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        delta = ev.get("delta") or ""
        if not delta:
            return []
        self._text.append(delta)
        return [StreamEvent(E.TOKEN, delta)]

    def _refusal_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        self._refusal.append(ev.get("delta") or "")
        return []

    def _reasoning_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        delta = ev.get("delta") or ""
        key = (str(ev.get("item_id")), int(ev.get("summary_index") or 0))
        parts = self._reasoning.get(key)
        if parts is None:
            parts = self._reasoning[key] = []
            if len(self._reasoning) > 1:
                delta = "\n\n" + delta  # summary parts are paragraphs: keep events == result text
        if not delta:
            return []
        parts.append(delta)
        return [StreamEvent(E.REASONING, delta)]

    def _item_added(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        item = ev.get("item") or {}
        if item.get("type") != "function_call":
            return []
        k = len(self._calls)
        call = [item.get("call_id") or item.get("id") or f"call_{k}", item.get("name") or "", [], False, None]
        self._calls[str(item.get("id") or k)] = call
        out = [StreamEvent(E.TOOL_CALL_START, {"index": k, "id": call[0], "name": call[1]})]
        if item.get("arguments"):
            out.extend(self._args(str(item.get("id")), item["arguments"]))
        return out

    def _args(self, item_id: str, delta: str) -> list[StreamEvent]:
        call = self._calls.get(item_id)
        if call is None or not delta:
            return []
        call[2].append(delta)
        return [StreamEvent(E.TOOL_CALL_DELTA, {"index": list(self._calls).index(item_id), "arguments": delta})]

    def _args_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        return self._args(str(ev.get("item_id")), ev.get("delta") or "")

    def _args_done(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        call = self._calls.get(str(ev.get("item_id")))
        if call is not None and isinstance(ev.get("arguments"), str):
            call[4] = ev["arguments"]  # authoritative full text
        return []

    def _item_done(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        item = ev.get("item") or {}
        kind = item.get("type")
        if kind in _PASS_BACK:
            self._items[int(ev.get("output_index", len(self._items)))] = _plain(item)
        if kind == "reasoning" and not any(k[0] == str(item.get("id")) for k in self._reasoning):
            for i, s in enumerate(item.get("summary") or ()):
                if s.get("text"):
                    sep = "\n\n" if self._reasoning else ""
                    self._reasoning[(str(item.get("id")), i)] = [sep + s["text"]]
        if kind != "function_call":
            return []
        call = self._calls.get(str(item.get("id")))
        if call is None or call[3]:
            return []
        call[3] = True
        if isinstance(item.get("arguments"), str):
            call[4] = item["arguments"]
        call[1] = item.get("name") or call[1]
        return [StreamEvent(E.TOOL_CALL_END, self._tool_call(call))]

    def _completed(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        resp = ev.get("response") or {}
        self.finished = True
        self.model = resp.get("model") or self.model
        self.id = resp.get("id") or self.id
        self.usage = Usage.from_api(resp.get("usage"))
        self.finish_reason = _finish(resp.get("status"), resp.get("incomplete_details"), bool(self._calls))
        out = self._end_open_calls()
        out.append(StreamEvent(E.USAGE, self.usage))
        return out

    def _failed(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        err = (ev.get("response") or {}).get("error") or ev.get("error") or ev
        msg = err.get("message") if isinstance(err, Mapping) else str(err)
        usage = (ev.get("response") or {}).get("usage")
        if usage:
            self.usage = Usage.from_api(usage)
        raise StreamError(f"error event in stream: {msg}", partial=self.result(), request_id=self.request_id,
                          body=ev)

    def _end_open_calls(self) -> list[StreamEvent]:
        out = []
        for call in self._calls.values():
            if not call[3]:
                call[3] = True
                out.append(StreamEvent(E.TOOL_CALL_END, self._tool_call(call)))
        return out

    @staticmethod
    def _tool_call(call: list[Any]) -> ToolCall:
        return ToolCall.from_raw(call[0], call[1], call[4] if call[4] is not None else "".join(call[2]))

    def result(self) -> CompletionResult:
        """What has been assembled so far (the full result once ``finished``)."""
        calls = [self._tool_call(c) for c in self._calls.values()]
        reasoning = "".join("".join(p) for p in self._reasoning.values())
        items = [self._items[k] for k in sorted(self._items)]
        return _build(self._text, self._refusal, calls, reasoning, items, self.usage or Usage(), self.profile,
                      finish=self.finish_reason, model=self.model, request_id=self.request_id,
                      response_id=self.id, raw=None)


_HANDLERS = {
    "response.created": ResponsesAccumulator._meta,
    "response.in_progress": ResponsesAccumulator._meta,
    "response.output_text.delta": ResponsesAccumulator._text_delta,
    "response.refusal.delta": ResponsesAccumulator._refusal_delta,
    "response.reasoning_summary_text.delta": ResponsesAccumulator._reasoning_delta,
    "response.output_item.added": ResponsesAccumulator._item_added,
    "response.function_call_arguments.delta": ResponsesAccumulator._args_delta,
    "response.function_call_arguments.done": ResponsesAccumulator._args_done,
    "response.output_item.done": ResponsesAccumulator._item_done,
    "response.completed": ResponsesAccumulator._completed,
    "response.incomplete": ResponsesAccumulator._completed,
    "response.failed": ResponsesAccumulator._failed,
    "error": ResponsesAccumulator._failed,
}
