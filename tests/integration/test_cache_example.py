"""examples/basic_completions_fs_cache.py runs with no API key and shows a cache hit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "basic_completions_fs_cache.py"


def test_example_runs_without_a_key_and_hits_the_cache(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env.update(LLM_CLIENT_SYNC_NO_DOTENV="1", CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "cached=False" in lines[1] and "cached=True" in lines[2] and "cached=False" in lines[3]
    assert len(list((tmp_path / "cache" / "examples").rglob("*.json"))) == 2
