"""An agent with two tools, streaming its answer.

    python examples/agent_with_tools.py "What's the weather in Tokyo?"

With OPENAI_API_KEY set it talks to the real API (OPENAI_MODEL, default gpt-5-nano). Without it
runs against the library's local mock server, which is scripted to call both tools in one turn.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Iterator, Literal

from llm_client_sync.agent import Agent, AgentConfig
from llm_client_sync.providers.openai import OpenAIProvider
from llm_client_sync.tools import tool
from llm_client_sync.types import StreamEventType


@tool
def get_weather(city: str, units: Literal["metric", "imperial"] = "metric") -> dict[str, Any]:
    """Get the current weather for a city.

    Args:
        city: City name, e.g. "Tokyo".
        units: "metric" for Celsius, "imperial" for Fahrenheit.
    """
    celsius = 22
    temp = celsius if units == "metric" else round(celsius * 9 / 5 + 32)
    return {"city": city, "temperature": temp, "units": units, "conditions": "partly cloudy"}


@tool
def search_web(query: str, max_results: int = 3) -> list[dict[str, str]]:
    """Search the web and return the top results.

    Args:
        query: What to search for.
        max_results: How many results to return.
    """
    hits = [
        {"title": f"{query}: forecast and radar", "url": "https://example.com/forecast"},
        {"title": f"{query}: travel advisories", "url": "https://example.com/advisories"},
        {"title": f"{query}: news", "url": "https://example.com/news"},
    ]
    return hits[:max_results]


@contextlib.contextmanager
def make_provider() -> Iterator[Any]:
    if os.environ.get("OPENAI_API_KEY"):
        with contextlib.closing(OpenAIProvider(model=os.environ.get("OPENAI_MODEL", "gpt-5-nano"))) as provider:
            yield provider
        return
    from llm_client_sync.testing import MockOpenAIServer

    with MockOpenAIServer() as server:
        # First turn: both tools at once; second turn: the server summarises the tool results.
        server.add_tool_calls([("get_weather", {"city": "Tokyo"}),
                               ("search_web", {"query": "Tokyo weather today"})])
        with contextlib.closing(OpenAIProvider(model="gpt-5-nano", api_key="test",
                                               base_url=server.base_url)) as provider:
            yield provider


def main(argv: list[str]) -> int:
    prompt = " ".join(argv) or "What's the weather in Tokyo?"
    with make_provider() as provider:
        agent = Agent(provider, tools=[get_weather, search_web],
                      system_message="You are a helpful assistant. Use the tools when they help.",
                      config=AgentConfig(max_turns=5, tool_timeout=10.0))
        with agent.stream(prompt) as events:
            for event in events:
                if event.type is StreamEventType.TOKEN:
                    print(event.data, end="", flush=True)
                elif event.type is StreamEventType.META and event.data.get("event") == "tool_call":
                    print(f"-> {event.data['tool_name']}({event.data['raw_arguments']})", flush=True)
                elif event.type is StreamEventType.META and event.data.get("event") == "tool_result":
                    print(f"<- {event.data['tool_name']}: {event.data['content'][:70]}", flush=True)
        result = events.result()
        print(f"\n[{result.status}; {result.num_turns} turns; {len(result.all_tool_calls)} tool calls; "
              f"{result.usage.total_tokens} tokens]")
        return 0 if result.status == "completed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
