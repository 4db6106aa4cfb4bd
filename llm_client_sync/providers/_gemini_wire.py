"""Gemini ``generateContent`` wire protocol (pure): chat-style messages -> request bodies, parsing, streams.

Function calls carry no ids on the wire (newer models may add one): stable ids are made from the
response id and the call's position. A model turn whose parts hold thoughts or thought signatures
keeps all of its parts in ``output_items`` as ``{"type": "gemini_content", "parts": [...]}``;
``build`` sends them back unchanged, so ``thoughtSignature`` round-trips byte for byte.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from .._sse import ServerSentEvent
from ..errors import ConfigurationError, StreamError
from ..models import ModelProfile
from ..types import Choice, CompletionResult, StreamEvent, StreamEventType, ToolCall, Usage
from ._body import AccumulatorBase, decode_event, feed_guarded, guarded, want
from ._chat import build_result, synthetic_call_id
from ._native import (
    REJECTED_COMMON,
    data_url,
    function_tools,
    guess_mime,
    image_url_of,
    native_items,
    plain,
    reject,
    stop_list,
    text_of,
    thinking_budget,
    tool_arguments,
)

__all__ = ["GeminiAccumulator", "GeminiProtocol", "gemini_usage", "parse_gemini_response"]

E = StreamEventType
ITEM = "gemini_content"
_FILTERED = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
             "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION", "LANGUAGE")
FINISH: dict[Any, str] = {"STOP": "stop", "MAX_TOKENS": "length", **{k: "content_filter" for k in _FILTERED},
                          # $alt=json;enum-encoding=int sends the enum's number
                          1: "stop", 2: "length", 3: "content_filter", 4: "content_filter"}
_GEN_CONFIG = {"temperature": "temperature", "top_p": "topP", "top_k": "topK", "n": "candidateCount",
               "seed": "seed", "presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty",
               "logprobs": "responseLogprobs", "top_logprobs": "logprobs"}
_DROPPED = ("stream", "stream_options", "store", "parallel_tool_calls", "user", "metadata")
_PLAIN_PARTS = frozenset({"text", "functionCall"})
# reasoning_effort -> Gemini 3 thinkingLevel (it has no "off"; "minimal" exists on Flash only)
_LEVELS = {"none": "low", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high", "xhigh": "high",
           "max": "high"}
# in-band error statuses worth a fresh attempt when nothing reached the caller yet
TRANSIENT = frozenset({"UNAVAILABLE", "INTERNAL", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"})


def gemini_usage(u: Mapping[str, Any] | None) -> Usage:
    """usageMetadata -> Usage: thoughts count as completion (and reasoning) tokens, cached is part of the prompt."""
    if not u:
        return Usage()
    prompt = int(u.get("promptTokenCount") or 0) + int(u.get("toolUsePromptTokenCount") or 0)
    thoughts = int(u.get("thoughtsTokenCount") or 0)
    completion = int(u.get("candidatesTokenCount") or 0) + thoughts
    total = int(u.get("totalTokenCount") or 0) or prompt + completion
    return Usage(prompt, completion, total, thoughts, int(u.get("cachedContentTokenCount") or 0), 0)


def _finish(reason: Any, has_calls: bool) -> str | None:
    if reason is None or reason in ("FINISH_REASON_UNSPECIFIED", 0):
        return None
    mapped = FINISH.get(reason, str(reason).lower())
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def _assemble(parts: list[dict[str, Any]], response_id: str | None, reason: Any, choice: int = 0) -> tuple[
        str | None, tuple[ToolCall, ...], str | None, str | None, tuple[Any, ...]]:
    """Parts -> (text, tool calls, thought text, finish reason, output_items); calls without an id get
    ``synthetic_call_id`` (stable for one response: the same whole or streamed)."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls = []
    for p in parts:
        if "functionCall" in p:
            fc = p.get("functionCall") or {}
            name = fc.get("name") or ""
            calls.append(ToolCall.from_raw(fc.get("id") or synthetic_call_id(response_id or "", choice, len(calls)), name,
                                           json.dumps(fc.get("args") or {})))
        elif p.get("thought"):
            thoughts.append(p.get("text") or "")
        elif "text" in p:
            texts.append(p.get("text") or "")
    text = "".join(texts)
    content = text if text else (None if calls else "")
    keep = any(p.get("thoughtSignature") or p.get("thought") or not (_PLAIN_PARTS & set(p)) for p in parts)
    items = ({"type": ITEM, "parts": parts},) if keep else ()
    return content, tuple(calls), ("".join(thoughts) if thoughts else None), _finish(reason, bool(calls)), items


def _parts_of(candidate: Any) -> list[Mapping[str, Any]]:
    content = want(want(candidate, Mapping, "a candidate").get("content") or {}, Mapping, "content")
    return [want(p, Mapping, "a part") for p in want(content.get("parts") or [], list, "parts")]


