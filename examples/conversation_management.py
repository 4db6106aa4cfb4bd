"""Keep a long chat inside a context window: token counts, the three truncation strategies, tool
calls that stay paired with their results, fork/branch, and save/load.

    python examples/conversation_management.py

With OPENAI_API_KEY unset it runs against the library's local mock server (no network).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any, Iterator

from llm_client_sync.conversation import Conversation
from llm_client_sync.errors import ContextWindowExceededError
from llm_client_sync.providers.openai import OpenAIProvider
from llm_client_sync.tokens import count_messages, is_exact

WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def get_weather(city: str = "?") -> str:
    return f"22 degrees and sunny in {city}"


@contextlib.contextmanager
def make_provider() -> Iterator[Any]:
    if os.environ.get("OPENAI_API_KEY"):
        provider = OpenAIProvider(model=os.environ.get("OPENAI_MODEL", "gpt-5-nano"))
        with contextlib.closing(provider):
            yield provider
        return
    from llm_client_sync.testing import MockOpenAIServer

    with MockOpenAIServer() as server:
        with contextlib.closing(OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url)) as p:
            yield p


def ask(provider: Any, conv: Conversation, text: str, tools: list[dict] | None = None) -> str:
    """One user turn; runs tool calls until the model answers in text."""
    conv.add_user(text)
    for _ in range(5):  # bounded: a model that keeps calling tools is stopped here
        params = {"tools": tools} if tools else {}
        result = provider.complete(conv.get_messages(), **params)
        conv.add_message(result.to_message())
        if not result.tool_calls:
            return result.content or ""
        for call in result.tool_calls:
            print(f"  [tool] {call.name}({dict(call.arguments)})")
            conv.add_tool_result(call.id, get_weather(**call.arguments), name=call.name)
    return "(gave up after 5 tool rounds)"


def roles(messages: list[dict]) -> str:
    short = {"system": "S", "user": "U", "assistant": "A", "tool": "T"}
    return "".join("~" if "omitted" in str(m.get("content")) else short.get(m["role"], "?") for m in messages)


def main() -> None:
    with make_provider() as provider:
        # 1. A chat whose history outgrows a small window (max_tokens minus reserve_tokens).
        conv = Conversation("You are a concise assistant.", max_tokens=200, reserve_tokens=40,
                            model=provider.profile)
        print(f"exact token counts: {is_exact(provider.profile)}")
        for question in ["What is a context window?", "Why truncate a conversation?",
                                      "Name three truncation strategies.", "Which keeps the task?",
                                      "What is a tool call?", "Why keep tool results paired?"]:
            print(f"> {question}")
            print(ask(provider, conv, question))

        # 2. A tool round: the assistant's tool_calls and the tool results travel together.
        print("> Use get_weather for Tokyo, please.")
        print(ask(provider, conv, "Use get_weather for Tokyo, please.", tools=[WEATHER_TOOL]))
        sent = conv.get_messages()
        print(f"history: {len(conv)} messages, {conv.count_tokens()} tokens; "
              f"sent: {len(sent)} messages, {count_messages(sent, provider.profile)} tokens (budget 160)")

        # 3. The same history under each strategy (S system, U user, A assistant, T tool, ~ marker).
        for strategy in ("drop_oldest", "sliding", "drop_middle"):
            view = Conversation.from_dict({**conv.to_dict(), "truncation_strategy": strategy})
            print(f"{strategy:<12} {roles(view.get_messages())}   (full: {roles(conv.messages)})")

        # 4. fork(): an independent copy; branch(i): a copy of messages[:i] to try another path.
        alt = conv.branch(3)
        print(f"branch(3) keeps {len(alt)} messages; asking it something else:")
        print("> Explain it like I am five.")
        print(ask(provider, alt, "Explain it like I am five."))
        print(f"original still has {len(conv)} messages, the branch {len(alt)}")

        # 5. save/load: JSON with a version field, written atomically.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "chat.json")
            conv.save(path)
            loaded = Conversation.load(path)
            print(f"saved and loaded {len(loaded)} messages; same history: {loaded.messages == conv.messages}")

        # 6. A message that cannot fit is an error that says by how much.
        big = conv.fork()
        big.add_user("word " * 1000)
        try:
            big.get_messages()
        except ContextWindowExceededError as exc:
            print(f"too long: {exc.tokens_over} tokens over the budget")


if __name__ == "__main__":
    main()
