"""Agent against the library's local OpenAI-compatible server over real sockets.

Covers the issue's proof: a multi-turn run with two tools, parallel execution proven with a
Barrier, timeout / exception / unknown tool / invalid arguments, approval refusal, cancellation
from another thread, max_turns, streamed tool-call arguments split across chunks, and a retried
model call that never runs a tool twice.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from llm_client_sync.agent import Agent, AgentConfig
from llm_client_sync.providers.openai import OpenAIProvider
from llm_client_sync.testing import MockOpenAIServer
from llm_client_sync.tools import ToolRegistry, tool
from llm_client_sync.types import StreamEventType

pytestmark = pytest.mark.timeout(60)

FAST_RETRY = {"retry-after-ms": "5"}  # the transport honours it, so retries take milliseconds


@pytest.fixture
def server():
    with MockOpenAIServer() as srv:
        yield srv


@pytest.fixture
def provider(server):
    p = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url)
    yield p
    p.close()


def chat_bodies(server: MockOpenAIServer) -> list[dict[str, Any]]:
    return [r.json for r in server.requests if r.path.endswith("/chat/completions")]


def tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def add(self, name: str, **kwargs: Any) -> None:
        with self.lock:
            self.calls.append((name, kwargs))


# -- the happy path ---------------------------------------------------------------------------
def test_multi_turn_run_with_two_tools(server, provider):
    rec = Recorder()

    @tool
    def get_weather(city: str) -> dict:
        """Current weather for a city."""
        rec.add("get_weather", city=city)
        return {"city": city, "temp_c": 22}

    @tool
    async def search_web(query: str, max_results: int = 2) -> list[str]:
        """Search the web."""
        await asyncio.sleep(0)
        rec.add("search_web", query=query, max_results=max_results)
        return [f"{query} #{i}" for i in range(max_results)]

    server.add_tool_calls([("get_weather", {"city": "Tokyo"})])
    server.add_tool_calls([("search_web", {"query": "Tokyo umbrella"})])
    server.add_text("It is 22°C in Tokyo; no umbrella needed.")
    agent = Agent(provider, tools=[get_weather, search_web], system_message="Be brief.")
    result = agent.run("What's the weather in Tokyo?")

    assert (result.status, result.num_turns) == ("completed", 3)
    assert result.content == "It is 22°C in Tokyo; no umbrella needed."
    assert rec.calls == [("get_weather", {"city": "Tokyo"}), ("search_web", {"query": "Tokyo umbrella", "max_results": 2})]
    assert [r.content for r in result.tool_results] == ['{"city": "Tokyo", "temp_c": 22}', '["Tokyo umbrella #0", "Tokyo umbrella #1"]']
    bodies = chat_bodies(server)
    assert len(bodies) == 3
    assert [t["function"]["name"] for t in bodies[0]["tools"]] == ["get_weather", "search_web"]
    assert [m["role"] for m in bodies[2]["messages"]] == ["system", "user", "assistant", "tool", "assistant", "tool"]
    assistant = bodies[1]["messages"][2]
    assert assistant["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city": "Tokyo"}'}
    assert tool_messages(bodies[1])[0]["tool_call_id"] == assistant["tool_calls"][0]["id"]
    assert result.usage.total_tokens == sum(c.usage.total_tokens for c in result.completions) > 0

    # run again continues the same conversation
    server.add_text("You're welcome.")
    assert agent.run("Thanks!").content == "You're welcome."
    assert [m["role"] for m in chat_bodies(server)[-1]["messages"]][-2:] == ["assistant", "user"]


# -- parallel tools -------------------------------------------------------------------------
def _barrier_tools(barrier: threading.Barrier):
    @tool
    def left() -> str:
        barrier.wait()  # only returns once the other tool is running at the same time
        return "left met right"

    @tool
    def right() -> str:
        barrier.wait()
        return "right met left"

    return [left, right]


def test_parallel_tools_really_run_at_the_same_time(server, provider):
    barrier = threading.Barrier(2, timeout=10)
    server.add_tool_calls([("left", {}), ("right", {})])
    server.add_text("both done")
    result = Agent(provider, tools=_barrier_tools(barrier)).run("go")
    assert [(r.name, r.is_error) for r in result.tool_results] == [("left", False), ("right", False)]
    assert result.content == "both done"


def test_sequential_execution_cannot_meet_at_the_barrier(server, provider):
    # the same tools fail when run one after another: the parallel test above can fail
    barrier = threading.Barrier(2, timeout=0.5)
    server.add_tool_calls([("left", {}), ("right", {})])
    server.add_text("done")
    config = AgentConfig(parallel_tool_execution=False)
    result = Agent(provider, tools=_barrier_tools(barrier), config=config).run("go")
    assert all(r.is_error and "BrokenBarrierError" in r.content for r in result.tool_results)


def test_results_go_back_in_the_models_order_not_finishing_order(server, provider):
    second_done = threading.Event()

    @tool
    def slow() -> str:
        assert second_done.wait(10)  # finishes only after `fast` has finished
        return "slow result"

    @tool
    def fast() -> str:
        second_done.set()
        return "fast result"

    server.add_tool_calls([("slow", {}), ("fast", {})])
    server.add_text("ok")
    agent = Agent(provider, tools=[slow, fast])
    with agent.stream("go") as events:
        finished = [e.data["tool_name"] for e in events
                    if e.type is StreamEventType.META and e.data["event"] == "tool_result"]
    assert finished == ["fast", "slow"]
    assert [m["content"] for m in tool_messages(chat_bodies(server)[1])] == ["slow result", "fast result"]


# -- failure paths ----------------------------------------------------------------------------
def test_tool_timeout_gives_error_result_and_loop_goes_on(server, provider):
    release = threading.Event()
    thread_finished = threading.Event()

    @tool
    def hang() -> str:
        release.wait(30)
        thread_finished.set()
        return "too late"

    @tool
    def quick() -> str:
        return "quick"

    server.add_tool_calls([("hang", {}), ("quick", {})])
    server.add_text("moved on")
    config = AgentConfig(tool_timeout=0.3)
    result = Agent(provider, tools=[hang, quick], config=config).run("go")
    try:
        assert result.status == "completed" and result.content == "moved on"
        timed_out, ok = result.tool_results
        assert (timed_out.error_kind, ok.content) == ("timeout", "quick")
        assert "did not finish within 0.3 seconds" in timed_out.content
        sent = tool_messages(chat_bodies(server)[1])
        assert sent[0]["content"] == timed_out.content
        assert not thread_finished.is_set()  # the abandoned thread is still running...
    finally:
        release.set()
    assert thread_finished.wait(10)  # ...and ends on its own; its late result is dropped
    assert all("too late" not in str(m.get("content")) for m in result.messages)


def test_tool_exception_is_reported_to_the_model(server, provider):
    @tool
    def flaky(n: int) -> str:
        raise ValueError(f"bad n={n}")

    server.add_tool_calls([("flaky", {"n": 3})])
    server.add_text("sorry")
    result = Agent(provider, tools=[flaky]).run("go")
    assert result.status == "completed"
    assert tool_messages(chat_bodies(server)[1])[0]["content"] == "Error: flaky raised ValueError: bad n=3"


def test_unknown_tool_is_reported_to_the_model(server, provider):
    @tool
    def get_weather(city: str) -> str:
        return city

    server.add_tool_calls([("get_wether", {"city": "Tokyo"})])
    server.add_text("retrying")
    result = Agent(provider, tools=[get_weather]).run("go")
    content = tool_messages(chat_bodies(server)[1])[0]["content"]
    assert "unknown tool 'get_wether'" in content and "get_weather" in content
    assert result.tool_results[0].error_kind == "unknown_tool"


@pytest.mark.parametrize("raw, fragment", [
    ('{"city": 42}', "city: expected string, got integer"),
    ('{"city": "Tok', "not valid JSON"),
    ('{"town": "Tokyo"}', "city: required property is missing"),
    ('{"city": "Tokyo", "when": "now"}', "when: unexpected property"),
])
def test_invalid_arguments_never_reach_the_tool(server, provider, raw, fragment):
    rec = Recorder()

    @tool
    def get_weather(city: str) -> str:
        rec.add("get_weather", city=city)
        return city

    server.add_tool_calls([("get_weather", raw)])
    server.add_text("fixed")
    result = Agent(provider, tools=[get_weather]).run("go")
    assert rec.calls == []
    assert result.tool_results[0].error_kind == "invalid_arguments"
    assert fragment in tool_messages(chat_bodies(server)[1])[0]["content"]


def test_approval_refusal(server, provider):
    rec = Recorder()

    @tool
    def delete_file(path: str) -> str:
        rec.add("delete_file", path=path)
        return "deleted"

    @tool
    def read_file(path: str) -> str:
        rec.add("read_file", path=path)
        return "contents"

    asked: list[str] = []

    def approve(call) -> bool:
        asked.append(f"{call.name}:{call.arguments['path']}")
        return call.name == "read_file"

    server.add_tool_calls([("read_file", {"path": "a.txt"}), ("delete_file", {"path": "/etc"})])
    server.add_text("I was not allowed to delete it.")
    result = Agent(provider, tools=[delete_file, read_file], approve=approve).run("go")
    assert asked == ["read_file:a.txt", "delete_file:/etc"]
    assert rec.calls == [("read_file", {"path": "a.txt"})]
    sent = tool_messages(chat_bodies(server)[1])
    assert sent[0]["content"] == "contents" and "refused" in sent[1]["content"]
    assert result.tool_results[1].error_kind == "refused" and result.status == "completed"


def test_cancel_from_another_thread_stops_after_the_current_step(server, provider):
    entered = threading.Event()
    release = threading.Event()

    @tool
    def work() -> str:
        entered.set()
        release.wait(10)
        return "worked"

    server.add_tool_calls([("work", {})])
    server.add_text("never requested")
    agent = Agent(provider, tools=[work])
    box: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: box.setdefault("result", agent.run("go")))
    runner.start()
    assert entered.wait(10)
    agent.cancel()  # from this thread, while the tool step is in progress
    release.set()
    runner.join(10)
    result = box["result"]
    assert (result.status, result.num_turns) == ("cancelled", 1)
    assert result.tool_results[0].content == "worked"  # the current step completes
    assert len(chat_bodies(server)) == 1 and server.pending == 1
    # the history stays valid: the next run answers the tool result and continues
    assert agent.run("continue").content == "never requested"


def test_max_turns_stops_the_loop(server, provider):
    @tool
    def ping() -> str:
        return "pong"

    for _ in range(3):
        server.add_tool_calls([("ping", {})], content="thinking...")
    result = Agent(provider, tools=[ping], config=AgentConfig(max_turns=2)).run("go")
    assert (result.status, result.num_turns, result.content) == ("max_turns", 2, "thinking...")
    assert len(chat_bodies(server)) == 2 and len(result.tool_results) == 2


# -- streaming ------------------------------------------------------------------------------
def test_streamed_tool_call_arguments_split_across_chunks(server, provider):
    got: list[dict[str, Any]] = []

    @tool
    def book(city: str, nights: int, guests: list[str]) -> str:
        got.append({"city": city, "nights": nights, "guests": guests})
        return "booked"

    args = {"city": "São Paulo — Jardins", "nights": 3, "guests": ["Zoë", "Łukasz", "李"]}
    # 3 characters of JSON per delta, and every SSE event written to the socket in 5-byte pieces
    server.add_tool_calls([("book", args)], args_chunk=3, split_writes=5)
    server.add_text("Booked your stay in São Paulo.", words_per_chunk=1)
    agent = Agent(provider, tools=[book])
    with agent.stream("book it") as events:
        seen = list(events)
    assert got == [args]
    tokens = [e.data for e in seen if e.type is StreamEventType.TOKEN]
    assert len(tokens) > 3 and "".join(tokens) == "Booked your stay in São Paulo."
    metas = [e.data["event"] for e in seen if e.type is StreamEventType.META]
    assert metas == ["turn", "tool_call", "tool_result", "turn"]
    done = seen[-1]
    assert done.type is StreamEventType.DONE and done.data.status == "completed"
    assert done.data.content == "Booked your stay in São Paulo."
    assert all(b.get("stream") for b in chat_bodies(server))


def test_stream_that_breaks_mid_tool_call_runs_no_tool(server, provider):
    rec = Recorder()

    @tool
    def charge(amount: int) -> str:
        rec.add("charge", amount=amount)
        return "charged"

    server.add_tool_calls([("charge", {"amount": 100})], args_chunk=2, drop_after=4)
    result = Agent(provider, tools=[charge]).stream("pay").result()
    assert result.status == "error" and result.error is not None
    assert rec.calls == []


# -- retries --------------------------------------------------------------------------------
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
def test_retried_model_call_never_runs_a_tool_twice(server, provider, streaming):
    rec = Recorder()

    @tool
    def transfer(amount: int) -> str:
        rec.add("transfer", amount=amount)
        return "sent"

    server.add_error(500, headers=FAST_RETRY)
    server.add_tool_calls([("transfer", {"amount": 5})])
    server.add_error(503, headers=FAST_RETRY)
    server.add_text("Transferred.")
    agent = Agent(provider, tools=[transfer])
    result = agent.stream("send 5").result() if streaming else agent.run("send 5")
    assert result.status == "completed" and result.content == "Transferred."
    assert rec.calls == [("transfer", {"amount": 5})]
    assert len(chat_bodies(server)) == 4 and result.num_turns == 2


# -- sharing --------------------------------------------------------------------------------
def test_many_agents_share_one_provider_across_threads(server, provider):
    @tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return f"sunny in {city}"

    registry = ToolRegistry([get_weather])
    results: dict[int, Any] = {}
    start = threading.Barrier(8, timeout=10)

    def worker(i: int) -> None:
        agent = Agent(provider, tools=registry)
        start.wait()
        results[i] = agent.run(f"What is the weather in City{i}?")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8
    for i, result in results.items():
        # the mock calls get_weather for the city the prompt names, then summarises its result
        assert result.status == "completed", result
        assert result.tool_results[0].content == f"sunny in City{i}"
        assert f"sunny in City{i}" in result.content