def _index_of(cand: Mapping[str, Any], position: int) -> int:
    """A candidate's ``index``; its position in the list when absent (0 is an index, not a missing one)."""
    index = cand.get("index")
    return position if index is None else int(index)


def _choices(candidates: list[Mapping[str, Any]], response_id: str | None, blocked: bool) -> tuple[
        list[Choice], str | None, tuple[Any, ...]]:
    choices = []
    reasoning = None
    items: tuple[Any, ...] = ()
    lowest: int | None = None
    for i, cand in enumerate(candidates):
        parts = [plain(p) for p in _parts_of(cand)]
        index = _index_of(cand, i)
        content, calls, thoughts, finish, kept = _assemble(parts, response_id, cand.get("finishReason"), index)
        choices.append(Choice(index, content, calls, finish))
        if lowest is None or index < lowest:  # reasoning and items are the first choice's, as content is
            lowest, reasoning, items = index, thoughts, kept
    if not candidates and blocked:
        choices.append(Choice(0, "", (), "content_filter"))
    choices.sort(key=lambda c: c.index)
    return choices, reasoning, items


def parse_gemini_response(data: Mapping[str, Any], profile: ModelProfile, request_id: str | None = None) -> CompletionResult:
    """A ``GenerateContentResponse`` JSON object -> CompletionResult (APIResponseValidationError when it
    is not one)."""
    return guarded(GeminiProtocol.label, data, request_id, _parse_response, data, profile, request_id)


def _parse_response(data: Any, profile: ModelProfile, request_id: str | None) -> CompletionResult:
    want(data, Mapping, "the body")
    if data.get("error"):
        raise ValueError(f"the server answered with an error object: {(data.get('error') or {}).get('message')}")
    if "candidates" not in data and "promptFeedback" not in data:
        raise ValueError("the body has neither candidates nor promptFeedback")
    want(data.get("candidates"), list, "candidates", optional=True)
    rid = data.get("responseId")
    blocked = bool((data.get("promptFeedback") or {}).get("blockReason"))
    choices, reasoning, items = _choices(list(data.get("candidates") or ()), rid, blocked)
    return build_result(choices, gemini_usage(data.get("usageMetadata")), profile, model=data.get("modelVersion"),
                        request_id=request_id, raw=data, response_id=rid, reasoning=reasoning, output_items=items)


class _Candidate:
    __slots__ = ("parts", "finish", "ncalls")

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []
        self.finish: Any = None
        self.ncalls = 0


