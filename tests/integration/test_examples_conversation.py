"""examples/conversation_management.py runs offline (no API key: it starts the local mock server)
and shows what it promises: truncation under each strategy, paired tool calls, branch, save/load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support import shared_dir


ROOT = Path(__file__).resolve().parents[2]


def run_example(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["LLM_CLIENT_SYNC_NO_DOTENV"] = "1"  # a developer's .env must not send the example online
    env.setdefault("TIKTOKEN_CACHE_DIR", str(shared_dir() / "tiktoken"))
    env["LLM_CLIENT_SYNC_TIKTOKEN_FETCH_TIMEOUT"] = "0"  # never the internet, even without encodings
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_conversation_management_example():
    out = run_example("examples/conversation_management.py")
    lines = out.splitlines()
    assert lines[0] in ("exact token counts: True", "exact token counts: False")
    assert "> What is a context window?" in lines and "You said: What is a context window?" in lines
    assert "  [tool] get_weather({'city': 'Tokyo'})" in lines
    assert "Here is what I found: get_weather returned 22 degrees and sunny in Tokyo." in lines
    history = next(line for line in lines if line.startswith("history: "))
    sent_tokens = int(history.split("sent: ")[1].split()[2])
    assert sent_tokens <= 160
    views = {line.split()[0]: line.split()[1] for line in lines
             if line.split() and line.split()[0] in ("drop_oldest", "sliding", "drop_middle")}
    assert set(views) == {"drop_oldest", "sliding", "drop_middle"}
    for strategy, roles in views.items():
        assert roles.startswith("S") and roles.endswith("UATA"), (strategy, roles)  # the tool round whole
    assert views["sliding"].startswith("SU")
    assert "~" in views["drop_middle"] and "~" not in views["sliding"] + views["drop_oldest"]
    assert "original still has 17 messages, the branch 5" in lines
    assert "saved and loaded 17 messages; same history: True" in lines
    assert any(line.startswith("too long: ") and int(line.split()[2]) > 0 for line in lines)
