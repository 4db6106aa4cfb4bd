"""Every snippet of the async original's README (../shared/llm-client-async/README.md), run as the
sync library promises: unchanged but for ``await`` (and ``async for`` -> ``for``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_client_sync import (
    Agent,
    AgentConfig,
    BufferingAdapter,
    CallbackAdapter,
    CompletionResult,
    Conversation,
    GPT5Nano,
    OpenAIClient,
    OpenAIProvider,
    SSEAdapter,
    StreamEventType,
    ToolRegistry,
    collect_stream,
    sync_tool,
    tool,
)
from llm_client_sync.testing import MockOpenAIServer


@pytest.fixture()
def server():
    with MockOpenAIServer() as srv:
        yield srv


@pytest.fixture()
def env(server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-port-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.chdir(tmp_path)
    return server


def test_simple_completion(env):
    provider = OpenAIProvider(model="gpt-5-nano")
    result = provider.complete("Hello, world!")
    assert isinstance(result.content, str) and result.content
    provider.close()


def test_agent_with_async_tools(env):
    @tool
    async def get_weather(city: str) -> str:
        """Get weather for a city."""
        return f"Weather in {city}: Sunny, 72°F"

    @tool
    async def search_web(query: str) -> str:
        """Search the web."""
        return f"Results for: {query}"

    agent = Agent(
        provider=OpenAIProvider(model="gpt-5-nano"),
        tools=[get_weather, search_web],
        system_message="You are a helpful assistant with access to tools.",
    )
    result = agent.run("What's the weather in Tokyo?")
    assert result.content
    names = [tc.name for tc in result.all_tool_calls]
    assert "get_weather" in names


def test_streaming_iterates_without_with(env):
    provider = OpenAIProvider(model="gpt-5-nano")
    tokens, total = [], None
    for event in provider.stream("Write a haiku about coding"):
        if event.type == StreamEventType.TOKEN:
            tokens.append(event.data)
        elif event.type == StreamEventType.DONE:
            total = event.data.usage.total_tokens
    provider.close()
    assert tokens and total and total > 0


def test_backward_compatible_client(env):
    client = OpenAIClient(model="gpt-5-nano", cache_backend=None)
    response = client.get_response(messages=[{"role": "user", "content": "Hello!"}])
    assert response["output"] and response["status"] == "success"


def test_provider_keyword_forms(env, tmp_path):
    provider = OpenAIProvider(model="gpt-5", cache_backend="fs", cache_dir=str(tmp_path / "cache"))
    result: CompletionResult = provider.complete(
        messages=[{"role": "user", "content": "Hello"}],
        temperature=1,  # the README says 0.7; gpt-5 refuses it before sending (documented)
    )
    assert result.content
    events = list(provider.stream("Tell me a story"))
    assert events[-1].type == StreamEventType.DONE
    streamed = list(provider.stream(messages=[{"role": "user", "content": "Tell me a story"}]))
    assert streamed[-1].type == StreamEventType.DONE
    embed_provider = OpenAIProvider(model="text-embedding-3-small")
    emb = embed_provider.embed("Text to embed")
    assert len(emb.vectors) == 1 and len(emb.vectors[0]) > 0


def test_tools_and_registry():
    @tool
    async def calculate(expression: str) -> str:
        """Evaluate a math expression.

        Args:
            expression: Math expression like "2 + 2"
        """
        return str(eval(expression))  # noqa: S307 - the README's own example

    @sync_tool
    def get_time() -> str:
        """Get current time."""
        from datetime import datetime

        return datetime.now().isoformat()

    registry = ToolRegistry([calculate, get_time])
    result = registry.execute("calculate", '{"expression": "2 + 2"}')
    assert result.content == "4"


def test_conversations(tmp_path):
    conv = Conversation(system_message="You are helpful.", max_tokens=4000, truncation_strategy="sliding")
    conv.add_user("What is Python?")
    conv.add_assistant("Python is a programming language...")
    conv.add_user("Show me an example")
    messages = conv.get_messages(model=GPT5Nano)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    forked = conv.fork()
    assert forked.get_messages(model=GPT5Nano) == messages
    path = tmp_path / "conversation.json"
    conv.save(str(path))
    loaded = Conversation.load(str(path))
    assert loaded.get_messages(model=GPT5Nano) == messages


def test_agents(env):
    @tool
    def search(query: str) -> str:
        """Search for tutorials."""
        return f"found {query}"

    agent = Agent(
        provider=OpenAIProvider(model="gpt-5"),
        tools=[search],
        system_message="You are a research assistant.",
        config=AgentConfig(max_turns=10, parallel_tool_execution=True, tool_timeout=30.0),
    )
    result = agent.run("Research quantum computing")
    assert result.content and result.num_turns >= 1 and result.status
    seen_tool = False
    for event in agent.stream("Search for Python tutorials"):
        if event.type == StreamEventType.META and event.data.get("event") == "tool_result":
            seen_tool = seen_tool or bool(event.data["tool_name"])
    assert seen_tool
    result2 = agent.run("Now search for JavaScript")
    assert result2.content
    agent.reset()


def test_streaming_adapters(env):
    provider = OpenAIProvider(model="gpt-5-nano")
    prompt = "Tell me a story"
    adapter = SSEAdapter()
    chunks = list(adapter.transform(provider.stream(prompt)))
    assert chunks and all(isinstance(c, str) for c in chunks)
    got: list[str] = []
    done: list[CompletionResult] = []
    CallbackAdapter(on_token=got.append, on_done=done.append).consume(provider.stream(prompt))
    assert "".join(got) == done[0].content
    buffer = BufferingAdapter()
    for _event in buffer.wrap(provider.stream(prompt)):
        pass
    assert buffer.content == done[0].content
    result = collect_stream(provider.stream(prompt))
    assert result.content == done[0].content


def test_caching_snippets(env, tmp_path):
    provider = OpenAIProvider(model="gpt-5", cache_backend="fs", cache_dir=str(tmp_path / "c"))
    first = provider.complete("Hello", cache_response=True, cache_collection="my_cache")
    second = provider.complete("Hello", cache_response=True, cache_collection="my_cache")
    assert second.cached and second.content == first.content
    assert len([r for r in env.requests if r.path.endswith("/chat/completions")]) == 1


def test_migration_snippets(env):
    client = OpenAIClient(model="gpt-5")
    assert client.get_response(messages=[{"role": "user", "content": "hi"}])["output"]
    agent = Agent(provider=OpenAIProvider(model="gpt-5"), tools=[])
    assert agent.run("prompt").content
    assert OpenAIProvider(model="gpt-5").complete("prompt").content


def test_the_readme_is_where_we_expect(shared):
    text = (Path(shared) / "llm-client-async" / "README.md").read_text()
    # the snippets above follow these calls; if the original changes, this test says so
    for call in ("provider.complete(", "agent.run(", "registry.execute(", "conv.get_messages(model=GPT5Nano)",
                 "collect_stream(", "client.get_response("):
        assert call in text


def test_prompt_and_messages_together_are_refused_before_sending(env):
    from llm_client_sync import ConfigurationError

    provider = OpenAIProvider(model="gpt-5-nano")
    with pytest.raises(ConfigurationError, match="not both"):
        provider.complete("Hi", messages=[{"role": "user", "content": "Hi"}])
    with pytest.raises(ConfigurationError, match="need a prompt"):
        provider.complete()
    assert env.requests == []
