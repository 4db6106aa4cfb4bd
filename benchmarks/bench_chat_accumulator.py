"""CPU per chunk of the chat stream accumulator (text deltas, tool-argument deltas); min of 9 runs.

Run: PYTHONPATH=<checkout> python benchmarks/bench_chat_accumulator.py
"""
import json, time
from llm_client_sync import get_profile
from llm_client_sync._sse import ServerSentEvent
from llm_client_sync.providers._chat import ChatAccumulator
P = get_profile("gpt-5-nano")
text = [ServerSentEvent(json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-5-nano", "system_fingerprint": None,
        "choices": [{"index": 0, "delta": {"content": "word "}, "logprobs": None, "finish_reason": None}]})) for _ in range(20000)]
tools = [ServerSentEvent(json.dumps({"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, **({"id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}} if i == 0 else {"function": {"arguments": "ab"}})}]}}]})) for i in range(20000)]
for name, evs in (("text", text), ("tool-args", tools)):
    best = 1e9
    for _ in range(9):
        acc = ChatAccumulator(P)
        t = time.process_time()
        for e in evs:
            acc.feed(e)
        best = min(best, time.process_time() - t)
    print(f"{name}: {best / len(evs) * 1e6:.2f} us/chunk")
