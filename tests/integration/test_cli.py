"""The command line run as a subprocess: output, exit codes, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from llm_client_sync.testing import MockOpenAIServer


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(extra)
    return env


def _run(*args, env=None, input=None):
    return subprocess.run([sys.executable, "-m", "llm_client_sync", *args], capture_output=True, text=True,
                          timeout=60, env=env or _env(), input=input)


def test_demo_without_key_runs_agent_with_tools_against_local_server():
    out = _run("demo")
    assert out.returncode == 0, out.stderr
    assert "[tool] get_weather" in out.stdout and "[tool] search_web" in out.stdout
    assert "completed; 2 turns; 2 tool calls" in out.stdout
    assert "local server" in out.stderr


def test_chat_streams_from_the_configured_server():
    with MockOpenAIServer() as server:
        server.add_text("streamed answer here")
        out = _run("chat", "Hi", "--system", "Be brief",
                   env=_env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=server.base_url))
        sent = server.requests[0].json
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "streamed answer here"
    assert sent["messages"][0] == {"role": "system", "content": "Be brief"} and sent["stream"] is True


def test_chat_json_output():
    out = _run("chat", "Hello", "--json", "--local")
    import json

    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["content"] == "You said: Hello" and data["usage"]["total_tokens"] > 0


def test_api_error_exit_code_1_without_traceback():
    with MockOpenAIServer() as server:
        server.add_error(401, message="Incorrect API key provided")
        out = _run("chat", "Hi", env=_env(OPENAI_API_KEY="sk-bad", OPENAI_BASE_URL=server.base_url))
    assert out.returncode == 1, out.stderr
    assert "AuthenticationError" in out.stderr and "Traceback" not in out.stderr and "sk-bad" not in out.stderr


def test_usage_error_exit_code_2():
    out = _run("nope")
    assert out.returncode == 2 and "usage" in out.stderr.lower(), out.stderr
    bad = _run("tokens", "/definitely/missing/file.txt")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr


def test_chat_on_another_model_and_tokens_from_stdin():
    out = _run("chat", "Hi", "--local", "--model", "gpt-5", "--json")
    assert out.returncode == 0 and '"model": "gpt-5"' in out.stdout, out.stderr
    out = _run("tokens", input="hello world")
    assert out.returncode == 0 and out.stdout.split()[0].isdigit(), out.stderr


def test_models_table():
    out = _run("models")
    assert out.returncode == 0, out.stderr
    assert all(m in out.stdout for m in ("gpt-5-nano", "gpt-5.2", "text-embedding-3-small"))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_exits_130_cleanly():
    with MockOpenAIServer() as server:
        server.add_text("first then a long pause", stall_after=2, stall=10.0)
        proc = subprocess.Popen([sys.executable, "-m", "llm_client_sync", "chat", "Hi"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                env=_env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=server.base_url))
        try:
            assert proc.stdout.read(5) == "first"  # blocks until the first token is printed
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
        finally:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
