"""Chat Completions wire protocol (pure): request body, response parsing, stream accumulation."""

from __future__ import annotations

import json
from typing import Any, Mapping

from .._sse import ServerSentEvent
from ..errors import StreamError
from ..models import ModelProfile
from ..types import Choice, CompletionResult, StreamEvent, StreamEventType, ToolCall, Usage, freeze

__all__ = ["ChatProtocol", "ChatAccumulator", "parse_chat_response"]

E = StreamEventType


def build_result(choices: list[Choice], usage: Usage, profile: ModelProfile, *, model: str | None,
                 request_id: str | None, raw: Any, response_id: str | None, reasoning: str | None,
                 output_items: Any = ()) -> CompletionResult:
    """The one place a CompletionResult is assembled (and its cost computed) for both protocols."""
    first = choices[0] if choices else Choice(0, None)
    return CompletionResult(
        content=first.content, tool_calls=first.tool_calls, usage=usage,
        cost=profile.usage_cost(usage),
        model=model, finish_reason=first.finish_reason, refusal=first.refusal, request_id=request_id,
        raw=freeze(raw) if raw is not None else None, reasoning=reasoning, choices=tuple(choices),
        response_id=response_id, output_items=freeze(list(output_items)))


def parse_chat_response(data: Mapping[str, Any], profile: ModelProfile, request_id: str | None = None) -> CompletionResult:
    """A ``chat.completion`` JSON object -> CompletionResult."""
    choices = []
    reasoning = None
    for c in data.get("choices") or []:
        msg = c.get("message") or {}
        calls = tuple(ToolCall.from_raw(tc.get("id", ""), (tc.get("function") or {}).get("name", ""),
                                        (tc.get("function") or {}).get("arguments", ""))
                      for tc in msg.get("tool_calls") or [])
        choices.append(Choice(int(c.get("index", len(choices))), msg.get("content"), calls,
                              c.get("finish_reason"), msg.get("refusal")))
        if reasoning is None:
            reasoning = msg.get("reasoning_content") or msg.get("reasoning")
    choices.sort(key=lambda c: c.index)
    return build_result(choices, Usage.from_api(data.get("usage")), profile, model=data.get("model"),
                   request_id=request_id, raw=data, response_id=data.get("id"), reasoning=reasoning)


class _ChoiceState:
    __slots__ = ("text", "refusal", "reasoning", "calls", "finish", "open_call")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.reasoning: list[str] = []
        self.calls: dict[int, list[Any]] = {}  # index -> [id, name, [arg parts], ended]
        self.finish: str | None = None
        self.open_call: int | None = None


