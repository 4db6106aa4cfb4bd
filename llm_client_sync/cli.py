"""Command line: ``python -m llm_client_sync`` / ``llm-client-sync`` (demo, chat, batch, tokens, models).

Exit codes: 0 success; 1 the API or the run failed (the reason is printed); 2 a usage or
configuration error (bad arguments, no API key, unreadable file); 130 interrupted (Ctrl-C).
Only ``demo`` and an explicit ``--local`` use the built-in local server, and both say so on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any, Iterator, Sequence

__all__ = ["main"]

EXIT_CODES = """exit codes:
  0    success
  1    the API or the run failed (the reason is printed on stderr)
  2    usage or configuration error (bad arguments, no API key, unreadable file)
  130  interrupted (Ctrl-C)"""

# provider name -> (class name in llm_client_sync, key variables, base-URL variable, local server class)
_PROVIDERS: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "openai": ("OpenAIProvider", ("OPENAI_API_KEY",), "OPENAI_BASE_URL", "MockOpenAIServer"),
    "anthropic": ("AnthropicProvider", ("ANTHROPIC_API_KEY",), "ANTHROPIC_BASE_URL", "MockAnthropicServer"),
    "gemini": ("GeminiProvider", ("GEMINI_API_KEY", "GOOGLE_API_KEY"), "GEMINI_BASE_URL", "MockGeminiServer"),
}
_DEFAULT_MODELS = {"openai": "gpt-5-nano", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}


class UsageError(Exception):
    """A command-line mistake the user can fix (exit code 2)."""


def _key(provider: str) -> str | None:
    for var in _PROVIDERS[provider][1]:
        if os.environ.get(var, "").strip():
            return os.environ[var]
    return None


def _provider_class(name: str) -> Any:
    import llm_client_sync

    return getattr(llm_client_sync, _PROVIDERS[name][0])


@contextlib.contextmanager
def _provider(args: argparse.Namespace, *, demo: bool = False) -> Iterator[Any]:
    """The configured server; the built-in local server only for ``demo`` without a key, or ``--local``."""
    name = args.provider
    cls_name, key_vars, url_var, server_name = _PROVIDERS[name]
    model = args.model or _DEFAULT_MODELS[name]
    base_url = getattr(args, "base_url", None) or os.environ.get(url_var) or None
    local = args.local or (demo and _key(name) is None and base_url is None)
    if not local:
        if _key(name) is None and base_url is None:
            raise UsageError(
                f"no API key: set {' or '.join(key_vars)} (or put it in a .env file), point {url_var} at a "
                f"server that needs none (Ollama, vLLM, llama.cpp), or add --local to try the built-in local server")
        kwargs: dict[str, Any] = {"model": model}
        if base_url:
            kwargs["base_url"] = base_url
            if _key(name) is None:
                kwargs["api_key"] = ""  # a keyless local server (Ollama, vLLM)
        with _provider_class(name)(**kwargs) as provider:
            yield provider
        return
    import llm_client_sync.testing as testing

    server_cls = getattr(testing, server_name)
    why = "--local" if args.local else f"no {' or '.join(key_vars)} is set"
    print(f"llm_client_sync: using the built-in local server ({server_name}; {why}): canned answers, "
          f"not a model", file=sys.stderr)
    with server_cls() as server, _provider_class(name)(model=model, api_key="local-demo",
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

    prompt = args.prompt or "Search the web and get the weather in Tokyo"
    with _provider(args, demo=True) as provider:
        print(f"llm_client_sync demo: an agent with two tools, streaming, model {provider.model} "
              f"at {provider.base_url}", file=sys.stderr)
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
        if result.status != "completed":
            reason = f"{type(result.error).__name__}: {result.error}" if result.error is not None else result.status
            print(f"error: the agent did not complete: {reason}", file=sys.stderr)
            return 1
        return 0


def _read_prompt(args: argparse.Namespace) -> str:
    if args.prompt not in (None, "-"):
        return str(args.prompt)
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("give a prompt, or pipe one on stdin (echo 'Hi' | llm-client-sync chat)")
    try:
        text = sys.stdin.read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"stdin is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    text = text.rstrip("\r\n")
    if not text.strip():
        raise UsageError("the prompt read from stdin is empty")
    return text


def _cmd_chat(args: argparse.Namespace) -> int:
    from ._redact import redact
    from .types import StreamEventType as E

    prompt = _read_prompt(args)
    params: dict[str, Any] = {"system": args.system} if args.system else {}
    with _provider(args) as provider:
        if args.json:
            result = provider.complete(prompt, **params)
            print(redact(json.dumps({"content": result.content, "model": result.model,
                                     "usage": result.usage.to_dict(), "cost": result.cost,
                                     "finish_reason": result.finish_reason, "request_id": result.request_id},
                                    ensure_ascii=False)))
            return 0
        with provider.stream(prompt, **params) as stream:
            for ev in stream:
                if ev.type is E.TOKEN:
                    print(redact(ev.data), end="", flush=True)
        print()
    return 0


def _cmd_tokens(args: argparse.Namespace) -> int:
    from .tokens import count_tokens, is_exact

    try:
        if args.file in (None, "-"):
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as fh:
                text = fh.read()
    except UnicodeDecodeError as exc:
        raise UsageError(f"{args.file or 'stdin'} is not UTF-8 text (a binary file?): {exc.reason} "
                         f"at byte {exc.start}") from exc
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


def _cmd_batch(args: argparse.Namespace) -> int:
    if not args.local and _key("openai") is None and not (args.base_url or os.environ.get("OPENAI_BASE_URL")):
        raise UsageError("no API key: set OPENAI_API_KEY (or put it in a .env file), or point --base-url / "
                         "OPENAI_BASE_URL at a server that needs none (Ollama, vLLM, llama.cpp)")
    from .batch.cli import run_batch_cli

    if not args.local:
        return int(run_batch_cli(args))
    with _provider(args) as provider:
        args.base_url = provider.base_url
        os.environ.setdefault("OPENAI_API_KEY", "local-demo")
        return int(run_batch_cli(args))


def _p(v: float | None) -> str:
    return "-" if v is None else f"{v:g}"


def _version() -> str:
    from ._version import __version__

    return f"llm-client-sync {__version__} (Python {sys.version.split()[0]})"


def _common(p: argparse.ArgumentParser, *, local_help: str) -> None:
    p.add_argument("--provider", choices=sorted(_PROVIDERS), default=os.environ.get("LLM_CLIENT_SYNC_PROVIDER", "openai"),
                   help="which API to talk to (default: openai; keys from OPENAI_API_KEY, ANTHROPIC_API_KEY, "
                        "GEMINI_API_KEY)")
    p.add_argument("--model", default=os.environ.get("OPENAI_MODEL"),
                   help="model name (default: OPENAI_MODEL, else gpt-5-nano / claude-haiku-4-5 / gemini-2.5-flash)")
    p.add_argument("--local", action="store_true", help=local_help)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="llm-client-sync", description="A synchronous client for LLM APIs.",
                                 epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=_version())
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    d = sub.add_parser("demo", help="an agent with two tools, streaming (the local server when no key is set)",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("prompt", nargs="?", help="what to ask the agent (default: the weather in Tokyo)")
    _common(d, local_help="use the built-in local server even when an API key is set")
    c = sub.add_parser("chat", help="stream one answer to the terminal",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("prompt", nargs="?", help="the prompt; omitted or '-': read it from stdin")
    c.add_argument("--system", help="a system message")
    c.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")
    c.add_argument("--base-url", default=None, help="API base URL (default: OPENAI_BASE_URL or the provider's)")
    _common(c, local_help="answer from the built-in local server (canned answers, for trying the CLI)")
    t = sub.add_parser("tokens", help="count the tokens of a UTF-8 file or stdin")
    t.add_argument("file", nargs="?", help="a UTF-8 text file; omitted or '-': stdin")
    t.add_argument("--model", default="gpt-5-nano", help="whose tokenizer to use (default gpt-5-nano)")
    sub.add_parser("models", help="print the model profile table (context, prices, reasoning efforts)")
    b = sub.add_parser("batch", help="run a JSONL file of prompts (resumable from its checkpoint)",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    from .batch.cli import add_batch_arguments

    add_batch_arguments(b)
    b.add_argument("--local", action="store_true", help="run against the built-in local server (canned answers)")
    b.set_defaults(provider="openai")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (see EXIT_CODES)."""
    from ._redact import redact
    from .errors import ConfigurationError, LLMClientError

    args = _parser().parse_args(argv)
    handlers = {"demo": _cmd_demo, "chat": _cmd_chat, "tokens": _cmd_tokens, "models": _cmd_models,
                "batch": _cmd_batch}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `| head` closed our stdout: not an error; keep Python from complaining at exit
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (UsageError, ConfigurationError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except LLMClientError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
