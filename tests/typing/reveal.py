"""reveal_type over what the README hands a user; .ci/typecheck.sh fails if any revealed type has Any."""

from __future__ import annotations

from llm_client_sync import (
    Agent,
    AsyncAgent,
    AsyncOpenAIProvider,
    BatchRunner,
    Conversation,
    OpenAIProvider,
    StreamEvent,
    ToolRegistry,
    tool,
)


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


async def check(provider: OpenAIProvider, llm: AsyncOpenAIProvider, event: StreamEvent) -> None:
    result = provider.complete("Hi")
    reveal_type(result)
    reveal_type(result.content)
    reveal_type(result.tool_calls)
    reveal_type(result.usage)
    reveal_type(result.cost)
    reveal_type(result.finish_reason)
    reveal_type(provider.stream("Hi"))
    reveal_type(provider.embed("Hi"))
    reveal_type(event.type)
    reveal_type(add(1, 2))
    reveal_type(ToolRegistry([add]).execute("add", "{}"))
    agent = Agent(provider, tools=[add])
    reveal_type(agent.run("Hi"))
    reveal_type(agent.run("Hi").status)
    reveal_type(agent.stream("Hi"))
    conv = Conversation("sys")
    reveal_type(conv.get_messages())
    reveal_type(conv.count_tokens())
    reveal_type(BatchRunner(provider).run(["a"]))
    reveal_type(await llm.complete("Hi"))
    reveal_type(await AsyncAgent(llm, tools=[add]).run("Hi"))
