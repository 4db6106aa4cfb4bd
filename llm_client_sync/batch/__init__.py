"""Batch work: the runner (``runner``) with its resumable checkpoint (``checkpoint``), the OpenAI
Batch API mode (``api``) and the command line (``cli``, which imports the runner, never the reverse).

    >>> from llm_client_sync.batch import BatchRunner
    >>> runner = BatchRunner(provider, max_workers=16, checkpoint="run.jsonl")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .checkpoint import Checkpoint, ItemState, fingerprint
from .runner import BatchResult, BatchRunner, BatchStats, error_from_dict, error_to_dict, read_results, write_results

__all__ = [
    "BatchAPIRunner",
    "BatchResult",
    "BatchRunner",
    "BatchStats",
    "Checkpoint",
    "ItemState",
    "error_from_dict",
    "error_to_dict",
    "fingerprint",
    "read_results",
    "run_batch_cli",
    "write_results",
]


def __getattr__(name: str) -> Any:
    # the Batch API mode and the CLI load on first use
    if name == "BatchAPIRunner":
        from .api import BatchAPIRunner

        return BatchAPIRunner
    if name == "run_batch_cli":
        from .cli import run_batch_cli

        return run_batch_cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
