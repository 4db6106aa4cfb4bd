"""``POST /v1/responses`` for the local server: the Responses API, scripted or with defaults.

Input items are read back into a chat-style view so the defaults (echo, call a named tool,
summarise tool results, fill a JSON schema) are the same as for chat. Like the real API it
answers 400 when a function_call_output has no matching function_call, or when a function
call this server issued next to a reasoning item comes back without that reasoning item.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from typing import Any, Iterator, Mapping

from ._openai import content_text, default_reply, special_reply
from ._replies import Reply, StreamShape, TextReply, ToolCallReply
from ._server import JSONResponse, Request, SSEResponse, error_response, register_default_route

__all__: list[str] = []

_WORDS = re.compile(r"\S+\s*|\s+")


def chat_view(body: Mapping[str, Any]) -> dict[str, Any]:
    """The request as chat messages/tools/response_format, for ``default_reply``."""
    raw = body.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else list(raw or [])
    messages: list[dict[str, Any]] = []
    for it in items:
        kind = it.get("type", "message")
        if kind == "message":
            messages.append({"role": it.get("role"), "content": content_text(it.get("content"))})
        elif kind == "function_call":
            call = {"id": it.get("call_id"), "type": "function",
                    "function": {"name": it.get("name"), "arguments": it.get("arguments")}}
            if messages and messages[-1]["role"] == "assistant" and "tool_calls" in messages[-1]:
                messages[-1]["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            messages.append({"role": "tool", "tool_call_id": it.get("call_id"), "content": it.get("output")})
    view: dict[str, Any] = {"messages": messages, "tools": body.get("tools") or []}
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_schema":
        view["response_format"] = {"type": "json_schema", "json_schema": {"schema": fmt.get("schema") or {}}}
    elif fmt.get("type") == "json_object":
        view["response_format"] = {"type": "json_object"}
    return view


def _check_items(server: Any, body: Mapping[str, Any]) -> Any:
    items = body.get("input")
    if not isinstance(items, list):
        return None
    sent = {it.get("id") for it in items if it.get("id")}
    calls = {it.get("call_id") for it in items if it.get("type") == "function_call"}
    with server.lock:
        needs = dict(server.state.get("responses_reasoning", {}))
    for it in items:
        if it.get("type") == "function_call_output" and it.get("call_id") not in calls \
                and not body.get("previous_response_id"):
            return error_response(400, f"No tool call found for function call output with call_id {it.get('call_id')}.",
                                  param="input")
        if it.get("type") == "function_call" and needs.get(it.get("id")) and needs[it.get("id")] not in sent:
            return error_response(400, f"Item '{it.get('id')}' of type 'function_call' was provided without its "
                                       f"required 'reasoning' item: '{needs[it.get('id')]}'.", param="input")
    return None


def _output(server: Any, reply: Reply, rid: str) -> tuple[list[dict[str, Any]], str, Any]:
    """Output items, status, incomplete_details for a reply."""
    out: list[dict[str, Any]] = []
    n = server.next_id()
    if isinstance(reply, TextReply):
        if reply.reasoning:
            out.append({"id": f"rs_mock{n}", "type": "reasoning",
                        "summary": [{"type": "summary_text", "text": reply.reasoning}]})
        part = ({"type": "refusal", "refusal": reply.refusal} if reply.refusal is not None
                else {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []})
        incomplete = reply.finish_reason == "length"
        out.append({"id": f"msg_mock{n}", "type": "message", "status": "incomplete" if incomplete else "completed",
                    "role": "assistant", "content": [part]})
        if incomplete:
            return out, "incomplete", {"reason": "max_output_tokens"}
        return out, "completed", None
    assert isinstance(reply, ToolCallReply)
    rs = f"rs_mock{n}"
    out.append({"id": rs, "type": "reasoning", "encrypted_content": f"mock-encrypted-{n}", "summary": []})
    if reply.content:
        out.append({"id": f"msg_mock{n}", "type": "message", "status": "completed", "role": "assistant",
                    "content": [{"type": "output_text", "text": reply.content, "annotations": [], "logprobs": []}]})
    issued = {}
    for k, (name, args) in enumerate(reply.calls):
        fc = f"fc_mock{n}_{k}"
        issued[fc] = rs
        out.append({"id": fc, "type": "function_call", "status": "completed", "call_id": f"call_mock{n}_{k}",
                    "name": name, "arguments": args if isinstance(args, str) else json.dumps(args)})
    with server.lock:
        server.state.setdefault("responses_reasoning", {}).update(issued)
    return out, "completed", None


def _usage(body: Mapping[str, Any], output: list[dict[str, Any]], reply: Reply) -> dict[str, Any]:
    if reply.usage:
        return dict(reply.usage)
    prompt = max(1, len(json.dumps(body.get("input") or "")) // 4)
    completion = max(1, len(json.dumps(output)) // 16)
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": completion, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + completion}


def _event(kind: str, **data: Any) -> bytes:
    return (f"event: {kind}\ndata: ".encode() + json.dumps({"type": kind, **data}, separators=(",", ":")).encode()
            + b"\n\n")


def _item_events(i: int, item: dict[str, Any], shape: StreamShape, seq: Iterator[int]) -> Iterator[bytes]:
    """The events the real API sends for one output item, from ``output_item.added`` to ``.done``."""
    kind, iid = item["type"], item["id"]
    if kind == "message":
        empty = {**item, "status": "in_progress", "content": []}
    elif kind == "function_call":
        empty = {**item, "status": "in_progress", "arguments": ""}
    else:
        empty = {**item, "summary": []}
    yield _event("response.output_item.added", output_index=i, item=empty, sequence_number=next(seq))
    if kind == "message":
        for c, part in enumerate(item["content"]):
            where = {"item_id": iid, "output_index": i, "content_index": c}
            if part["type"] == "output_text":
                yield _event("response.content_part.added", **where, part={**part, "text": ""},
                             sequence_number=next(seq))
                words = _WORDS.findall(part["text"])
                step = max(1, shape.words_per_chunk)
                for j in range(0, len(words), step):
                    yield _event("response.output_text.delta", **where, delta="".join(words[j:j + step]),
                                 logprobs=[], sequence_number=next(seq))
                yield _event("response.output_text.done", **where, text=part["text"], logprobs=[],
                             sequence_number=next(seq))
            else:
                yield _event("response.content_part.added", **where, part={**part, "refusal": ""},
                             sequence_number=next(seq))
                yield _event("response.refusal.delta", **where, delta=part["refusal"], sequence_number=next(seq))
                yield _event("response.refusal.done", **where, refusal=part["refusal"], sequence_number=next(seq))
            yield _event("response.content_part.done", **where, part=part, sequence_number=next(seq))
    elif kind == "reasoning":
        for s_i, summary in enumerate(item.get("summary") or ()):
            where = {"item_id": iid, "output_index": i, "summary_index": s_i}
            yield _event("response.reasoning_summary_part.added", **where, part={**summary, "text": ""},
                         sequence_number=next(seq))
            for w in _WORDS.findall(summary["text"]):
                yield _event("response.reasoning_summary_text.delta", **where, delta=w, sequence_number=next(seq))
            yield _event("response.reasoning_summary_text.done", **where, text=summary["text"],
                         sequence_number=next(seq))
            yield _event("response.reasoning_summary_part.done", **where, part=summary, sequence_number=next(seq))
    elif kind == "function_call":
        text = item["arguments"]
        step = max(1, shape.args_chunk)
        for j in range(0, len(text), step):
            yield _event("response.function_call_arguments.delta", item_id=iid, output_index=i,
                         delta=text[j:j + step], sequence_number=next(seq))
        yield _event("response.function_call_arguments.done", item_id=iid, output_index=i, arguments=text,
                     sequence_number=next(seq))
    yield _event("response.output_item.done", output_index=i, item=item, sequence_number=next(seq))


def _stream(resp: dict[str, Any], shape: StreamShape) -> Iterator[bytes]:
    """The full event sequence of the real API, numbered by ``sequence_number`` from 0.

    ``shape.error_after`` counts every event sent (``response.created`` and ``.in_progress``
    included) before an in-band ``error`` event ends the stream.
    """
    seq = itertools.count()
    start = {**resp, "status": "in_progress", "output": [], "usage": None, "completed_at": None}
    events = itertools.chain(
        (_event("response.created", response=start, sequence_number=next(seq)),
         _event("response.in_progress", response=start, sequence_number=next(seq))),
        itertools.chain.from_iterable(_item_events(i, item, shape, seq) for i, item in enumerate(resp["output"])))
    for count in itertools.count():
        if shape.error_after is not None and count >= shape.error_after:
            yield _event("error", code="server_error", message="mock in-band error", param=None,
                         sequence_number=next(seq))
            return
        event = next(events, None)
        if event is None:
            break
        yield event
    final = "response.incomplete" if resp["status"] == "incomplete" else "response.completed"
    yield _event(final, response=resp, sequence_number=next(seq))


def handle_responses(req: Request) -> Any:
    """The route handler (only on servers that script replies, i.e. MockOpenAIServer)."""
    server = req.server
    if not hasattr(server, "next_reply"):
        return error_response(404, "this server does not speak the Responses API", code="unknown_url")
    body = req.json
    if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("input"), (str, list)):
        return error_response(400, "'model' and 'input' are required", param="input")
    bad = _check_items(server, body)
    if bad is not None:
        return bad
    reply = server.next_reply()
    server.wait_latency(reply)
    special = special_reply(reply, body, server)
    if special is not None:
        return special
    if reply is None:
        reply = default_reply(chat_view(body))
    rid = f"resp_mock{server.next_id()}"
    output, status, details = _output(server, reply, rid)
    now = int(time.time())
    resp = {"id": rid, "object": "response", "created_at": now, "completed_at": now, "status": status, "error": None,
            "incomplete_details": details, "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"), "model": reply.model or body["model"],
            "output": output, "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None, **(body.get("reasoning") or {})},
            "store": body.get("store", True),
            "text": {"format": {"type": "text"}, "verbosity": "medium", **(body.get("text") or {})},
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "usage": _usage(body, output, reply), "metadata": body.get("metadata") or {},
            "background": False, "service_tier": "default", "temperature": body.get("temperature", 1.0),
            "top_p": body.get("top_p", 1.0), "truncation": body.get("truncation", "disabled"),
            "user": body.get("user"), "max_tool_calls": body.get("max_tool_calls"),
            "top_logprobs": body.get("top_logprobs", 0), "frequency_penalty": 0.0, "presence_penalty": 0.0,
            "prompt_cache_key": body.get("prompt_cache_key"), "safety_identifier": body.get("safety_identifier")}
    if body.get("store", True):
        with server.lock:
            server.state.setdefault("responses", {})[rid] = resp
    headers = server.base_headers(reply)
    if body.get("stream"):
        shape = reply
        return SSEResponse(events=_stream(resp, shape), headers=headers, framing=shape.framing,
                           chunk_delay=shape.chunk_delay, first_delay=shape.first_delay, drop_after=shape.drop_after,
                           stall_after=shape.stall_after, stall=shape.stall, split_writes=shape.split_writes)
    return JSONResponse(resp, headers=headers)


def _stored(req: Request, *, remove: bool = False) -> Any:
    """A stored response (``store`` was not false) for ``GET``/``DELETE /v1/responses/{id}``."""
    rid = req.params["response_id"]
    with req.server.lock:
        stored = req.server.state.setdefault("responses", {})
        found = stored.pop(rid, None) if remove else stored.get(rid)
    if found is None:
        return error_response(404, f"Response with id '{rid}' not found.")
    return JSONResponse({"id": rid, "object": "response", "deleted": True} if remove else found)


def get_response(req: Request) -> Any:
    return _stored(req)


def delete_response(req: Request) -> Any:
    return _stored(req, remove=True)


register_default_route("POST", "/v1/responses", handle_responses)
register_default_route("GET", "/v1/responses/{response_id}", get_response)
register_default_route("DELETE", "/v1/responses/{response_id}", delete_response)
