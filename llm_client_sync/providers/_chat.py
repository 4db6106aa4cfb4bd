"""Chat Completions wire protocol (pure): request body, response parsing, stream accumulation."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Mapping

from .._sse import ServerSentEvent
from ..errors import StreamError
from ..models import ModelProfile
from ..types import Choice, CompletionResult, StreamEvent, StreamEventType, ToolCall, Usage, freeze
from ._body import AccumulatorBase, check_error_envelope, decode_event, feed_guarded, guarded, want, want_str

__all__ = ["ChatAccumulator", "ChatProtocol", "parse_chat_response", "synthetic_call_id"]

E = StreamEventType


def build_result(choices: list[Choice], usage: Usage, profile: ModelProfile, *, model: str | None,
                 request_id: str | None, raw: Any, response_id: str | None, reasoning: str | None,
                 output_items: Any = (), annotations: Any = ()) -> CompletionResult:
    """The one place a CompletionResult is assembled (and its cost computed) for both protocols."""
    first = choices[0] if choices else Choice(0, None)
    return CompletionResult(
        content=first.content, tool_calls=first.tool_calls, usage=usage,
        cost=profile.usage_cost(usage),
        model=model, finish_reason=first.finish_reason, refusal=first.refusal, request_id=request_id,
        raw=freeze(raw) if raw is not None else None, reasoning=reasoning, choices=tuple(choices),
        response_id=response_id, output_items=freeze(list(output_items)), annotations=freeze(list(annotations)))


def parse_chat_response(data: Mapping[str, Any], profile: ModelProfile, request_id: str | None = None) -> CompletionResult:
    """A ``chat.completion`` JSON object -> CompletionResult.

    Raises APIResponseValidationError when the body is not a chat completion (no ``choices``,
    wrong types, ...). Tool calls without an id (or with an id used twice) get a unique one.
    """
    check_error_envelope(data, ChatProtocol.label, request_id)
    return guarded(ChatProtocol.label, data, request_id, _parse_chat, data, profile, request_id)


def _parse_chat(data: Any, profile: ModelProfile, request_id: str | None) -> CompletionResult:
    want(data, Mapping, "the body")
    raw_choices = want(data.get("choices"), list, "choices")
    if not raw_choices:
        raise ValueError("choices is empty (no answer)")
    seed = _id_seed(data)
    choices = []
    reasoning = None
    annotations: list[Any] = []
    for i, c in enumerate(raw_choices):
        where = f"choices[{i}]"
        want(c, Mapping, where)
        msg = want(c.get("message"), Mapping, f"{where}.message")
        index = _index(c.get("index"), f"{where}.index", default=i)
        raw_calls = want(msg.get("tool_calls"), list, f"{where}.message.tool_calls", optional=True) or []
        ids = _unique_ids([want_str(want(tc, Mapping, f"{where}.message.tool_calls[{k}]").get("id"),
                                    f"{where}.message.tool_calls[{k}].id") for k, tc in enumerate(raw_calls)],
                          seed, index)
        calls = []
        for k, tc in enumerate(raw_calls):
            tw = f"{where}.message.tool_calls[{k}]"
            fn = want(tc.get("function"), Mapping, f"{tw}.function", optional=True) or {}  # custom tools have none
            extra = want(tc.get("extra_content"), Mapping, f"{tw}.extra_content", optional=True)
            if k == 0 and extra is None and isinstance(msg.get("extra_content"), Mapping):
                extra = msg["extra_content"]  # older Gemini shape: the signature sits on the message
            calls.append(ToolCall.from_raw(ids[k], want_str(fn.get("name"), f"{tw}.function.name") or "",
                                           _arguments(fn.get("arguments"), f"{tw}.function.arguments")).with_extra(extra))
        choices.append(Choice(index, _content(msg.get("content"), f"{where}.message.content"), tuple(calls),
                              want_str(c.get("finish_reason"), f"{where}.finish_reason"),
                              want_str(msg.get("refusal"), f"{where}.message.refusal")))
        if reasoning is None:
            reasoning = (want_str(msg.get("reasoning_content"), f"{where}.message.reasoning_content")
                         or _reasoning_text(msg.get("reasoning"), f"{where}.message.reasoning"))
        if i == 0:
            annotations.extend(want(msg.get("annotations"), list, f"{where}.message.annotations", optional=True) or ())
    choices.sort(key=lambda c: c.index)
    return build_result(choices, Usage.from_api(data.get("usage")), profile,
                        model=want_str(data.get("model"), "model"), request_id=request_id, raw=data,
                        response_id=want_str(data.get("id"), "id"), reasoning=reasoning, annotations=annotations)


def _index(value: Any, where: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return want(value, int, where)


def _content(value: Any, where: str) -> str | None:
    """Message content: a string, null, or (some servers) a list of text parts."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(p.get("text") or "" if isinstance(p, Mapping) else want(p, str, f"{where}[]") for p in value)
    raise ValueError(f"{where} must be a string, an array of parts or null, got {type(value).__name__}")


