"""``python -m llm_client_sync batch input.jsonl --out results.jsonl``: the batch runner from the shell.

Each input line is a prompt (JSON string), a message list, or a dict of complete() params with
an optional ``id``. The output has one line per item in input order:
``{"index", "id", "ok", "attempts", "result", "error"}``.

Exit codes: 0 every item succeeded; 1 some failed, or the run stopped early (a budget, or every
item failing with the same non-retryable error such as a bad key: the reason is printed and the
items not run stay pending, rerun to resume); 2 a usage or configuration error; 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Iterator, Sequence

__all__ = ["add_batch_arguments", "main_batch", "run_batch_cli"]


class JsonlItems:
    """A JSONL file as a lazily read, sized iterable of items (memory stays flat)."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as fh:
            self._len = sum(1 for line in fh if line.strip())

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        with open(self.path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError as exc:
                        from ..errors import ConfigurationError

                        raise ConfigurationError(f"{self.path}:{n}: not valid JSON ({exc})") from exc


def add_batch_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``batch`` subcommand's arguments to a parser (for cli.py's subparsers)."""
    parser.add_argument("input", help="JSONL file: one prompt, message list or params dict per line")
    parser.add_argument("--out", required=True, help="where to write the results (JSONL, input order)")
    parser.add_argument("--model", default=os.environ.get("LLM_CLIENT_SYNC_MODEL", "gpt-5-nano"),
                        help="model name (default LLM_CLIENT_SYNC_MODEL or gpt-5-nano)")
    parser.add_argument("--workers", type=int, default=16, help="concurrent requests (default 16)")
    parser.add_argument("--checkpoint", default=None,
                        help="checkpoint file (default: OUT.checkpoint.jsonl); rerun to resume")
    parser.add_argument("--base-url", default=None, help="API base URL (default OPENAI_BASE_URL or OpenAI)")
    parser.add_argument("--retries", type=int, default=1, help="extra tries per item for transient errors")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute limit")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute limit")
    parser.add_argument("--max-completion-tokens", type=int, default=None,
                        help="cap on each answer's tokens (sent as max_completion_tokens)")
    parser.add_argument("--stop-after-same-error", type=int, default=5,
                        help="stop when the first N items all fail with the same non-retryable error "
                             "(e.g. a bad key: 401); 0 never stops (default 5)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress display (a tqdm bar when installed, else a line on stderr every 2 s)")
    parser.add_argument("--batch-api", action="store_true",
                        help="use the OpenAI Batch API (half price, results within 24 h)")
    parser.add_argument("--poll-interval", type=float, default=5.0,
                        help="with --batch-api: first seconds between status polls (grows to 60)")
    return parser


def main_batch(input_path: str, out_path: str, *, model: str = "gpt-5-nano", workers: int = 16,
               checkpoint: str | None = None, base_url: str | None = None, api_key: str | None = None,
               retries: int = 1, rpm: int | None = None, tpm: int | None = None,
               max_completion_tokens: int | None = None, progress: bool = True, batch_api: bool = False,
               poll_interval: float = 5.0, provider: Any = None, stop_after_same_error: int | None = 5) -> int:
    """Run a JSONL batch file; returns an exit code (0 all succeeded, 1 some failed or stopped early,
    2 configuration, 130 Ctrl-C)."""
    from .._atomic import atomic_writer
    from .runner import BatchRunner, write_results

    items = JsonlItems(input_path)
    checkpoint = checkpoint or f"{out_path}.checkpoint.jsonl"
    params = {"max_completion_tokens": max_completion_tokens} if max_completion_tokens else {}
    if provider is None:
        from ..providers.openai import OpenAIProvider
        from ..ratelimit import RateLimit

        url = base_url or os.environ.get("OPENAI_BASE_URL") or ""
        if not (api_key or os.environ.get("OPENAI_API_KEY")) and (not url or "api.openai.com" in url):
            print("error: no API key: set OPENAI_API_KEY (or OPENAI_BASE_URL / --base-url for a local server "
                  "such as Ollama or vLLM that needs none)", file=sys.stderr)
            return 2

        rate_limit = RateLimit(rpm=rpm, tpm=tpm) if (rpm or tpm) else None
        provider = OpenAIProvider(model=model, api_key=api_key, base_url=base_url, rate_limit=rate_limit)
    if batch_api:
        from .api import BatchAPIRunner

        job = BatchAPIRunner(provider, state_path=f"{checkpoint}.batch.json", params=params,
                             poll_interval=poll_interval, progress=True)
        results = job.run(items)
        with atomic_writer(out_path, "w", encoding="utf-8") as out:
            for res in results:
                out.write(json.dumps(res.to_dict(), ensure_ascii=False) + "\n")
        failed = sum(1 for r in results if not r.ok)
        print(f"{len(results)} items, {failed} failed -> {out_path}", file=sys.stderr)
        return 1 if failed else 0
    runner = BatchRunner(provider, max_workers=workers, checkpoint=checkpoint, params=params,
                         retries=retries, progress=progress, stop_after_same_error=stop_after_same_error or None)
    try:
        for _ in runner.iter(items):
            pass
    except KeyboardInterrupt:
        print(f"\ninterrupted; checkpoint {checkpoint} is valid, rerun the same command to resume",
              file=sys.stderr)
        return 130
    s = runner.stats
    if s.stopped is not None:
        err = s.stop_error
        why = {"repeated_error": f"the first {s.failed} items all failed with the same error",
               "budget_exceeded": "the budget was reached"}.get(s.stopped, s.stopped)
        print(f"stopped early: {why}: {type(err).__name__}: {err}\n"
              f"{s.succeeded} done, {s.failed} failed; the items not run stay pending in {checkpoint}: "
              "fix the cause and rerun the same command to resume", file=sys.stderr)
        return 1
    count = write_results(checkpoint, out_path)
    cost = f"${s.cost:.6f}" if s.cost is not None else "unknown"
    print(f"{count} items ({s.succeeded} done now, {s.skipped} from checkpoint, {s.failed} failed); "
          f"{s.usage.total_tokens} tokens, cost {cost} -> {out_path}", file=sys.stderr)
    failed = sum(1 for _ in _failed_lines(out_path))
    return 1 if failed else 0


def _failed_lines(path: str) -> Iterator[int]:
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if line.strip() and not json.loads(line).get("ok"):
                yield n


def run_batch_cli(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """Entry point for ``python -m llm_client_sync batch``: parsed args or an argv list."""
    if not isinstance(args, argparse.Namespace):
        parser = add_batch_arguments(argparse.ArgumentParser(prog="llm_client_sync batch"))
        args = parser.parse_args(list(args) if args is not None else None)
    from ..errors import LLMClientError

    try:
        return main_batch(args.input, args.out, model=args.model, workers=args.workers,
                          checkpoint=args.checkpoint, base_url=args.base_url, retries=args.retries,
                          rpm=args.rpm, tpm=args.tpm, max_completion_tokens=args.max_completion_tokens,
                          progress=not args.no_progress, batch_api=args.batch_api,
                          poll_interval=args.poll_interval,
                          stop_after_same_error=getattr(args, "stop_after_same_error", 5))
    except (LLMClientError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(run_batch_cli())
