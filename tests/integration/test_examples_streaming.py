"""The streaming examples run offline (no API key: they start the local mock server) and print
what they promise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_example(*args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["LLM_CLIENT_SYNC_NO_DOTENV"] = "1"  # a developer's .env must not send the examples online
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_provider_streaming_example():
    out = run_example("examples/provider_streaming.py")
    lines = out.splitlines()
    assert lines[0] == "Cold river at dawn, / stones remember every word / the water forgot."
    assert lines[1].startswith("[stop; ")
    assert "callbacks got 4 tokens: 'You said: Say hello'" in out
    assert "buffered: 'You said: Count to three'" in out
    assert "collected: 'You said: One more'" in out


def test_streaming_sse_example():
    pytest.importorskip("flask")
    out = run_example("examples/streaming_sse.py")
    lines = out.splitlines()
    assert lines[0] == "200 text/event-stream; charset=utf-8"
    events = [line.split()[0] for line in lines[1:]]
    assert events[-1] == "done" and events.count("token") == 6
    assert "You said: Tell me about SSE" in lines[-1]


def test_flask_chat_example_check_mode():
    pytest.importorskip("flask")
    out = run_example("examples/flask_chat/app.py", "--check")
    assert out.strip() == "You said: Hello from the check"