def _reasoning_text(value: Any, where: str) -> str | None:
    """``reasoning`` is a string on vLLM/llama.cpp/OpenRouter; an object ({effort, summary}) elsewhere."""
    if value is None or isinstance(value, str):
        return value or None
    return None


def _arguments(value: Any, where: str) -> str:
    """Tool arguments: a JSON string; some servers (Ollama's native shape) send the object itself."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (Mapping, list)):
        return json.dumps(value)
    raise ValueError(f"{where} must be a JSON string, got {type(value).__name__}")


def _id_seed(data: Mapping[str, Any]) -> str:
    """What a synthetic tool-call id is derived from: the response's id and time, else randomness."""
    rid, created = data.get("id"), data.get("created")
    return f"{rid}|{created}" if rid else os.urandom(8).hex()


def synthetic_call_id(seed: str, choice: int, n: int) -> str:
    """``call_<n>_<8 hex>``: stable for one response, different across responses."""
    return f"call_{n}_{hashlib.sha256(f'{seed}|{choice}|{n}'.encode()).hexdigest()[:8]}"


def _unique_ids(ids: list[str | None], seed: str, choice: int) -> list[str]:
    """Empty/missing ids get a synthetic one; an id used twice gets a suffix (tool results must
    name exactly one call)."""
    used: set[str] = set()
    out = []
    for n, cid in enumerate(ids):
        new = cid or synthetic_call_id(seed, choice, n)
        k = 1
        while new in used:
            new = f"{cid or new}_{n}" if k == 1 else f"{cid or new}_{n}_{k}"
            k += 1
        used.add(new)
        out.append(new)
    return out


class _Call:
    __slots__ = ("id", "server_id", "name", "parts", "ended", "pos", "extra")

    def __init__(self, cid: str, server_id: str | None, name: str, pos: int) -> None:
        self.id = cid
        self.server_id = server_id
        self.name = name
        self.parts: list[str] = []
        self.ended = False
        self.pos = pos
        self.extra: dict[str, Any] | None = None

    def complete_json(self) -> bool:
        """The arguments so far are a whole JSON object (a new ``{`` then starts another call)."""
        try:
            return isinstance(json.loads("".join(self.parts)), dict)
        except (ValueError, RecursionError):
            return False

    def tool_call(self) -> ToolCall:
        return ToolCall.from_raw(self.id, self.name, "".join(self.parts)).with_extra(self.extra)


class _ChoiceState:
    __slots__ = ("text", "refusal", "reasoning", "calls", "by_index", "by_id", "finish", "open_call", "annotations")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.reasoning: list[str] = []
        self.calls: list[_Call] = []
        self.by_index: dict[int, _Call] = {}  # wire index -> the latest call opened with it
        self.by_id: dict[str, _Call] = {}  # server id -> call
        self.finish: str | None = None
        self.open_call: _Call | None = None
        self.annotations: list[Any] = []