class ChatAccumulator:
    """Feeds on SSE events of a chat stream; returns StreamEvents; ``result()`` assembles."""

    def __init__(self, profile: ModelProfile, request_id: str | None = None) -> None:
        self.profile = profile
        self.request_id = request_id
        self.finished = False
        self.model: str | None = None
        self.id: str | None = None
        self.usage: Usage | None = None
        self._choices: dict[int, _ChoiceState] = {}
        self._meta_sent = False

    def feed(self, sse: ServerSentEvent) -> list[StreamEvent]:
        data = sse.data
        if data == "[DONE]":
            self.finished = True
            return self._end_all_calls()
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise StreamError(f"malformed stream chunk (not JSON): {data[:200]!r}", partial=self.result(),
                              request_id=self.request_id) from exc
        if not isinstance(chunk, dict):
            raise StreamError(f"malformed stream chunk: {data[:200]!r}", partial=self.result(),
                              request_id=self.request_id)
        if "error" in chunk and not chunk.get("choices"):
            err = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
            raise StreamError(f"error event in stream: {err.get('message')}", partial=self.result(),
                              request_id=self.request_id, body=chunk)
        out: list[StreamEvent] = []
        if not self._meta_sent:
            self._meta_sent = True
            self.model, self.id = chunk.get("model"), chunk.get("id")
            out.append(StreamEvent(E.META, {"model": self.model, "id": self.id, "request_id": self.request_id}))
        for c in chunk.get("choices") or ():
            idx = int(c.get("index") or 0)
            st = self._choices.get(idx)
            if st is None:
                st = self._choices[idx] = _ChoiceState()
            delta = c.get("delta") or {}
            text = delta.get("content")
            if text:
                st.text.append(text)
                out.append(StreamEvent(E.TOKEN, text, idx))
            r = delta.get("reasoning_content") or delta.get("reasoning")
            if r:
                st.reasoning.append(r)
                out.append(StreamEvent(E.REASONING, r, idx))
            if delta.get("refusal"):
                st.refusal.append(delta["refusal"])
            for tc in delta.get("tool_calls") or ():
                out.extend(self._tool_delta(st, idx, tc))
            if c.get("finish_reason"):
                st.finish = c["finish_reason"]
                out.extend(self._end_calls(st, idx))
        if chunk.get("usage"):
            self.usage = Usage.from_api(chunk["usage"])
            out.append(StreamEvent(E.USAGE, self.usage))
        return out

    def _tool_delta(self, st: _ChoiceState, choice: int, tc: Mapping[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        k = int(tc.get("index") or 0)
        fn = tc.get("function") or {}
        call = st.calls.get(k)
        if call is None:
            if st.open_call is not None:
                out.extend(self._end_call(st, choice, st.open_call))
            call = st.calls[k] = [tc.get("id") or f"call_{k}", fn.get("name") or "", [], False]
            st.open_call = k
            out.append(StreamEvent(E.TOOL_CALL_START, {"index": k, "id": call[0], "name": call[1]}, choice))
        elif fn.get("name") and not call[1]:
            call[1] = fn["name"]
        args = fn.get("arguments")
        if args:
            call[2].append(args)
            out.append(StreamEvent(E.TOOL_CALL_DELTA, {"index": k, "arguments": args}, choice))
        return out

    def _end_call(self, st: _ChoiceState, choice: int, k: int) -> list[StreamEvent]:
        call = st.calls[k]
        if call[3]:
            return []
        call[3] = True
        if st.open_call == k:
            st.open_call = None
        return [StreamEvent(E.TOOL_CALL_END, ToolCall.from_raw(call[0], call[1], "".join(call[2])), choice)]

    def _end_calls(self, st: _ChoiceState, choice: int) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for k in sorted(st.calls):
            out.extend(self._end_call(st, choice, k))
        return out

    def _end_all_calls(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for idx, st in sorted(self._choices.items()):
            out.extend(self._end_calls(st, idx))
        return out

    def result(self) -> CompletionResult:
        """What has been assembled so far (the full result once ``finished``)."""
        choices = []
        reasoning = None
        for idx, st in sorted(self._choices.items()):
            calls = tuple(ToolCall.from_raw(c[0], c[1], "".join(c[2])) for _, c in sorted(st.calls.items()))
            content = "".join(st.text) if st.text else (None if calls or st.refusal else "")
            choices.append(Choice(idx, content, calls, st.finish, "".join(st.refusal) or None))
            if reasoning is None and st.reasoning:
                reasoning = "".join(st.reasoning)
        return build_result(choices, self.usage or Usage(), self.profile, model=self.model,
                       request_id=self.request_id, raw=None, response_id=self.id, reasoning=reasoning)


class ChatProtocol:
    """``/chat/completions``: the default protocol, spoken by OpenAI-compatible servers."""

    name = "chat"
    endpoint = "/chat/completions"

    def build(self, profile: ModelProfile, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        if any("output_items" in m for m in messages):
            # Responses-API items a conversation may carry mean nothing to chat/completions
            messages = [{k: v for k, v in m.items() if k != "output_items"} for m in messages]
        body: dict[str, Any] = {"model": profile.api_id, "messages": messages}
        if profile.reasoning and "max_tokens" in params and "max_completion_tokens" not in params:
            # reasoning models reject the deprecated max_tokens
            params["max_completion_tokens"] = params.pop("max_tokens")
        for k, v in params.items():
            if v is not None:
                body[k] = v
        return body

    def path(self, model: str, stream: bool) -> str:
        """The endpoint for a (streamed) call; the same for every model here."""
        return self.endpoint

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        opts = dict(body.get("stream_options") or {})
        opts.setdefault("include_usage", True)
        return {**body, "stream": True, "stream_options": opts}

    def parse(self, data: Mapping[str, Any], profile: ModelProfile, request_id: str | None) -> CompletionResult:
        return parse_chat_response(data, profile, request_id)

    def accumulator(self, profile: ModelProfile, request_id: str | None) -> ChatAccumulator:
        return ChatAccumulator(profile, request_id)
