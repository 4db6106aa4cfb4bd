"""The asyncio facade against the local server (real sockets), always inside asyncio.run."""

from __future__ import annotations

import asyncio
import gc

import pytest

from llm_client_sync.agent import Agent
from llm_client_sync.aio import AsyncAgent, AsyncOpenAIProvider, AsyncStream
from llm_client_sync.errors import ConfigurationError, InternalServerError, StreamError
from llm_client_sync.testing import MockOpenAIServer
from llm_client_sync.types import StreamEventType

pytestmark = pytest.mark.timeout(30)

E = StreamEventType
LONG = " ".join(f"word{i}" for i in range(200))  # 200 chunks at 0.05 s: 10 s if nobody stops it
WAIT = 5.0


@pytest.fixture()
def server():
    with MockOpenAIServer() as srv:
        yield srv


def _llm(server) -> AsyncOpenAIProvider:
    return AsyncOpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url, max_retries=0)


async def _upstream_closed(server, index: int = 0) -> None:
    """Wait (bounded) for the server to see the client go away on stream ``index``."""
    record = server.streams[index]
    assert await asyncio.to_thread(record.done.wait, WAIT), "server stream never ended"
    assert record.client_disconnected and not record.completed
    assert record.events_sent < 200


def test_complete_and_embed_inside_running_loop(server):
    server.add_text("hello from the loop")

    async def main():
        async with _llm(server) as llm:
            result = await llm.complete("Hi")
            emb = await llm.embed(["a", "b"], dimensions=8)
            return result, emb

    result, emb = asyncio.run(main())
    assert result.content == "hello from the loop"
    assert len(emb.vectors) == 2 and all(len(v) == 8 for v in emb.vectors)


def test_loop_stays_responsive_while_a_call_waits(server):
    server.add_text("slow", latency=0.5)

    async def main():
        async with _llm(server) as llm:
            task = asyncio.create_task(llm.complete("Hi"))
            ticks = 0
            for _ in range(1000):  # bounded; each tick yields to the loop
                if task.done():
                    break
                ticks += 1
                await asyncio.sleep(0.01)
            return (await task).content, ticks

    content, ticks = asyncio.run(main())
    assert content == "slow"
    assert ticks >= 5  # a blocking call would have frozen the loop: zero ticks


def test_concurrent_completes_with_gather(server):
    async def main():
        async with _llm(server) as llm:
            return await asyncio.gather(*(llm.complete(f"echo {i}") for i in range(8)))

    results = asyncio.run(main())
    assert len(results) == 8 and all(r.content for r in results)
    assert len(server.requests) == 8


def test_stream_yields_events_and_result(server):
    server.add_text("one two three")

    async def main():
        async with _llm(server) as llm:
            stream = llm.stream("Hi")
            tokens = [ev.data async for ev in stream if ev.type is E.TOKEN]
            return tokens, await stream.result()

    tokens, result = asyncio.run(main())
    assert "".join(tokens) == "one two three" and len(tokens) == 3
    assert result.content == "one two three"
    assert server.streams[0].completed


def test_cancelling_the_consumer_closes_the_upstream_stream(server):
    server.add_text(LONG, chunk_delay=0.05)

    async def main():
        async with _llm(server) as llm:
            stream = llm.stream("Hi")
            first = asyncio.Event()
            seen = []

            async def consume():
                async for ev in stream:
                    if ev.type is E.TOKEN:
                        seen.append(ev.data)
                        first.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(first.wait(), WAIT)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _upstream_closed(server)
            assert await asyncio.to_thread(stream.closed_event.wait, WAIT)
            return seen

    seen = asyncio.run(main())
    assert 1 <= len(seen) < 200


def test_break_inside_async_with_closes_the_upstream_stream(server):
    server.add_text(LONG, chunk_delay=0.05)

    async def main():
        async with _llm(server) as llm:
            async with llm.stream("Hi") as stream:
                async for ev in stream:
                    if ev.type is E.TOKEN:
                        break
            assert stream.closed_event.is_set()  # aclose() waited for the producer thread
            await _upstream_closed(server)

    asyncio.run(main())


def test_break_from_a_bare_async_for_releases_the_stream(server):
    server.add_text(LONG, chunk_delay=0.05)

    async def main():
        async with _llm(server) as llm:
            async for ev in llm.stream("Hi"):
                if ev.type is E.TOKEN:
                    break
            gc.collect()  # CPython already dropped it; this covers other collectors
            await _upstream_closed(server)

    asyncio.run(main())


def test_status_error_is_raised_in_the_consumer_task(server):
    server.add_error(500, message="boom")

    async def main():
        async with _llm(server) as llm:
            with pytest.raises(InternalServerError):
                async for _ in llm.stream("Hi"):
                    pass

    asyncio.run(main())


def test_broken_stream_gives_error_event_then_raises(server):
    server.add_text("a b c d e f", drop_after=3)

    async def main():
        async with _llm(server) as llm:
            types = []
            with pytest.raises(StreamError) as info:
                async for ev in llm.stream("Hi"):
                    types.append(ev.type)
            return types, info.value

    types, err = asyncio.run(main())
    assert types[-1] is E.ERROR
    assert err.partial is not None


def test_bad_buffer_is_a_configuration_error():
    with pytest.raises(ConfigurationError):
        AsyncStream(lambda: iter(()), buffer=0)


def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"sunny in {city}"


def test_async_agent_run_and_stream(server):
    async def main():
        async with _llm(server) as llm:
            agent = AsyncAgent(llm, tools=[get_weather])
            result = await agent.run("What is get_weather in Tokyo?")
            stream = agent.stream("And get_weather in Paris?")
            types = [ev.type async for ev in stream]
            return result, types, await stream.result(), agent

    result, types, streamed, agent = asyncio.run(main())
    assert result.status == "completed" and "sunny in Tokyo" in str(agent.messages)
    assert E.TOKEN in types and types[-1] is E.DONE
    assert streamed.status == "completed" and "sunny in Paris" in str(agent.messages)


def test_async_agent_wraps_an_existing_agent(server):
    server.add_text("plain answer")

    async def main():
        async with _llm(server) as llm:
            return await AsyncAgent(Agent(llm.provider)).run("Hi")

    assert asyncio.run(main()).content == "plain answer"


def test_cancelling_an_agent_stream_closes_the_model_stream(server):
    server.add_text(LONG, chunk_delay=0.05)

    async def main():
        async with _llm(server) as llm:
            agent = AsyncAgent(llm)
            stream = agent.stream("Hi")
            first = asyncio.Event()

            async def consume():
                async for ev in stream:
                    if ev.type is E.TOKEN:
                        first.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(first.wait(), WAIT)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert await asyncio.to_thread(stream.closed_event.wait, WAIT)
            await _upstream_closed(server)

    asyncio.run(main())
