"""Agent loop logic against a scripted in-memory provider (the socket-level proof is in
tests/integration/test_agent*.py)."""

from __future__ import annotations

import copy
import threading

import pytest

from llm_client_sync.agent import Agent, AgentConfig, AgentResult
from llm_client_sync.agent._runner import run_tool_calls
from llm_client_sync.errors import APIConnectionError, ConfigurationError, MaxTurnsExceededError
from llm_client_sync.tools import ToolResult, tool
from llm_client_sync.types import CompletionResult, StreamEvent, StreamEventType, ToolCall, Usage


def calls(*pairs: tuple[str, str]) -> CompletionResult:
    tcs = tuple(ToolCall.from_raw(f"call_{i}", name, args) for i, (name, args) in enumerate(pairs))
    return CompletionResult(content=None, tool_calls=tcs, usage=Usage(10, 5, 15), cost=0.001,
                            finish_reason="tool_calls")


def text(t: str, cost: float | None = 0.002) -> CompletionResult:
    return CompletionResult(content=t, usage=Usage(20, 4, 24), cost=cost, finish_reason="stop")


class FakeStream:
    def __init__(self, result: CompletionResult) -> None:
        self._result = result
        self.closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.closed = True

    def __iter__(self):
        for word in (self._result.content.split(" ") if self._result.content else []):
            yield StreamEvent(StreamEventType.TOKEN, word + " ")
        for tc in self._result.tool_calls:
            yield StreamEvent(StreamEventType.TOOL_CALL_END, tc)
        yield StreamEvent(StreamEventType.DONE, self._result)

    def result(self):
        return self._result


class FakeProvider:
    model = "gpt-5-nano"

    def __init__(self, *script):
        self.script = list(script)
        self.requests: list[tuple[list, dict]] = []

    def _next(self, messages, params):
        self.requests.append((copy.deepcopy(messages), params))
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    def complete(self, messages, **params):
        return self._next(messages, params)

    def stream(self, messages, **params):
        return FakeStream(self._next(messages, params))


log: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    log.append(f"weather:{city}")
    return f"sunny in {city}"


@tool
def search_web(query: str) -> list[str]:
    """Search the web."""
    log.append(f"search:{query}")
    return [f"result for {query}"]


@pytest.fixture(autouse=True)
def _clear():
    log.clear()


def test_two_turn_run_feeds_results_back_in_model_order():
    provider = FakeProvider(calls(("get_weather", '{"city": "Tokyo"}'), ("search_web", '{"query": "tokyo"}')),
                            text("Sunny in Tokyo."))
    agent = Agent(provider, tools=[get_weather, search_web], system_message="Be brief.")
    result = agent.run("Weather in Tokyo?")
    assert isinstance(result, AgentResult)
    assert (result.status, result.content, result.num_turns) == ("completed", "Sunny in Tokyo.", 2)
    assert [c.name for c in result.all_tool_calls] == ["get_weather", "search_web"]
    assert [r.content for r in result.tool_results] == ["sunny in Tokyo", '["result for tokyo"]']
    assert result.usage == Usage(30, 9, 39)
    assert result.cost == pytest.approx(0.003)
    second_request = provider.requests[1][0]
    assert [m["role"] for m in second_request] == ["system", "user", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in second_request[3:]] == ["call_0", "call_1"]
    assert [t["function"]["name"] for t in provider.requests[0][1]["tools"]] == ["get_weather", "search_web"]
    assert [m["role"] for m in result.messages] == ["system", "user", "assistant", "tool", "tool", "assistant"]


def test_run_again_continues_reset_starts_over_fork_branches():
    provider = FakeProvider(text("one"), text("two"), text("three"), text("four"))
    agent = Agent(provider, system_message="sys")
    agent.run("first")
    agent.run("second")
    assert [m["content"] for m in provider.requests[1][0]] == ["sys", "first", "one", "second"]
    branch = agent.fork()
    branch.run("branch")
    assert len(agent.messages) == 5 and len(branch.messages) == 7
    agent.reset()
    agent.run("again")
    assert [m["content"] for m in provider.requests[3][0]] == ["sys", "again"]


def test_max_turns_keeps_partial_content_and_can_continue():
    looping = CompletionResult(content="still working", tool_calls=(ToolCall.from_raw("c", "get_weather",
                                                                                        '{"city": "Oslo"}'),))
    provider = FakeProvider(looping, looping, text("done"))
    agent = Agent(provider, tools=[get_weather], config=AgentConfig(max_turns=2))
    result = agent.run("loop")
    assert (result.status, result.num_turns, result.content) == ("max_turns", 2, "still working")
    assert log == ["weather:Oslo", "weather:Oslo"]  # the last turn's tools ran: history stays answerable
    assert agent.run().status == "completed"  # prompt=None continues


def test_raise_on_max_turns_carries_the_result():
    provider = FakeProvider(calls(("get_weather", '{"city": "A"}')))
    agent = Agent(provider, tools=[get_weather], config=AgentConfig(max_turns=1, raise_on_max_turns=True))
    with pytest.raises(MaxTurnsExceededError) as info:
        agent.run("x")
    assert info.value.result.status == "max_turns"


def test_model_error_ends_run_with_status_error():
    boom = APIConnectionError("connection refused")
    agent = Agent(FakeProvider(boom), tools=[get_weather])
    result = agent.run("hi")
    assert (result.status, result.error, result.num_turns) == ("error", boom, 1)


