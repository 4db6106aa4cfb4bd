"""``python -m llm_client_sync.batch input.jsonl --out results.jsonl``."""

from .cli import run_batch_cli

raise SystemExit(run_batch_cli())
