"""Before/after probe of issue 12/14 wire shapes: feeds malformed bodies, chunks and compat stream shapes
through the parsers of whichever llm_client_sync is on sys.path and prints one outcome per shape.

Run: PYTHONPATH=<checkout> python benchmarks/probe_wire_shapes.py  (a `git archive main` copy gives "before")."""
import json
from llm_client_sync import get_profile, LLMClientError
from llm_client_sync._sse import ServerSentEvent
from llm_client_sync.providers._chat import ChatAccumulator, parse_chat_response
from llm_client_sync.providers._responses import ResponsesAccumulator, parse_responses_response
P = get_profile("gpt-5-nano")
def outcome(fn):
    try:
        r = fn()
    except LLMClientError as e:
        return type(e).__name__
    except BaseException as e:
        return "RAW " + type(e).__name__
    return r
def chat(body): return lambda: "ok: " + repr((parse_chat_response(body, P).content or "")[:10])
def decode(raw):
    def f():
        try:
            from llm_client_sync.providers._body import decode_json
        except ImportError:
            decode_json = None
        if decode_json is not None:
            return "ok " + repr(parse_chat_response(decode_json(raw, "chat"), P).content)
        try:
            data = json.loads(raw)
        except ValueError as e:  # what complete() did before: LLMClientError for ValueError only
            raise LLMClientError("not JSON") from e
        return "ok " + repr(parse_chat_response(data, P).content)
    return f
rows = [
 ("chat 200 without choices", chat({"id": "x"})),
 ("chat choices: null", chat({"id": "x", "choices": None})),
 ("chat choices: 'abc'", chat({"id": "x", "choices": "abc"})),
 ("chat message is a string", chat({"id": "x", "choices": [{"message": "hi"}]})),
 ("tool call function: 7", chat({"id": "x", "choices": [{"message": {"tool_calls": [{"id": "a", "function": 7}]}}]})),
 ("usage prompt_tokens: 'many'", chat({"id": "x", "choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": "many"}})),
 ("usage prompt_tokens: {}", chat({"id": "x", "choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": {"a": 1}}})),
 ("body is a JSON list", chat([1, 2])),
 ("200 {error: {...}}", chat({"error": {"message": "quota"}})),
 ("non-UTF-8 body", decode(b'{"choices": "\xff"}')),
 ("100k-deep nesting", decode(b"[" * 100000 + b"]" * 100000)),
 ("responses output: null", lambda: "ok " + repr(parse_responses_response({"id": "r", "output": None}, P).content)),
 ("responses output: 'x'", lambda: "ok " + repr(parse_responses_response({"id": "r", "output": "x"}, P).content)),
]
def stream(chunks, cls=ChatAccumulator):
    def f():
        acc = cls(P)
        evs = []
        for c in chunks:
            evs.extend(acc.feed(ServerSentEvent(c if isinstance(c, str) else json.dumps(c))))
        r = acc.result()
        return f"ok calls={[(t.name, dict(t.arguments)) for t in r.tool_calls]} ids_unique={len({t.id for t in r.tool_calls}) == len(r.tool_calls)} fin={acc.finished}"
    return f
good = {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hello"}}]}
rows += [
 ("stream chunk choices: 'x'", stream([good, {"choices": "x"}])),
 ("stream tool call function: 7", stream([good, {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": 7}]}}]}])),
 ("stream 100k-deep chunk", stream([good, "[" * 100000])),
 ("responses stream {error} without type", stream([{"type": "response.output_text.delta", "delta": "Hello"}, {"error": {"message": "boom"}}], ResponsesAccumulator)),
 ("stream data: [DONE] + trailing spaces", stream([{"id": "c", "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}]}, "[DONE]   "])),
]
def tcs(*calls, finish=True):
    ch = [{"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [c]}}]} for c in calls]
    return ch + [{"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}, "[DONE]"]
rows += [
 ("ollama: no index, 2 calls with ids", stream(tcs({"id": "a", "function": {"name": "f", "arguments": '{"x":1}'}}, {"id": "b", "function": {"name": "g", "arguments": '{"y":2}'}}))),
 ("ollama: index 0 repeated, 2 ids", stream(tcs({"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x":1}'}}, {"index": 0, "id": "b", "function": {"name": "g", "arguments": '{"y":2}'}}))),
 ("index 0 repeated, no ids", stream(tcs({"index": 0, "function": {"name": "f", "arguments": '{"x":1}'}}, {"index": 0, "function": {"name": "g", "arguments": '{"y":2}'}}))),
 ("llama.cpp: id+name re-sent per fragment", stream(tcs({"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x":'}}, {"index": 0, "id": "a", "function": {"name": "f", "arguments": '1}'}}))),
 ("dashscope: id '' and name '' on later fragments", stream(tcs({"index": 0, "id": "a", "function": {"name": "f", "arguments": '{"x":'}}, {"index": 0, "id": "", "function": {"name": "", "arguments": '1}'}}))),
]
def gem():
    r = parse_chat_response({"id": "g", "choices": [{"index": 0, "message": {"tool_calls": [
        {"id": "", "type": "function", "function": {"name": "f", "arguments": "{}"}, "extra_content": {"google": {"thought_signature": "s"}}},
        {"id": "", "type": "function", "function": {"name": "g", "arguments": "{}"}}]}}]}, P)
    m = r.to_message()["tool_calls"]
    return f"ok ids={[t['id'] for t in m]} signature_sent={'extra_content' in m[0]}"
rows.append(("gemini: id '' x2 + thought_signature", gem))
def nodone():
    acc = ChatAccumulator(P)
    acc.feed(ServerSentEvent(json.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}]})))
    return f"finished={acc.finished} complete_without_done={getattr(acc, 'complete_without_done', 'n/a')}"
rows.append(("no [DONE] after finish_reason (stream accumulator)", nodone))
def rtext():
    acc = ResponsesAccumulator(P)
    evs = acc.feed(ServerSentEvent(json.dumps({"type": "response.reasoning_text.delta", "item_id": "r", "delta": "think"})))
    return f"events={[e.type.value for e in evs]}"
rows.append(("responses reasoning_text.delta", rtext))
for name, fn in rows:
    print(f"{name}\t{outcome(fn)}")
