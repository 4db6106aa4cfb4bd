"""The command line run as a subprocess: output, exit codes, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from llm_client_sync.testing import MockOpenAIServer


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_"))}
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


# -- issue 15: an honest command line ------------------------------------------------------------

def _check(out, code):
    assert out.returncode == code, f"exit {out.returncode}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    assert "Traceback" not in out.stderr, out.stderr


def test_version_names_package_and_python():
    from llm_client_sync import __version__

    out = _run("--version")
    _check(out, 0)
    assert __version__ in out.stdout


def test_every_argument_has_help_text():
    from llm_client_sync.cli import _parser

    parser = _parser()
    subs = next(a for a in parser._actions if a.dest == "command").choices
    missing = [f"{name} {action.dest}" for name, sub in subs.items() for action in sub._actions
               if action.dest != "help" and not action.help]
    assert missing == []
    assert "130" in parser.epilog and "exit codes" in parser.epilog


def test_chat_without_key_for_default_url_exits_2_and_says_how():
    out = _run("chat", "Hi")
    _check(out, 2)
    assert "OPENAI_API_KEY" in out.stderr and out.stdout == ""


def test_batch_without_key_exits_2_before_any_request(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('"hello"\n')
    out = _run("batch", str(src), "--out", str(tmp_path / "out.jsonl"))
    _check(out, 2)
    assert "OPENAI_API_KEY" in out.stderr


def test_chat_honours_base_url_without_key_like_ollama():
    with MockOpenAIServer() as server:
        server.add_text("from a keyless server")
        out = _run("chat", "Hi", env=_env(OPENAI_BASE_URL=server.base_url))
        auth = server.requests[0].headers.get("Authorization")
    _check(out, 0)
    assert out.stdout.strip() == "from a keyless server" and not auth
    assert "local server" not in out.stderr


def test_local_says_so_on_stderr():
    out = _run("chat", "Hi", "--local")
    _check(out, 0)
    assert "built-in local server" in out.stderr and out.stdout.strip() == "You said: Hi"


def test_chat_reads_stdin_and_strips_the_trailing_newline():
    with MockOpenAIServer() as server:
        out = _run("chat", env=_env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=server.base_url),
                   input="What is 2+2?\n")
        sent = server.requests[0].json
    _check(out, 0)
    assert sent["messages"][-1]["content"] == "What is 2+2?"


def test_demo_prints_the_failure_reason_and_exits_1():
    with MockOpenAIServer() as server:
        server.add_error(401, message="Incorrect API key provided: sk-bad")
        out = _run("demo", env=_env(OPENAI_API_KEY="sk-bad", OPENAI_BASE_URL=server.base_url))
    _check(out, 1)
    assert "Incorrect API key" in out.stderr and "AuthenticationError" in out.stderr


def test_tokens_of_a_binary_file_exits_2_without_traceback(tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    out = _run("tokens", str(blob))
    _check(out, 2)
    assert "not UTF-8" in out.stderr


def test_a_closed_pipe_is_not_a_traceback():
    # a long streamed answer fills the pipe; the reader leaves after one line, like `| head -1`
    proc = subprocess.Popen([sys.executable, "-m", "llm_client_sync", "chat", "--local"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    proc.stdin.write(b"word " * 60_000)
    proc.stdin.close()
    proc.stdout.read(1024)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_demo_runs_the_agent_over_each_native_provider_locally(provider):
    out = _run("demo", "--provider", provider)
    _check(out, 0)
    assert "[tool] get_weather" in out.stdout and "completed; 2 turns; 2 tool calls" in out.stdout
    assert "built-in local server" in out.stderr and provider.capitalize() in out.stderr


def test_chat_with_a_native_provider_needs_its_own_key():
    out = _run("chat", "Hi", "--provider", "anthropic", env=_env(OPENAI_API_KEY="sk-openai-only"))
    _check(out, 2)
    assert "ANTHROPIC_API_KEY" in out.stderr
