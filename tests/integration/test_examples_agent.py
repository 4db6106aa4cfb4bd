"""examples/agent_with_tools.py runs offline (no API key: it starts the local mock server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_agent_with_tools_example_runs_without_an_api_key():
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    env["LLM_CLIENT_SYNC_NO_DOTENV"] = "1"  # a developer's .env must not send the example online
    proc = subprocess.run([sys.executable, "examples/agent_with_tools.py", "What's the weather in Tokyo?"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == '-> get_weather({"city": "Tokyo"})'
    assert lines[1] == '-> search_web({"query": "Tokyo weather today"})'
    assert sorted(line.split(":")[0] for line in lines[2:4]) == ["<- get_weather", "<- search_web"]
    answer = "\n".join(lines[4:])
    assert "get_weather returned" in answer and "partly cloudy" in answer and "search_web returned" in answer
    assert lines[-1].startswith("[completed; 2 turns; 2 tool calls; ")
