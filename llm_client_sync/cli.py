"""Command line: ``python -m llm_client_sync`` / ``llm-client-sync`` (chat, demo, batch, tokens, models)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any, Iterator, Sequence

__all__ = ["main"]


@contextlib.contextmanager
def _provider(model: str, *, local: bool = False) -> Iterator[Any]:
    """The real API when OPENAI_API_KEY is set (and not ``local``), else the local server."""
    from .providers.openai import OpenAIProvider

    if os.environ.get("OPENAI_API_KEY") and not local:
        with OpenAIProvider(model=model) as provider:
            yield provider
        return
    from .testing import MockOpenAIServer

    with MockOpenAIServer() as server, OpenAIProvider(model=model, api_key="local-demo",
                                                      base_url=server.base_url) as provider:
        yield provider


def _cmd_demo(args: argparse.Namespace) -> int:
    from .agent import Agent, AgentConfig
    from .tools import tool
    from .types import StreamEventType as E

    @tool
    def get_weather(city: str) -> dict[str, Any]:
        """Get the current weather for a city.

        Args:
            city: City name, e.g. "Tokyo".
        """
        return {"city": city, "temperature_c": 22, "conditions": "partly cloudy"}

    @tool
    def search_web(query: str) -> list[str]:
        """Search the web and return result titles.

        Args:
            query: What to search for.
        """
        return [f"{query}: forecast", f"{query}: travel tips"]

    where = "the real OpenAI API" if os.environ.get("OPENAI_API_KEY") and not args.local else "the local server"
    print(f"llm_client_sync demo: an agent with two tools, streaming, against {where}", file=sys.stderr)
    prompt = args.prompt or "Search the web and get the weather in Tokyo"
    with _provider(args.model, local=args.local) as provider:
        agent = Agent(provider, tools=[get_weather, search_web],
                      system_message="You are a helpful assistant. Use the tools when they help.",
                      config=AgentConfig(max_turns=5, tool_timeout=10.0))
        print(f"> {prompt}")
        with agent.stream(prompt) as events:
            for ev in events:
                if ev.type is E.TOKEN:
                    print(ev.data, end="", flush=True)
                elif ev.type is E.META and ev.data.get("event") == "tool_call":
                    print(f"[tool] {ev.data.get('tool_name')}({ev.data.get('raw_arguments')})", flush=True)
                elif ev.type is E.META and ev.data.get("event") == "tool_result":
                    print(f"[result] {ev.data.get('tool_name')}: {str(ev.data.get('content'))[:80]}", flush=True)
        result = events.result()
        cost = f"${result.cost:.6f}" if result.cost is not None else "n/a"
        print(f"\n[{result.status}; {result.num_turns} turns; {len(result.all_tool_calls)} tool calls; "
              f"{result.usage.total_tokens} tokens; cost {cost}]")
        return 0 if result.status == "completed" else 1


def _cmd_chat(args: argparse.Namespace) -> int:
    from .types import StreamEventType as E

    prompt = args.prompt if args.prompt != "-" else sys.stdin.read()
    with _provider(args.model, local=args.local) as provider:
        if args.json:
            result = provider.complete(prompt, system=args.system)
            print(json.dumps({"content": result.content, "model": result.model, "usage": result.usage.to_dict(),
                              "cost": result.cost, "finish_reason": result.finish_reason,
                              "request_id": result.request_id}))
            return 0
        with provider.stream(prompt, system=args.system) as stream:
            for ev in stream:
                if ev.type is E.TOKEN:
                    print(ev.data, end="", flush=True)
        print()
    return 0


def _cmd_tokens(args: argparse.Namespace) -> int:
    from .tokens import count_tokens, is_exact

    text = sys.stdin.read() if args.file in (None, "-") else open(args.file, encoding="utf-8").read()
    n = count_tokens(text, args.model)
    print(n if is_exact(args.model) else f"{n} (approximate: tiktoken encodings unavailable)")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from .models import list_profiles

    rows = [("model", "category", "context", "max out", "$/1M in", "$/1M cached", "$/1M out", "efforts")]
    for p in list_profiles():
        rows.append((p.key, p.category, str(p.context_window), str(p.max_output_tokens), _p(p.input_price),
                     _p(p.cached_input_price), _p(p.output_price), ",".join(p.reasoning_efforts) or "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def _p(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="llm-client-sync", description="Synchronous OpenAI REST client")
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="an agent with tools, streaming (local server when OPENAI_API_KEY is unset)")
    d.add_argument("prompt", nargs="?")
    d.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-5-nano"))
    d.add_argument("--local", action="store_true", help="use the local server even with OPENAI_API_KEY set")
    c = sub.add_parser("chat", help="stream one answer to the terminal ('-' reads the prompt from stdin)")
    c.add_argument("prompt")
    c.add_argument("--model", default=os.environ.get("OPENAI_MODEL", "gpt-5-nano"))
    c.add_argument("--system")
    c.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")
    c.add_argument("--local", action="store_true")
    t = sub.add_parser("tokens", help="count tokens of a file or stdin")
    t.add_argument("file", nargs="?")
    t.add_argument("--model", default="gpt-5-nano")
    sub.add_parser("models", help="the model profile table")
    try:
        from .batch.cli import add_batch_arguments

        add_batch_arguments(sub.add_parser("batch", help="run a JSONL file of prompts (resumable)"))
    except ImportError:  # pragma: no cover
        pass
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (2 for a usage or configuration error, 130 on Ctrl-C)."""
    from .errors import ConfigurationError, LLMClientError

    args = _parser().parse_args(argv)
    handlers = {"demo": _cmd_demo, "chat": _cmd_chat, "tokens": _cmd_tokens, "models": _cmd_models}
    try:
        if args.command == "batch":
            from .batch.cli import run_batch_cli

            return run_batch_cli(args)
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (ConfigurationError, FileNotFoundError, IsADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LLMClientError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