def test_stop_on_tool_error():
    provider = FakeProvider(calls(("nope", "{}")), text("unreached"))
    agent = Agent(provider, tools=[get_weather], config=AgentConfig(stop_on_tool_error=True))
    result = agent.run("x")
    assert result.status == "error" and result.tool_results[0].error_kind == "unknown_tool"
    assert len(provider.requests) == 1


def test_approval_refusal_is_told_to_the_model():
    seen: list[str] = []

    def approve(call: ToolCall) -> bool:
        seen.append(call.name)
        return call.name != "search_web"

    provider = FakeProvider(calls(("get_weather", '{"city": "A"}'), ("search_web", '{"query": "q"}')), text("ok"))
    result = Agent(provider, tools=[get_weather, search_web], approve=approve).run("x")
    assert seen == ["get_weather", "search_web"] and log == ["weather:A"]
    refused = result.tool_results[1]
    assert refused.error_kind == "refused" and "refused" in refused.content
    assert provider.requests[1][0][-1]["content"] == refused.content


def test_stream_yields_tokens_tool_meta_and_done():
    provider = FakeProvider(calls(("get_weather", '{"city": "Rome"}')), text("Sunny in Rome."))
    agent = Agent(provider, tools=[get_weather])
    with agent.stream("weather in Rome") as events:
        got = list(events)
    kinds = [(e.type, e.data.get("event") if isinstance(e.data, dict) else None) for e in got]
    assert (StreamEventType.META, "tool_call") in kinds and (StreamEventType.META, "tool_result") in kinds
    assert kinds.index((StreamEventType.META, "tool_call")) < kinds.index((StreamEventType.META, "tool_result"))
    assert "".join(e.data for e in got if e.type is StreamEventType.TOKEN) == "Sunny in Rome. "
    assert got[-1].type is StreamEventType.DONE and got[-1].data.content == "Sunny in Rome."
    assert events.result() is got[-1].data
    result_meta = next(e.data for e in got if isinstance(e.data, dict) and e.data.get("event") == "tool_result")
    assert result_meta["tool_name"] == "get_weather" and result_meta["content"] == "sunny in Rome"


def test_config_validation():
    with pytest.raises(ConfigurationError):
        AgentConfig(max_turns=0)
    with pytest.raises(ConfigurationError):
        AgentConfig(tool_timeout=0)
    with pytest.raises(ConfigurationError):
        Agent(FakeProvider(), system_message="a", conversation=object())


def test_model_params_reach_every_call_and_run_params_override():
    provider = FakeProvider(text("a"))
    Agent(provider, config=AgentConfig(model_params={"temperature": 1, "seed": 3})).run("x", seed=4)
    assert provider.requests[0][1] == {"temperature": 1, "seed": 4}  # no tools param without tools


def test_runner_never_runs_more_than_max_parallel_at_once():
    lock = threading.Lock()
    active = 0
    peak = 0
    started: list[str] = []
    three_active = threading.Event()
    release = threading.Event()

    def execute(call: ToolCall) -> ToolResult:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
            started.append(call.id)
            if active == 3:
                three_active.set()
        release.wait(5)
        with lock:
            active -= 1
        return ToolResult(call.id, call.name, "ok")

    batch = [ToolCall.from_raw(f"c{i}", "t", "{}") for i in range(10)]
    out: list = []
    consumer = threading.Thread(target=lambda: out.extend(
        run_tool_calls(batch, execute, max_parallel=3, timeout=10.0, cancelled=threading.Event())))
    consumer.start()
    assert three_active.wait(5)
    with lock:
        assert len(started) == 3  # nothing finished, so no fourth may start
    release.set()
    consumer.join(10)
    assert sorted(i for i, _ in out) == list(range(10)) and peak == 3


def test_runner_cancelled_before_start_runs_nothing():
    flag = threading.Event()
    flag.set()
    ran: list[str] = []
    batch = [ToolCall.from_raw("c1", "t", "{}")]
    out = list(run_tool_calls(batch, lambda c: ran.append(c.id), max_parallel=2, timeout=1.0, cancelled=flag))
    assert ran == [] and out[0][1].error_kind == "cancelled"


def test_truncating_conversation_never_splits_tool_calls_from_results():
    from llm_client_sync.conversation import Conversation

    @tool
    def fetch(page: int) -> str:
        return f"page {page}: " + "lorem ipsum " * 20

    script = []
    for page in range(6):
        script += [calls(("fetch", f'{{"page": {page}}}')), text(f"summary {page}")]
    provider = FakeProvider(*script)
    agent = Agent(provider, tools=[fetch], conversation=Conversation("sys", max_tokens=400))
    for page in range(6):
        assert agent.run(f"read page {page}").status == "completed"
    assert len(agent.messages) == 1 + 6 * 4  # the history keeps everything
    for sent, _ in provider.requests:
        ids = [m["tool_call_id"] for m in sent if m["role"] == "tool"]
        asked = [c["id"] for m in sent if m["role"] == "assistant" for c in m.get("tool_calls", [])]
        assert ids == asked  # what was sent is always answerable
    assert len(provider.requests[-1][0]) < len(agent.messages)  # and it was truncated


def test_run_works_inside_a_running_event_loop_with_async_tools():
    # Jupyter runs cells inside an event loop; sync entry points of other libraries break there
    import asyncio

    @tool
    async def lookup(key: str) -> str:
        await asyncio.sleep(0)
        return key.upper()

    async def cell():
        provider = FakeProvider(calls(("lookup", '{"key": "abc"}')), text("done"))
        return Agent(provider, tools=[lookup]).run("go")

    result = asyncio.run(cell())
    assert result.status == "completed" and result.tool_results[0].content == "ABC"