class GeminiAccumulator(AccumulatorBase):
    """Feeds on ``alt=sse`` events (each a whole GenerateContentResponse); ``result()`` assembles."""

    def __init__(self, profile: ModelProfile, request_id: str | None = None) -> None:
        super().__init__(profile, request_id)
        self._usage: Mapping[str, Any] | None = None
        self._cands: dict[int, _Candidate] = {}
        self._blocked = False

    def feed(self, sse: ServerSentEvent) -> list[StreamEvent]:
        return feed_guarded(self, sse.data, self._chunk, decode_event(self, sse.data))

    def _chunk(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        if isinstance(chunk.get("error"), dict):
            err = chunk["error"]
            exc = StreamError(f"error event in stream: {err.get('status', 'error')}: {err.get('message')}",
                              partial=self.result(), request_id=self.request_id, body=chunk)
            exc.retryable = err.get("status") in TRANSIENT  # type: ignore[attr-defined]
            raise exc
        out: list[StreamEvent] = []
        if self.id is None:
            self.model, self.id = chunk.get("modelVersion"), chunk.get("responseId") or ""
            out.append(StreamEvent(E.META, {"model": self.model, "id": self.id, "request_id": self.request_id}))
        if chunk.get("usageMetadata"):
            self._usage = chunk["usageMetadata"]  # cumulative in every event: replace, never add
        for i, cand in enumerate(chunk.get("candidates") or ()):
            idx = _index_of(cand, i)
            st = self._cands.setdefault(idx, _Candidate())
            for p in _parts_of(cand):
                out.extend(self._part(st, idx, plain(p)))
            if cand.get("finishReason") not in (None, "FINISH_REASON_UNSPECIFIED", 0):
                st.finish = cand["finishReason"]
        if (chunk.get("promptFeedback") or {}).get("blockReason"):
            self._blocked = True
        if self._blocked or (self._cands and all(c.finish is not None for c in self._cands.values())):
            self.finished = True
            out.append(StreamEvent(E.USAGE, gemini_usage(self._usage)))
        return out

    def _part(self, st: _Candidate, idx: int, part: dict[str, Any]) -> list[StreamEvent]:
        if "functionCall" in part:
            fc = part.get("functionCall") or {}
            name = fc.get("name") or ""
            k = st.ncalls
            st.ncalls += 1
            st.parts.append(part)
            call = ToolCall.from_raw(fc.get("id") or synthetic_call_id(self.id or "", idx, k), name, json.dumps(fc.get("args") or {}))
            return [StreamEvent(E.TOOL_CALL_START, {"index": k, "id": call.id, "name": name}, idx),
                    StreamEvent(E.TOOL_CALL_DELTA, {"index": k, "arguments": call.raw_arguments}, idx),
                    StreamEvent(E.TOOL_CALL_END, call, idx)]
        if "text" not in part:
            st.parts.append(part)  # executableCode, inlineData, ...: kept for the next turn
            return []
        text = part.get("text") or ""
        last = st.parts[-1] if st.parts else None
        # text arrives split across events: join pieces of one kind until a signature closes the part
        if (last is not None and "text" in last and bool(last.get("thought")) == bool(part.get("thought"))
                and not last.get("thoughtSignature") and set(part) <= {"text", "thought", "thoughtSignature"}):
            last["text"] = (last.get("text") or "") + text
            if part.get("thoughtSignature"):
                last["thoughtSignature"] = part["thoughtSignature"]
        else:
            st.parts.append(part)
        if not text:
            return []
        return [StreamEvent(E.REASONING if part.get("thought") else E.TOKEN, text, idx)]

    def result(self) -> CompletionResult:
        """What has been assembled so far (the full result once ``finished``)."""
        cands = [{"index": i, "content": {"parts": c.parts}, "finishReason": c.finish}
                 for i, c in sorted(self._cands.items())]
        choices, reasoning, items = _choices(cands, self.id, self._blocked)
        return build_result(choices, gemini_usage(self._usage), self.profile, model=self.model,
                            request_id=self.request_id, raw=None, response_id=self.id or None,
                            reasoning=reasoning, output_items=items)


# -- requests ---------------------------------------------------------------------------------
def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    out = []
    for p in content:
        p = plain(p)
        kind = p.get("type")
        if kind == "text":
            out.append({"text": p.get("text", "")})
        elif kind == "image_url":
            url = image_url_of(p)
            inline = data_url(url)
            if inline is not None:
                out.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
            else:
                out.append({"fileData": {"mimeType": guess_mime(url), "fileUri": url}})
        elif kind in ("input_audio", "file"):
            raise ConfigurationError(f"the Gemini provider cannot send a {kind!r} content part; "
                                     "send text, images, or native Gemini parts (inlineData, fileData)")
        else:
            out.append({k: v for k, v in p.items() if k != "type"} if kind is None else p)  # native part
    return out


def _response_object(content: Any) -> dict[str, Any]:
    text = text_of(content)
    try:
        value = json.loads(text)
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def _append(out: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if out and out[-1]["role"] == role:
        out[-1]["parts"].extend(parts)
    else:
        out.append({"role": role, "parts": parts})


def convert_messages(messages: list[Mapping[str, Any]]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Chat-style messages -> (``systemInstruction`` or None, ``contents``)."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    calls: dict[str, tuple[str, str | None]] = {}  # tool_call_id -> (name, id the API gave)
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            system.extend(_parts(m.get("content")))
        elif role == "assistant":
            stored = native_items(m, ITEM)
            named = [p["functionCall"] for p in (stored or {}).get("parts") or () if "functionCall" in p]
            for k, tc in enumerate(m.get("tool_calls") or ()):
                api_id = named[k].get("id") if k < len(named) else None
                calls[tc.get("id")] = ((tc.get("function") or {}).get("name", ""), api_id)
            if stored is not None:
                parts = stored.get("parts") or []
            else:
                parts = _parts(m.get("content")) if text_of(m.get("content")) else []
                for tc in m.get("tool_calls") or ():
                    fn = tc.get("function") or {}
                    parts.append({"functionCall": {"name": fn.get("name", ""),
                                                   "args": tool_arguments(fn.get("arguments"))}})
            if parts:
                _append(out, "model", parts)
        elif role == "tool":
            name, api_id = calls.get(m.get("tool_call_id"), (m.get("name") or "", None))
            if not name:
                raise ConfigurationError(f"tool message {m.get('tool_call_id')!r} answers no earlier tool call; "
                                         "Gemini needs the function name (add 'name' to the tool message)")
            resp: dict[str, Any] = {"name": name, "response": _response_object(m.get("content"))}
            if api_id:
                resp["id"] = api_id
            _append(out, "user", [{"functionResponse": resp}])
        else:
            _append(out, "user", _parts(m.get("content")) if role == "user" else [{"text": text_of(m.get("content"))}])
    return ({"parts": system} if system else None), out


def convert_tools(tools: Any) -> list[dict[str, Any]]:
    decls = []
    native = []
    for fn, t in function_tools(tools):
        if fn is None:
            native.append(t)  # {functionDeclarations: [...]}, {googleSearch: {}}, {codeExecution: {}}, ...
            continue
        decl = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        if fn.get("parameters"):
            decl["parametersJsonSchema"] = fn["parameters"]
        decls.append(decl)
    return ([{"functionDeclarations": decls}] if decls else []) + native


def convert_tool_choice(choice: Any) -> dict[str, Any] | None:
    choice = plain(choice)
    if choice is None:
        return None
    modes = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
    if isinstance(choice, str) and choice in modes:
        return {"functionCallingConfig": {"mode": modes[choice]}}
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    if isinstance(choice, Mapping) and "functionCallingConfig" in choice:
        return dict(choice)
    raise ConfigurationError(f"tool_choice {choice!r} is not valid: use 'auto', 'required', 'none' or "
                             "{'type': 'function', 'function': {'name': ...}}")


def _thinking(profile: ModelProfile, params: dict[str, Any]) -> dict[str, Any] | None:
    config = plain(params.pop("thinking_config", None))
    effort = params.get("reasoning_effort")
    include = params.pop("include_thoughts", None)
    if config is None and effort is not None and not profile.api_id.startswith("gemini-2"):
        # Gemini 3 takes a level, not a budget
        params.pop("reasoning_effort")
        if effort not in _LEVELS:
            raise ConfigurationError(f"reasoning_effort={effort!r} is not valid; use one of {sorted(_LEVELS)}")
        config = {"thinkingLevel": _LEVELS[effort]}
    else:
        budget = thinking_budget(params)
        if config is None and budget is not None:
            config = {"thinkingBudget": budget}
    if config is None:
        return None
    if include is not None:
        config["includeThoughts"] = bool(include)
    elif config.get("thinkingBudget") != 0:
        config.setdefault("includeThoughts", True)
    return config


class GeminiProtocol:
    """``models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse`` (Gemini API)."""

    name = "gemini"
    label = "Gemini GenerateContentResponse"
    endpoint = "/models/{model}:generateContent"

    def path(self, model: str, stream: bool = False) -> str:
        model = model[len("models/"):] if model.startswith("models/") else model
        return f"/models/{model}:streamGenerateContent?alt=sse" if stream else f"/models/{model}:generateContent"

    def build(self, profile: ModelProfile, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
        params = dict(params)
        reject(params, REJECTED_COMMON, "the Gemini API")
        system, contents = convert_messages(messages)
        if not contents:
            raise ConfigurationError("the Gemini API needs at least one user or model message")
        body: dict[str, Any] = {"contents": contents}
        if system is not None:
            body["systemInstruction"] = system
        gen: dict[str, Any] = dict(plain(params.pop("generation_config", None) or params.pop("generationConfig", None)
                                         or {}))
        max_tokens = None
        for name in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
            value = params.pop(name, None)
            max_tokens = max_tokens if max_tokens is not None else value
        if max_tokens is not None:
            gen["maxOutputTokens"] = max_tokens
        for name, wire in _GEN_CONFIG.items():
            value = params.pop(name, None)
            if value is not None and not (name == "n" and value == 1):
                gen[wire] = value
        stops = stop_list(params.pop("stop", None))
        if stops:
            gen["stopSequences"] = stops
        thinking = _thinking(profile, params)
        if thinking is not None:
            gen["thinkingConfig"] = thinking
        fmt = params.pop("response_format", None)
        if fmt and fmt.get("type") in ("json_schema", "json_object"):
            gen["responseMimeType"] = "application/json"
            schema = (fmt.get("json_schema") or {}).get("schema")
            if schema:
                gen["responseJsonSchema"] = schema
        if gen:
            body["generationConfig"] = gen
        tools = params.pop("tools", None)
        if tools:
            body["tools"] = convert_tools(tools)
        choice = convert_tool_choice(params.pop("tool_choice", None))
        if choice is not None and tools:
            body["toolConfig"] = choice
        for name in _DROPPED:
            params.pop(name, None)
        for k, v in params.items():
            if v is not None:
                body[k] = v  # native fields as given: safetySettings, cachedContent, labels, ...
        return body

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return body  # streaming is chosen by the path

    def count_body(self, body: Mapping[str, Any], model: str) -> dict[str, Any]:
        """The ``countTokens`` request for a generateContent body."""
        return {"generateContentRequest": {"model": model if model.startswith("models/") else f"models/{model}",
                                           **body}}

    def parse(self, data: Mapping[str, Any], profile: ModelProfile, request_id: str | None) -> CompletionResult:
        return parse_gemini_response(data, profile, request_id)

    def accumulator(self, profile: ModelProfile, request_id: str | None) -> GeminiAccumulator:
        return GeminiAccumulator(profile, request_id)
