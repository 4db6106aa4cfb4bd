"""Responses API wire protocol (pure): chat-style messages -> ``input`` items, parsing, streams.

Same interface as ChatProtocol, so the provider, the Stream and the Agent do not care which
protocol is spoken. Reasoning and function-call output items are kept in
``CompletionResult.output_items``; an assistant message dict carrying ``output_items`` sends
them back as they are (the API needs reasoning items next to their function calls).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from .._sse import ServerSentEvent
from ._body import AccumulatorBase, check_error_envelope, decode_event, feed_guarded, guarded, want, want_str
from ._chat import _arguments, _id_seed, _unique_ids, build_result, synthetic_call_id
from ..errors import ConfigurationError, LLMClientError, StreamError
from ..models import ModelProfile
from ..types import Choice, CompletionResult, StreamEvent, StreamEventType, ToolCall, Usage, freeze, thaw

__all__ = ["ResponsesProtocol", "ResponsesAccumulator", "parse_responses_response"]

E = StreamEventType
_RENAMED = {"max_completion_tokens": "max_output_tokens", "max_tokens": "max_output_tokens"}
# chat parameters the Responses API has no equivalent for: refuse rather than drop silently
_UNSUPPORTED = ("stop", "seed", "logprobs", "frequency_penalty", "presence_penalty", "logit_bias", "stream_options")
# output items that are not kept in output_items (everything else is, and is sent back next turn)
_NOT_KEPT = ("message",)


_plain = thaw  # FrozenDict/tuple -> dict/list (results are frozen; bodies must be mutable JSON)


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


# state another provider's protocol keeps on an assistant message (a fail-over chain or an Agent
# may mix providers between turns); the Responses API would refuse these items
_FOREIGN_ITEMS = frozenset({"anthropic_content", "gemini_content"})


def _assistant_items(m: Mapping[str, Any]) -> list[Any]:
    kept = [_plain(it) for it in m.get("output_items") or () if it.get("type") not in _FOREIGN_ITEMS]
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
    label = "Responses API response"
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
           request_id: str | None, response_id: str | None, raw: Any, annotations: Any = ()) -> CompletionResult:
    content = "".join(texts) if texts else (None if calls or refusals else "")
    refusal = "".join(refusals) or None
    return build_result([Choice(0, content, tuple(calls), finish, refusal)], usage, profile, model=model,
                        request_id=request_id, raw=raw, response_id=response_id, reasoning=reasoning or None,
                        output_items=items, annotations=annotations)


def parse_responses_response(data: Mapping[str, Any], profile: ModelProfile,
                             request_id: str | None = None) -> CompletionResult:
    """A ``response`` JSON object -> CompletionResult (raises LLMClientError when it failed,
    APIResponseValidationError when the body is not a response)."""
    if isinstance(data, Mapping) and data.get("status") == "failed":
        err = data.get("error") or {}
        raise LLMClientError(f"the response failed: {err.get('message') if isinstance(err, Mapping) else err}")
    check_error_envelope(data, ResponsesProtocol.label, request_id)
    return guarded(ResponsesProtocol.label, data, request_id, _parse_response, data, profile, request_id)


def _parse_response(data: Any, profile: ModelProfile, request_id: str | None) -> CompletionResult:
    want(data, Mapping, "the body")
    texts: list[str] = []
    refusals: list[str] = []
    reasoning: list[str] = []
    annotations: list[Any] = []
    output = [want(it, Mapping, f"output[{i}]") for i, it in enumerate(want(data.get("output"), list, "output"))]
    ids = _call_ids(output, _id_seed(data))
    items: list[Any] = []
    calls: list[ToolCall] = []
    for i, item in enumerate(output):
        kind = want_str(item.get("type"), f"output[{i}].type")
        if kind == "message":
            for j, part in enumerate(want(item.get("content"), list, f"output[{i}].content", optional=True) or ()):
                want(part, Mapping, f"output[{i}].content[{j}]")
                if part.get("type") == "output_text":
                    texts.append(want_str(part.get("text"), f"output[{i}].content[{j}].text") or "")
                    annotations.extend(want(part.get("annotations"), list, "annotations", optional=True) or ())
                elif part.get("type") == "refusal":
                    refusals.append(want_str(part.get("refusal"), f"output[{i}].content[{j}].refusal") or "")
            continue
        if kind == "function_call":
            item = {**item, "call_id": ids[i]}
            calls.append(ToolCall.from_raw(ids[i], want_str(item.get("name"), f"output[{i}].name") or "",
                                           _arguments(item.get("arguments"), f"output[{i}].arguments")))
        elif kind == "reasoning":
            reasoning.extend(_reasoning_texts(item, f"output[{i}]"))
        items.append(_plain(item))
    return _build(texts, refusals, calls, "\n\n".join(reasoning), items, Usage.from_api(data.get("usage")), profile,
                  finish=_finish(data.get("status"), data.get("incomplete_details"), bool(calls)),
                  model=want_str(data.get("model"), "model"), request_id=request_id,
                  response_id=want_str(data.get("id"), "id"), raw=data, annotations=annotations)


def _reasoning_texts(item: Mapping[str, Any], where: str) -> list[str]:
    """Summary paragraphs, else the raw ``reasoning_text`` parts (gpt-oss via OpenRouter, vLLM)."""
    out = []
    for key, kind in (("summary", "summary_text"), ("content", "reasoning_text")):
        for j, part in enumerate(want(item.get(key), list, f"{where}.{key}", optional=True) or ()):
            want(part, Mapping, f"{where}.{key}[{j}]")
            text = want_str(part.get("text"), f"{where}.{key}[{j}].text")
            if text and part.get("type", kind) == kind:
                out.append(text)
        if out:
            break
    return out


def _call_ids(output: list[Mapping[str, Any]], seed: str) -> dict[int, str]:
    """output index -> a unique call_id for each function_call item (synthetic when missing)."""
    positions = [i for i, it in enumerate(output) if it.get("type") == "function_call"]
    raw = [want_str(output[i].get("call_id"), f"output[{i}].call_id") for i in positions]
    return dict(zip(positions, _unique_ids(raw, seed, 0)))


class ResponsesAccumulator(AccumulatorBase):
    """Feeds on SSE events of a Responses stream; returns StreamEvents; ``result()`` assembles.

    Summary and raw (``reasoning_text``) reasoning deltas become REASONING events; citations
    (``output_text.annotation.added``) and built-in tool items (web/file search, code
    interpreter, MCP, ...) are kept on the result and surfaced as META events
    (``{"event": "annotation", ...}`` / ``{"event": "output_item", ...}``). The final ``response``
    object is kept as ``result().raw``. A malformed event raises StreamError with the partial.
    """

    def __init__(self, profile: ModelProfile, request_id: str | None = None) -> None:
        super().__init__(profile, request_id)
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self._meta_sent = False
        self._text: list[str] = []
        self._refusal: list[str] = []
        self._reasoning: dict[tuple[str, str, int], list[str]] = {}  # (item id, kind, index) -> parts
        self._calls: dict[str, list[Any]] = {}  # item id -> [call_id, name, [arg parts], ended, final args]
        self._items: dict[int, Any] = {}  # output_index -> finished item kept in output_items
        self._annotations: list[Any] = []  # from annotation events
        self._item_annotations: list[Any] = []  # from finished message items (used when no events came)
        self._raw: Any = None
        self._seed = os.urandom(8).hex()

    complete_without_done = False  # a Responses stream is finished only by response.completed

    def feed(self, sse: ServerSentEvent) -> list[StreamEvent]:
        data = sse.data
        if data.strip() == "[DONE]":
            return []  # some compatible servers end with it; only response.completed finishes
        ev = decode_event(self, data)
        kind = ev.get("type") or sse.event
        if "error" in ev and kind in (None, "message") and ev.get("error"):
            kind = "error"  # {"error": {...}} without a type: an in-band error all the same
        handler = _HANDLERS.get(kind)
        if handler is None:
            return []
        return feed_guarded(self, data, handler, self, ev)

    # -- event handlers --------------------------------------------------------------------
    def _meta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        resp = want(ev.get("response"), Mapping, "response", optional=True) or {}
        self.model = want_str(resp.get("model"), "response.model") or self.model
        self.id = want_str(resp.get("id"), "response.id") or self.id
        if self.id:
            self._seed = self.id
        if self._meta_sent:
            return []
        self._meta_sent = True
        return [StreamEvent(E.META, {"model": self.model, "id": self.id, "request_id": self.request_id})]

    def _text_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        delta = want_str(ev.get("delta"), "delta") or ""
        if not delta:
            return []
        self._text.append(delta)
        return [StreamEvent(E.TOKEN, delta)]

    def _refusal_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        self._refusal.append(want_str(ev.get("delta"), "delta") or "")
        return []

    def _reasoning_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        return self._reasoning_part(ev, "summary", ev.get("summary_index"))

    def _reasoning_text_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        return self._reasoning_part(ev, "content", ev.get("content_index"))

    def _reasoning_part(self, ev: Mapping[str, Any], kind: str, index: Any) -> list[StreamEvent]:
        delta = want_str(ev.get("delta"), "delta") or ""
        key = (str(ev.get("item_id")), kind, int(want(index, int, "index", optional=True) or 0))
        parts = self._reasoning.get(key)
        if parts is None:
            parts = self._reasoning[key] = []
            if len(self._reasoning) > 1:
                delta = "\n\n" + delta  # summary parts are paragraphs: keep events == result text
        if not delta:
            return []
        parts.append(delta)
        return [StreamEvent(E.REASONING, delta)]

    def _annotation(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        ann = want(ev.get("annotation"), Mapping, "annotation")
        self._annotations.append(_plain(ann))
        return [StreamEvent(E.META, {"event": "annotation", "annotation": _plain(ann),
                                     "item_id": ev.get("item_id"), "output_index": ev.get("output_index")})]

    def _item_added(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        item = want(ev.get("item"), Mapping, "item", optional=True) or {}
        kind = want_str(item.get("type"), "item.type")
        if kind != "function_call":
            if kind in ("message", "reasoning", None):
                return []
            return [StreamEvent(E.META, {"event": "output_item", "status": "added", "item": _plain(item),
                                         "output_index": ev.get("output_index")})]
        k = len(self._calls)
        taken = {c[0] for c in self._calls.values()}
        cid = want_str(item.get("call_id"), "item.call_id") or synthetic_call_id(self._seed, 0, k)
        n = 0
        base = cid
        while cid in taken:
            n += 1
            cid = f"{base}_{k}" if n == 1 else f"{base}_{k}_{n}"
        call = [cid, want_str(item.get("name"), "item.name") or "", [], False, None]
        item_key = str(item.get("id") or k)
        self._calls[item_key] = call
        out = [StreamEvent(E.TOOL_CALL_START, {"index": k, "id": call[0], "name": call[1]})]
        if item.get("arguments"):
            out.extend(self._args(item_key, _arguments(item["arguments"], "item.arguments")))
        return out

    def _args(self, item_id: str, delta: str) -> list[StreamEvent]:
        call = self._calls.get(item_id)
        if call is None or not delta:
            return []
        call[2].append(delta)
        return [StreamEvent(E.TOOL_CALL_DELTA, {"index": list(self._calls).index(item_id), "arguments": delta})]

    def _args_delta(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        return self._args(str(ev.get("item_id")), want_str(ev.get("delta"), "delta") or "")

    def _args_done(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        call = self._calls.get(str(ev.get("item_id")))
        if call is not None and isinstance(ev.get("arguments"), str):
            call[4] = ev["arguments"]  # authoritative full text
        return []

    def _item_done(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        item = want(ev.get("item"), Mapping, "item", optional=True) or {}
        kind = want_str(item.get("type"), "item.type")
        index = want(ev.get("output_index"), int, "output_index", optional=True)
        index = len(self._items) if index is None else index
        call = self._calls.get(str(item.get("id"))) if kind == "function_call" else None
        if kind not in _NOT_KEPT and kind is not None:
            kept = _plain(item)
            if call is not None:
                kept["call_id"] = call[0]  # the (possibly synthetic or de-duplicated) id we use
            self._items[index] = kept
        if kind == "reasoning" and not any(k[0] == str(item.get("id")) for k in self._reasoning):
            for i, text in enumerate(_reasoning_texts(item, "item")):
                sep = "\n\n" if self._reasoning else ""
                self._reasoning[(str(item.get("id")), "done", i)] = [sep + text]
        if kind == "message":
            for part in want(item.get("content"), list, "item.content", optional=True) or ():
                if isinstance(part, Mapping) and part.get("annotations"):
                    self._item_annotations.extend(_plain(part["annotations"]))
        if kind != "function_call":
            if kind in ("message", "reasoning", None):
                return []
            return [StreamEvent(E.META, {"event": "output_item", "status": "done", "item": _plain(item),
                                         "output_index": index})]
        if call is None or call[3]:
            return []
        call[3] = True
        if isinstance(item.get("arguments"), str):
            call[4] = item["arguments"]
        call[1] = want_str(item.get("name"), "item.name") or call[1]
        return [StreamEvent(E.TOOL_CALL_END, self._tool_call(call))]

    def _completed(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        resp = want(ev.get("response"), Mapping, "response", optional=True) or {}
        self.finished = True
        self._raw = freeze(resp) if resp else None  # frozen here, where a too-deep body is a StreamError
        self.model = want_str(resp.get("model"), "response.model") or self.model
        self.id = want_str(resp.get("id"), "response.id") or self.id
        self.usage = Usage.from_api(resp.get("usage"))
        self.finish_reason = _finish(resp.get("status"), resp.get("incomplete_details"), bool(self._calls))
        out = self._end_open_calls()
        out.append(StreamEvent(E.USAGE, self.usage))
        return out

    def _failed(self, ev: Mapping[str, Any]) -> list[StreamEvent]:
        resp = ev.get("response") if isinstance(ev.get("response"), Mapping) else {}
        err = resp.get("error") or ev.get("error") or ev
        msg = (err.get("message") or err.get("code") or err) if isinstance(err, Mapping) else str(err)
        usage = resp.get("usage")
        if usage:
            try:
                self.usage = Usage.from_api(usage)
            except ValueError:
                pass  # the error is what the caller needs to see
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
                      response_id=self.id, raw=self._raw, annotations=self._annotations or self._item_annotations)


_HANDLERS = {
    "response.created": ResponsesAccumulator._meta,
    "response.in_progress": ResponsesAccumulator._meta,
    "response.queued": ResponsesAccumulator._meta,
    "response.output_text.delta": ResponsesAccumulator._text_delta,
    "response.output_text.annotation.added": ResponsesAccumulator._annotation,
    "response.refusal.delta": ResponsesAccumulator._refusal_delta,
    "response.reasoning_summary_text.delta": ResponsesAccumulator._reasoning_delta,
    "response.reasoning_text.delta": ResponsesAccumulator._reasoning_text_delta,
    "response.output_item.added": ResponsesAccumulator._item_added,
    "response.function_call_arguments.delta": ResponsesAccumulator._args_delta,
    "response.function_call_arguments.done": ResponsesAccumulator._args_done,
    "response.output_item.done": ResponsesAccumulator._item_done,
    "response.completed": ResponsesAccumulator._completed,
    "response.incomplete": ResponsesAccumulator._completed,
    "response.failed": ResponsesAccumulator._failed,
    "error": ResponsesAccumulator._failed,
}
