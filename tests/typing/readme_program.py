"""A program written from the README, checked by mypy --strict and pyright (.ci/typecheck.sh).

It is never run by pytest (no test_ prefix): its job is to type-check with no error and to
reveal no ``Any`` for results, events, agents, tools, conversations, batch results and aio.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from llm_client_sync import (
    Agent,
    AgentConfig,
    AgentResult,
    AsyncOpenAIProvider,
    BatchResult,
    BatchRunner,
    CompletionResult,
    Conversation,
    EmbeddingResult,
    OpenAIProvider,
    StreamEventType,
    ToolCall,
    ToolRegistry,
    ToolResult,
    Usage,
    tool,
)


@tool
def get_weather(city: str, units: Literal["metric", "imperial"] = "metric") -> dict[str, object]:
    """Get the current weather for a city.

    Args:
        city: City name, e.g. "Tokyo".
        units: "metric" for Celsius, "imperial" for Fahrenheit.
    """
    return {"city": city, "temperature": 22, "units": units}


def main() -> None:
    provider = OpenAIProvider(model="gpt-5-nano")
    result: CompletionResult = provider.complete("Hi", temperature=1.0, max_completion_tokens=100)
    content: str | None = result.content
    usage: Usage = result.usage
    total: int = usage.total_tokens
    cost: float | None = result.cost
    calls: tuple[ToolCall, ...] = result.tool_calls
    print(content, total, cost, calls)

    with provider.stream("Write a haiku") as stream:
        for event in stream:
            if event.type is StreamEventType.TOKEN:
                print(event.data, end="", flush=True)
    final: CompletionResult = stream.result()
    print(final.text)

    vectors: EmbeddingResult = provider.embed(["first text", "second text"])
    first: list[float] = vectors.vectors[0]
    print(len(first))

    weather: dict[str, object] = get_weather("Tokyo")  # still a plain function, signature kept
    print(weather)
    tr: ToolResult = ToolRegistry([get_weather]).execute("get_weather", '{"city": 42}')
    is_error: bool = tr.is_error
    print(is_error)

    agent = Agent(provider, tools=[get_weather], system_message="You are a helpful assistant.",
                  config=AgentConfig(max_turns=10, tool_timeout=30.0))
    run: AgentResult = agent.run("What's the weather in Tokyo?")
    status: str = run.status
    turns: int = run.num_turns
    print(status, turns, run.content)

    conv = Conversation("You are concise.", max_tokens=8000, truncation_strategy="sliding", model="gpt-5-nano")
    conv.add_user("Plan a trip to Tokyo.")
    print(conv.count_tokens())

    runner = BatchRunner(provider, max_workers=4, checkpoint="run.jsonl")
    results: list[BatchResult] = runner.run(["Capital of France?"])
    for r in results:
        print(r.ok, r.result.content if r.result is not None else r.error)


async def amain() -> None:
    async with AsyncOpenAIProvider(model="gpt-5-nano") as llm:
        result: CompletionResult = await llm.complete("Hi")
        print(result.content)


if __name__ == "__main__":
    main()
    asyncio.run(amain())