class ChatAccumulator(AccumulatorBase):
    """Feeds on SSE events of a chat stream; returns StreamEvents; ``result()`` assembles.

    Tolerant of what OpenAI-compatible servers send: tool-call fragments without ``index`` or
    with ``index: 0`` repeated for parallel calls (a fragment with a new ``id``, a different
    ``name``, or a new JSON object after a complete one opens a new call; other fragments continue
    the open one), ids/names re-sent on every fragment, missing or duplicate ids (made unique),
    ``reasoning_content``/``reasoning`` deltas, ``[DONE]`` with trailing whitespace or missing
    after every choice finished (``complete_without_done``). Anything else malformed raises
    StreamError carrying the partial result.
    """

    def __init__(self, profile: ModelProfile, request_id: str | None = None) -> None:
        super().__init__(profile, request_id)
        self.usage: Usage | None = None
        self._choices: dict[int, _ChoiceState] = {}
        self._meta_sent = False
        self._seed: str | None = None

    @property
    def complete_without_done(self) -> bool:
        """Every choice has a finish_reason: a body that ends cleanly here is a finished stream
        (servers that omit ``data: [DONE]``, as the official SDK accepts)."""
        return bool(self._choices) and all(st.finish is not None for st in self._choices.values())

    def feed(self, sse: ServerSentEvent) -> list[StreamEvent]:
        data = sse.data
        if data[:1] != "{" and data.strip() == "[DONE]":
            self.finished = True
            if not self._choices:
                raise StreamError("the stream ended ([DONE]) without any answer (no choices arrived)",
                                  partial=self.result(), request_id=self.request_id)
            return self._end_all_calls()
        chunk = decode_event(self, data)
        if chunk.get("error") or chunk.get("object") == "error":
            # OpenAI/OpenRouter/SGLang: {"error": {...}} (OpenRouter adds choices with finish_reason
            # "error"); vLLM: {"object": "error", "message": ...}
            err = chunk.get("error") or chunk
            err = err if isinstance(err, dict) else {"message": str(err)}
            raise StreamError(f"error event in stream: {err.get('message') or err}", partial=self.result(),
                              request_id=self.request_id, body=chunk)
        return feed_guarded(self, data, self._chunk, chunk)

    def _chunk(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        # the hot path of every stream: exact type checks first, the slow validators only on a miss
        out: list[StreamEvent] = []
        if not self._meta_sent:
            self._meta_sent = True
            self.model, self.id = want_str(chunk.get("model"), "model"), want_str(chunk.get("id"), "id")
            self._seed = _id_seed(chunk)
            out.append(StreamEvent(E.META, {"model": self.model, "id": self.id, "request_id": self.request_id}))
        choices = chunk.get("choices")
        if choices and type(choices) is not list:
            want(choices, list, "choices")
        for i, c in enumerate(choices or ()):
            if type(c) is not dict:
                want(c, Mapping, f"choices[{i}]")
            idx = c.get("index")
            if type(idx) is not int:
                idx = _index(idx, f"choices[{i}].index", default=0)
            st = self._choices.get(idx)
            if st is None:
                st = self._choices[idx] = _ChoiceState()
            delta = c.get("delta")
            if type(delta) is not dict:
                delta = want(delta, Mapping, f"choices[{i}].delta", optional=True) or {}
            text = delta.get("content")
            if text is not None and type(text) is not str:
                text = _content(text, "delta.content")
            if text:
                st.text.append(text)
                out.append(StreamEvent(E.TOKEN, text, idx))
            if not text or len(delta) > (2 if "role" in delta else 1):  # content (+ role): the common chunk
                self._delta_extras(st, idx, delta, out)
            finish = c.get("finish_reason")
            if finish is not None:
                if want_str(finish, f"choices[{i}].finish_reason"):
                    st.finish = finish
                    out.extend(self._end_calls(st, idx))
        if chunk.get("usage"):
            self.usage = Usage.from_api(chunk["usage"])
            out.append(StreamEvent(E.USAGE, self.usage))
        return out

    def _delta_extras(self, st: _ChoiceState, idx: int, delta: Mapping[str, Any], out: list[StreamEvent]) -> None:
        r = delta.get("reasoning_content") or delta.get("reasoning")
        if r:
            r = want_str(delta.get("reasoning_content"), "delta.reasoning_content") or _reasoning_text(
                delta.get("reasoning"), "delta.reasoning")
            if r:
                st.reasoning.append(r)
                out.append(StreamEvent(E.REASONING, r, idx))
        refusal = delta.get("refusal")
        if refusal and want_str(refusal, "delta.refusal"):
            st.refusal.append(refusal)
        if delta.get("annotations"):
            st.annotations.extend(want(delta["annotations"], list, "delta.annotations"))
        calls = delta.get("tool_calls")
        if calls:
            if type(calls) is not list:
                want(calls, list, "delta.tool_calls")
            for tc in calls:
                out.extend(self._tool_delta(st, idx, tc if type(tc) is dict else want(tc, Mapping, "delta.tool_calls[]")))

    def _tool_delta(self, st: _ChoiceState, choice: int, tc: Mapping[str, Any]) -> list[StreamEvent]:
        fn = tc.get("function")
        if type(fn) is not dict:
            fn = want(fn, Mapping, "tool_calls[].function", optional=True) or {}
        name = fn.get("name")
        if name is not None and type(name) is not str:
            want_str(name, "tool_calls[].function.name")
        args = fn.get("arguments")
        if type(args) is not str:
            args = _arguments(args, "tool_calls[].function.arguments")
        cid = tc.get("id")
        if cid is not None and type(cid) is not str:
            cid = str(cid) if isinstance(cid, int) and not isinstance(cid, bool) else want_str(cid, "tool_calls[].id")
        k = tc.get("index")
        if k is not None and type(k) is not int:
            k = _index(k, "tool_calls[].index", default=0)
        extra = tc.get("extra_content")
        if extra is not None:
            want(extra, Mapping, "tool_calls[].extra_content")
        if cid:
            call = st.by_id.get(cid)
            if call is None:
                cand = st.by_index.get(k) if k is not None else st.open_call
                if cand is not None and cand.server_id is None and not cand.parts and (
                        not name or not cand.name or name == cand.name):
                    call = cand  # the id arrives after the fragment that opened the call
                    call.server_id = cid
                    call.id = self._unique(st, cid, call.pos)
                    st.by_id[cid] = call
        else:
            call = st.by_index.get(k) if k is not None else st.open_call
        split = None
        if call is not None and cid and call.server_id == cid and call.parts and args == "".join(call.parts):
            return []  # the same id re-sending its whole arguments at the end: not a second call
        if call is not None and (
                (name and call.name and name != call.name)
                or (args.lstrip().startswith("{") and call.parts and call.complete_json())):
            split, call = call, None  # a different function, or a second JSON object: a parallel call
        out: list[StreamEvent] = []
        if call is None:
            prev = st.open_call
            # a new call ends the open one, unless both carry their own index and the open one's
            # arguments are not a whole object yet (a server interleaving 0, 1, 0): that one ends
            # when it is complete and another opens, or at finish_reason / [DONE]
            if prev is not None and (k is None or prev.complete_json() or st.by_index.get(k) is prev):
                out.extend(self._end_call(st, choice, prev))
            pos = len(st.calls)
            call = _Call(self._unique(st, cid, pos) if cid else synthetic_call_id(self._seed or "", choice, pos),
                         cid, name or (split.name if split is not None else ""), pos)
            st.calls.append(call)
            if cid and cid not in st.by_id:
                st.by_id[cid] = call
            st.by_index[k if k is not None else pos] = call
            st.open_call = call
            out.append(StreamEvent(E.TOOL_CALL_START, {"index": pos, "id": call.id, "name": call.name}, choice))
        elif name and not call.name:
            call.name = name
        if extra:
            call.extra = {**(call.extra or {}), **extra}
        if args:
            call.parts.append(args)
            out.append(StreamEvent(E.TOOL_CALL_DELTA, {"index": call.pos, "arguments": args}, choice))
        return out

    @staticmethod
    def _unique(st: _ChoiceState, cid: str, pos: int) -> str:
        taken = {c.id for c in st.calls}
        new, k = cid, 0
        while new in taken:
            k += 1
            new = f"{cid}_{pos}" if k == 1 else f"{cid}_{pos}_{k}"
        return new

    def _end_call(self, st: _ChoiceState, choice: int, call: _Call) -> list[StreamEvent]:
        if call.ended:
            return []
        call.ended = True
        if st.open_call is call:
            st.open_call = None
        return [StreamEvent(E.TOOL_CALL_END, call.tool_call(), choice)]

    def _end_calls(self, st: _ChoiceState, choice: int) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for call in st.calls:
            out.extend(self._end_call(st, choice, call))
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
            calls = tuple(c.tool_call() for c in st.calls)
            content = "".join(st.text) if st.text else (None if calls or st.refusal else "")
            choices.append(Choice(idx, content, calls, st.finish, "".join(st.refusal) or None))
            if reasoning is None and st.reasoning:
                reasoning = "".join(st.reasoning)
        first = self._choices.get(min(self._choices)) if self._choices else None
        return build_result(choices, self.usage or Usage(), self.profile, model=self.model,
                            request_id=self.request_id, raw=None, response_id=self.id, reasoning=reasoning,
                            annotations=first.annotations if first is not None else ())


class ChatProtocol:
    """``/chat/completions``: the default protocol, spoken by OpenAI-compatible servers."""

    name = "chat"
    label = "chat completion"
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
