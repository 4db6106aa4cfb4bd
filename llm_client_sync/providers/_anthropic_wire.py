"""Anthropic Messages wire protocol (pure): chat-style messages -> ``/v1/messages`` bodies, parsing, streams.

Assistant turns that hold thinking (or other non-text) blocks keep the whole content block list
in ``output_items`` as ``{"type": "anthropic_content", "content": [...]}``; ``build`` sends it back
unchanged, so thinking signatures round-trip byte for byte.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from .._sse import ServerSentEvent
from ..errors import ConfigurationError, StreamError
from ..models import ModelProfile
from ..types import Choice, CompletionResult, StreamEvent, StreamEventType, ToolCall, Usage
from ._body import AccumulatorBase, decode_event, feed_guarded, guarded, want
from ._chat import build_result
from ._native import (
    REJECTED_COMMON,
    data_url,
    function_tools,
    image_url_of,
    native_items,
    plain,
    reject,
    stop_list,
    text_of,
    thinking_budget,
    tool_arguments,
)

__all__ = ["AnthropicAccumulator", "AnthropicProtocol", "anthropic_usage", "parse_anthropic_message"]

E = StreamEventType
ITEM = "anthropic_content"
STRUCTURED_BETA = "structured-outputs-2025-11-13"
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
          "refusal": "content_filter", "model_context_window_exceeded": "length"}
_PLAIN_BLOCKS = frozenset({"text", "tool_use"})
# in-band error types worth a fresh attempt when nothing reached the caller yet
TRANSIENT = frozenset({"overloaded_error", "api_error", "rate_limit_error", "timeout_error"})
_REJECTED = REJECTED_COMMON + ("seed", "logprobs", "top_logprobs", "frequency_penalty", "presence_penalty")
_DROPPED = ("stream", "stream_options", "store", "parallel_tool_calls", "user", "n")
_DEFAULT_MAX_TOKENS = 8192
_ADAPTIVE_MAX_TOKENS = 16384


def anthropic_usage(u: Mapping[str, Any] | None) -> Usage:
    """Anthropic usage -> Usage: the prompt counts cache reads and writes (the API's input_tokens does not)."""
    if not u:
        return Usage()
    uncached = int(u.get("input_tokens") or 0)
    write = int(u.get("cache_creation_input_tokens") or 0)
    read = int(u.get("cache_read_input_tokens") or 0)
    out = int(u.get("output_tokens") or 0)
    thinking = int((u.get("output_tokens_details") or {}).get("thinking_tokens") or 0)
    prompt = uncached + write + read
    return Usage(prompt, out, prompt + out, thinking, read, write)


def finish_reason(stop: str | None) -> str | None:
    return FINISH.get(stop, stop) if stop else None


def _assemble(blocks: list[dict[str, Any]], raw_args: Mapping[int, str] | None = None) -> tuple[
        str | None, tuple[ToolCall, ...], str | None, tuple[Any, ...]]:
    """Content blocks -> (text, tool calls, thinking text, output_items)."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls = []
    for i, b in enumerate(blocks):
        kind = b.get("type")
        if kind == "text":
            texts.append(b.get("text") or "")
        elif kind == "thinking":
            thoughts.append(b.get("thinking") or "")
        elif kind == "tool_use":
            raw = raw_args.get(i) if raw_args is not None and i in raw_args else json.dumps(b.get("input") or {})
            calls.append(ToolCall.from_raw(b.get("id") or f"toolu_{i}", b.get("name") or "", raw))
    content = "".join(texts) if texts else (None if calls else "")
    keep = any(b.get("type") not in _PLAIN_BLOCKS or b.get("citations") for b in blocks)
    items = ({"type": ITEM, "content": blocks},) if keep else ()
    return content, tuple(calls), ("".join(thoughts) if thoughts else None), items


def parse_anthropic_message(data: Mapping[str, Any], profile: ModelProfile,
                            request_id: str | None = None) -> CompletionResult:
    """A ``message`` JSON object -> CompletionResult (APIResponseValidationError when it is not one)."""
    return guarded(AnthropicProtocol.label, data, request_id, _parse_message, data, profile, request_id)


def _parse_message(data: Any, profile: ModelProfile, request_id: str | None) -> CompletionResult:
    want(data, Mapping, "the body")
    if data.get("type") == "error":
        raise ValueError(f"the server answered with an error object: {(data.get('error') or {}).get('message')}")
    blocks = [plain(want(b, Mapping, "a content block")) for b in want(data.get("content"), list, "content")]
    content, calls, thinking, items = _assemble(blocks)
    choice = Choice(0, content, calls, finish_reason(data.get("stop_reason")))
    return build_result([choice], anthropic_usage(data.get("usage")), profile, model=data.get("model"),
                        request_id=request_id or data.get("request_id"), raw=data, response_id=data.get("id"),
                        reasoning=thinking, output_items=items)


class AnthropicAccumulator(AccumulatorBase):
    """Feeds on the SSE events of a Messages stream; returns StreamEvents; ``result()`` assembles."""

    def __init__(self, profile: ModelProfile, request_id: str | None = None) -> None:
        super().__init__(profile, request_id)
        self._usage: dict[str, Any] = {}
        self._stop: str | None = None
        self._blocks: dict[int, dict[str, Any]] = {}
        self._parts: dict[int, list[str]] = {}  # text / thinking / partial_json pieces per block
        self._calls: dict[int, int] = {}  # block index -> tool call index
        self._ended: set[int] = set()

    def feed(self, sse: ServerSentEvent) -> list[StreamEvent]:
        return feed_guarded(self, sse.data, self._event, decode_event(self, sse.data), sse.event)

    def _event(self, ev: dict[str, Any], name: str) -> list[StreamEvent]:
        kind = ev.get("type") or name
        if kind == "content_block_delta":
            return self._delta(int(ev.get("index") or 0), ev.get("delta") or {})
        if kind == "content_block_start":
            return self._start(int(ev.get("index") or 0), plain(ev.get("content_block") or {}))
        if kind == "content_block_stop":
            return self._stop_block(int(ev.get("index") or 0))
        if kind == "message_start":
            msg = ev.get("message") or {}
            self.model, self.id = msg.get("model"), msg.get("id")
            self._usage.update(msg.get("usage") or {})
            return [StreamEvent(E.META, {"model": self.model, "id": self.id, "request_id": self.request_id})]
        if kind == "message_delta":
            self._stop = (ev.get("delta") or {}).get("stop_reason") or self._stop
            # later usage is cumulative; older streams send only output_tokens: merge, never zero out
            self._usage.update({k: v for k, v in (ev.get("usage") or {}).items() if v is not None})
            return [StreamEvent(E.USAGE, anthropic_usage(self._usage))]
        if kind == "message_stop":
            self.finished = True
            out: list[StreamEvent] = []
            for idx in sorted(self._calls):
                out.extend(self._stop_block(idx))
            return out
        if kind == "error":
            err = ev.get("error") if isinstance(ev.get("error"), dict) else {}
            exc = StreamError(f"error event in stream: {err.get('type', 'error')}: {err.get('message')}",
                              partial=self.result(), request_id=self.request_id or ev.get("request_id"), body=ev)
            exc.retryable = err.get("type") in TRANSIENT  # type: ignore[attr-defined]
            raise exc
        return []  # ping and event types added later

    def _start(self, idx: int, block: dict[str, Any]) -> list[StreamEvent]:
        self._blocks[idx] = block
        kind = block.get("type")
        out: list[StreamEvent] = []
        if kind == "tool_use":
            k = self._calls[idx] = len(self._calls)
            self._parts[idx] = []
            out.append(StreamEvent(E.TOOL_CALL_START, {"index": k, "id": block.get("id"), "name": block.get("name")}))
        elif kind == "text":
            self._parts[idx] = [block.get("text") or ""]
            if block.get("text"):
                out.append(StreamEvent(E.TOKEN, block["text"]))
        elif kind == "thinking":
            self._parts[idx] = [block.get("thinking") or ""]
            if block.get("thinking"):
                out.append(StreamEvent(E.REASONING, block["thinking"]))
        return out

    def _delta(self, idx: int, delta: Mapping[str, Any]) -> list[StreamEvent]:
        block = self._blocks.setdefault(idx, {"type": "text", "text": ""})
        parts = self._parts.setdefault(idx, [])
        kind = delta.get("type")
        if kind == "text_delta":
            text = delta.get("text") or ""
            parts.append(text)
            return [StreamEvent(E.TOKEN, text)] if text else []
        if kind == "input_json_delta":
            piece = delta.get("partial_json") or ""
            parts.append(piece)
            if piece and idx in self._calls:
                return [StreamEvent(E.TOOL_CALL_DELTA, {"index": self._calls[idx], "arguments": piece})]
            return []
        if kind == "thinking_delta":
            text = delta.get("thinking") or ""
            parts.append(text)
            return [StreamEvent(E.REASONING, text)] if text else []
        if kind == "signature_delta":
            block["signature"] = (block.get("signature") or "") + (delta.get("signature") or "")
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(plain(delta.get("citation")))
        return []

    def _stop_block(self, idx: int) -> list[StreamEvent]:
        if idx not in self._calls or idx in self._ended:
            return []
        self._ended.add(idx)
        block = self._blocks[idx]
        call = ToolCall.from_raw(block.get("id") or f"toolu_{idx}", block.get("name") or "",
                                 "".join(self._parts.get(idx) or ()))
        return [StreamEvent(E.TOOL_CALL_END, call)]

    def _final_blocks(self) -> tuple[list[dict[str, Any]], dict[int, str]]:
        blocks: list[dict[str, Any]] = []
        raw_args: dict[int, str] = {}
        for idx in sorted(self._blocks):
            block = dict(self._blocks[idx])
            parts = self._parts.get(idx)
            kind = block.get("type")
            if kind == "text" and parts is not None:
                block["text"] = "".join(parts)
            elif kind == "thinking" and parts is not None:
                block["thinking"] = "".join(parts)
            elif kind == "tool_use":
                raw = "".join(parts or ())
                raw_args[len(blocks)] = raw
                block["input"] = tool_arguments(raw)
            blocks.append(block)
        return blocks, raw_args

    def result(self) -> CompletionResult:
        """What has been assembled so far (the full result once ``finished``)."""
        blocks, raw_args = self._final_blocks()
        content, calls, thinking, items = _assemble(blocks, raw_args)
        choice = Choice(0, content, calls, finish_reason(self._stop))
        return build_result([choice], anthropic_usage(self._usage), self.profile, model=self.model,
                            request_id=self.request_id, raw=None, response_id=self.id, reasoning=thinking,
                            output_items=items)


# -- requests ---------------------------------------------------------------------------------
def _image_block(part: Mapping[str, Any]) -> dict[str, Any]:
    url = image_url_of(part)
    inline = data_url(url)
    if inline is not None:
        return {"type": "image", "source": {"type": "base64", "media_type": inline[0], "data": inline[1]}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks(content: Any) -> list[dict[str, Any]] | str:
    """Chat content (str or parts) -> Anthropic content (str or blocks)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    out = []
    for p in content:
        p = plain(p)
        kind = p.get("type")
        if kind == "text":
            block = {"type": "text", "text": p.get("text", "")}
            if p.get("cache_control"):
                block["cache_control"] = p["cache_control"]
            out.append(block)
        elif kind == "image_url":
            out.append(_image_block(p))
        elif kind in ("input_audio", "file"):
            raise ConfigurationError(f"the Anthropic provider cannot send a {kind!r} content part; "
                                     "send text, images, or a native Anthropic document block")
        else:
            out.append(p)  # a native Anthropic block (image, document, search_result, ...)
    return out


def _append(out: list[dict[str, Any]], role: str, content: list[dict[str, Any]] | str) -> None:
    """Add a turn, merging it into the previous one of the same role (tool results + user text)."""
    if out and out[-1]["role"] == role:
        prev = out[-1]["content"]
        prev = [{"type": "text", "text": prev}] if isinstance(prev, str) else prev
        add = [{"type": "text", "text": content}] if isinstance(content, str) else content
        out[-1]["content"] = prev + add
    else:
        out.append({"role": role, "content": content})


def _assistant(m: Mapping[str, Any]) -> list[dict[str, Any]] | str | None:
    stored = native_items(m, ITEM)
    if stored is not None:
        return stored.get("content") or []
    text = text_of(m.get("content"))
    calls = m.get("tool_calls") or ()
    if not calls:
        return text or None
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for tc in calls:
        fn = tc.get("function") or {}
        blocks.append({"type": "tool_use", "id": tc.get("id"), "name": fn.get("name", ""),
                       "input": tool_arguments(fn.get("arguments"))})
    return blocks


def convert_messages(messages: list[Mapping[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """Chat-style messages -> (``system`` or None, Anthropic ``messages``)."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        content = m.get("content")
        if role in ("system", "developer"):
            blocks = _blocks(content)
            system.extend([{"type": "text", "text": blocks}] if isinstance(blocks, str) else blocks)
        elif role == "tool":
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.get("tool_call_id"),
                                     "content": _blocks(content)}
            if m.get("is_error"):
                block["is_error"] = True
            _append(out, "user", [block])
        elif role == "assistant":
            blocks = _assistant(m)
            if blocks:
                _append(out, "assistant", blocks)
        else:  # user, and the legacy function role as text
            _append(out, "user", _blocks(content) if role == "user" else text_of(content))
    if not system:
        return None, out
    if all(set(b) == {"type", "text"} and b["type"] == "text" for b in system):
        return "\n\n".join(b["text"] for b in system), out
    return system, out


def convert_tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for fn, t in function_tools(tools):
        if fn is None:
            out.append(t)  # native: {name, input_schema} or a server tool {type: web_search_..., ...}
            continue
        tool = {"name": fn["name"], "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
        if fn.get("description"):
            tool["description"] = fn["description"]
        if t.get("cache_control"):
            tool["cache_control"] = t["cache_control"]
        out.append(tool)
    return out


def convert_tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    choice = plain(choice)
    if choice is None or choice == "auto":
        out: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        out = {"type": "none"}
    elif isinstance(choice, Mapping) and choice.get("type") == "function":
        out = {"type": "tool", "name": (choice.get("function") or {}).get("name") or choice.get("name")}
    elif isinstance(choice, Mapping) and choice.get("type") in ("auto", "any", "tool", "none"):
        out = dict(choice)
    else:
        raise ConfigurationError(f"tool_choice {choice!r} is not valid: use 'auto', 'required', 'none' or "
                                 "{'type': 'function', 'function': {'name': ...}}")
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _output_format(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = spec.get("type")
    if kind == "json_schema":
        return {"type": "json_schema", "schema": (spec.get("json_schema") or {}).get("schema") or {}}
    if kind == "json_object":
        return {"type": "json_schema", "schema": {"type": "object"}}
    return None  # "text"


def _thinking(profile: ModelProfile, params: dict[str, Any]) -> dict[str, Any] | None:
    """Pop the thinking parameters; Anthropic's ``thinking`` value (``output_config`` set in params).

    Models with effort levels in their profile (Claude 4.6 and later) think adaptively
    (``{"type": "adaptive"}`` + ``output_config.effort``; a budget is turned into the nearest
    effort); older ones take ``{"type": "enabled", "budget_tokens": N}``.
    """
    thinking = params.pop("thinking", None)
    effort = params.get("reasoning_effort")
    budget = thinking_budget(params)
    if thinking is not None or budget is None or budget == 0:
        return thinking
    efforts = profile.reasoning_efforts
    if efforts:
        if effort is None:
            effort = "low" if budget <= 2048 else "medium" if budget <= 8192 else "high"
        effort = {"minimal": "low", "xhigh": "max"}.get(effort, effort)
        if effort not in efforts:
            effort = efforts[-1] if effort == "max" else "high"
        params["output_config"] = {**(params.get("output_config") or {}), "effort": effort}
        return {"type": "adaptive", "display": "summarized"}
    if budget < 1024:
        raise ConfigurationError(f"Anthropic thinking budgets start at 1024 tokens (got {budget})")
    return {"type": "enabled", "budget_tokens": budget}


class AnthropicProtocol:
    """``POST /v1/messages`` (Anthropic Messages API)."""

    name = "anthropic"
    label = "Anthropic message"
    endpoint = "/v1/messages"
    count_endpoint = "/v1/messages/count_tokens"

    def path(self, model: str, stream: bool = False) -> str:
        return self.endpoint

    def build(self, profile: ModelProfile, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        params = dict(params)
        reject(params, _REJECTED, "the Anthropic Messages API")
        if (params.get("n") or 1) != 1:
            raise ConfigurationError("the Anthropic Messages API returns one answer per call: remove n or set n=1")
        system, converted = convert_messages(messages)
        if not converted:
            raise ConfigurationError("the Anthropic Messages API needs at least one user or assistant message")
        body: dict[str, Any] = {"model": profile.api_id, "messages": converted}
        if system is not None:
            body["system"] = system
        max_tokens = params.pop("max_tokens", None)
        for alias in ("max_completion_tokens", "max_output_tokens"):
            value = params.pop(alias, None)
            max_tokens = max_tokens if max_tokens is not None else value
        thinking = _thinking(profile, params)
        if thinking is not None:
            body["thinking"] = plain(thinking)
            if thinking.get("type") in ("enabled", "adaptive"):
                for name in ("temperature", "top_p"):
                    if params.get(name) not in (None, 1):
                        raise ConfigurationError(f"Anthropic extended thinking needs {name} unset or 1 "
                                                 f"(got {params[name]}); remove it or turn thinking off")
        if max_tokens is None:
            max_tokens = min(profile.max_output_tokens or _DEFAULT_MAX_TOKENS, _DEFAULT_MAX_TOKENS)
            if (thinking or {}).get("type") == "adaptive":
                max_tokens = min(profile.max_output_tokens or _ADAPTIVE_MAX_TOKENS, _ADAPTIVE_MAX_TOKENS)
            if (thinking or {}).get("budget_tokens"):
                max_tokens = max(max_tokens, int(thinking["budget_tokens"]) + _DEFAULT_MAX_TOKENS // 2)
        elif (thinking or {}).get("budget_tokens") and int(thinking["budget_tokens"]) >= max_tokens:
            raise ConfigurationError(f"max_tokens ({max_tokens}) must be larger than the thinking budget "
                                     f"({thinking['budget_tokens']})")
        body["max_tokens"] = max_tokens
        stops = stop_list(params.pop("stop", None))
        if stops:
            body["stop_sequences"] = stops
        tools = params.pop("tools", None)
        if tools:
            body["tools"] = convert_tools(tools)
        choice = convert_tool_choice(params.pop("tool_choice", None), params.get("parallel_tool_calls"))
        if choice is not None and tools:
            body["tool_choice"] = choice
        fmt = params.pop("response_format", None)
        if fmt:
            out_fmt = _output_format(fmt)
            if out_fmt is not None:
                body["output_format"] = out_fmt
        user = params.get("user")
        if user and not params.get("metadata"):
            body["metadata"] = {"user_id": str(user)}
        for name in _DROPPED:
            params.pop(name, None)
        for k, v in params.items():
            if v is not None:
                body[k] = v
        return body

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "stream": True}

    def count_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The ``count_tokens`` request for a Messages body (no max_tokens, no sampling)."""
        keep = ("model", "messages", "system", "tools", "tool_choice", "thinking")
        return {k: v for k, v in body.items() if k in keep}

    def parse(self, data: Mapping[str, Any], profile: ModelProfile, request_id: str | None) -> CompletionResult:
        return parse_anthropic_message(data, profile, request_id)

    def accumulator(self, profile: ModelProfile, request_id: str | None) -> AnthropicAccumulator:
        return AnthropicAccumulator(profile, request_id)
