"""BatchRunner against the local server: 10,000 items with 20% faults, kill -9 crash tests,
Ctrl-C, the CLI, and the Batch API mode end to end."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from llm_client_sync.batch import BatchRunner, read_results, write_results
from llm_client_sync.batch.api import BatchAPIRunner
from llm_client_sync.errors import InternalServerError
from llm_client_sync.testing import MockOpenAIServer, error_response
from llm_client_sync.testing._batches import install_batch_routes
from llm_client_sync.transport import RetryPolicy

OpenAIProvider = pytest.importorskip("llm_client_sync.providers.openai",
                                     reason="the OpenAI provider is not in this tree yet").OpenAIProvider

FAST_RETRY = RetryPolicy(max_retries=3, base=0.001, cap=0.005)


@pytest.fixture(autouse=True, scope="module")
def no_nagle():
    """The server writes headers and body separately; with Nagle on, every response waits for the
    client's delayed ACK (~40 ms). TCP_NODELAY makes it ~1 ms."""
    from llm_client_sync.testing import _server

    old = _server._RequestHandler.disable_nagle_algorithm
    _server._RequestHandler.disable_nagle_algorithm = True
    yield
    _server._RequestHandler.disable_nagle_algorithm = old


def make_provider(server, **kw):
    provider = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url, **kw)
    provider.transport.retry = FAST_RETRY  # the default backoff (0.5 s) would dominate the run time
    return provider


def add_faults(server: MockOpenAIServer, rate: float, seed: int = 7) -> dict[str, int]:
    """Replace the chat route with one failing ``rate`` of calls: 429, 500 or a dropped connection."""
    rng = random.Random(seed)
    lock = threading.Lock()
    counts = {"429": 0, "500": 0, "drop": 0, "ok": 0}
    chat = server._chat

    def faulty(req):
        with lock:
            r = rng.random()
        if r < rate / 3:
            counts["429"] += 1
            return error_response(429, "Rate limit reached", type="requests", code="rate_limit_exceeded",
                                  headers={"retry-after-ms": "1"})
        if r < 2 * rate / 3:
            counts["500"] += 1
            return error_response(500, "The server had an error", type="server_error")
        if r < rate:
            counts["drop"] += 1
            return None  # the server cuts the connection
        counts["ok"] += 1
        return chat(req)

    server.route("POST", "/v1/chat/completions", faulty)
    return counts


def checkpoint_rows(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(x) for x in fh if x.strip()]
    assert rows[0]["llm_client_sync_batch"] == 1
    return rows[1:]


def assert_exactly_once(path, n: int) -> None:
    rows = checkpoint_rows(path)
    ok = [r["index"] for r in rows if r["ok"]]
    assert sorted(ok) == list(range(n)), "every item exactly once as a success"
    assert all(r["id"] == f"item-{r['index']}" for r in rows)


def _serve_with_faults(conn, rate: float) -> None:
    with MockOpenAIServer() as server:
        server.record_requests = False
        counts = add_faults(server, rate)
        conn.send(server.base_url)
        conn.recv()  # until the test says stop
        conn.send(counts)


class ServerProcess:
    """The local server in a forked process, so client and server each get a core (no shared GIL)."""

    def __init__(self, rate: float) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_with_faults, args=(child, rate), daemon=True)

    def __enter__(self) -> "ServerProcess":
        self.proc.start()
        self.base_url = self.conn.recv()
        return self

    def stop(self) -> dict[str, int]:
        self.conn.send("stop")
        counts = self.conn.recv()
        self.proc.join(10)
        return counts

    def __exit__(self, *exc) -> None:
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(10)


def test_10k_items_with_20_percent_faults_every_item_exactly_once(tmp_path):
    n = 10_000
    with ServerProcess(0.20) as server:
        provider = make_provider(server)
        ck = tmp_path / "run.jsonl"
        runner = BatchRunner(provider, max_workers=16, checkpoint=str(ck), retries=3, fsync="never")
        items = ({"id": f"item-{i}", "messages": f"q{i}", "max_completion_tokens": 5} for i in range(n))
        seen = [0] * n
        for res in runner.iter(items):
            seen[res.index] += 1
            assert res.ok, res.error
            assert res.result.content == f"You said: q{res.index}"
        provider.close()
        counts = server.stop()
    assert seen == [1] * n
    faults = counts["429"] + counts["500"] + counts["drop"]
    assert faults >= 0.15 * n and counts["drop"] > 100, counts
    assert runner.stats.succeeded == n and runner.stats.failed == 0
    assert runner.stats.usage.total_tokens > 0
    assert_exactly_once(ck, n)


CHILD = textwrap.dedent("""
    import json, sys
    from llm_client_sync.batch import BatchRunner
    from llm_client_sync.providers.openai import OpenAIProvider
    from llm_client_sync.transport import RetryPolicy
    base_url, ck, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    grace = float(sys.argv[4]) if len(sys.argv) > 4 else 5.0
    provider = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=base_url)
    provider.transport.retry = RetryPolicy(max_retries=3, base=0.001, cap=0.005)
    items = ({"id": f"item-{i}", "messages": f"q{i}"} for i in range(n))
    runner = BatchRunner(provider, max_workers=8, checkpoint=ck, retries=3, fsync="never", interrupt_grace=grace)
    try:
        for _ in runner.iter(items):
            pass
    except KeyboardInterrupt:
        sys.exit(130)
    print(json.dumps({"done": runner.stats.done}))
""")


def spawn(server, ck, n, *extra):
    env = {**os.environ, "LLM_CLIENT_SYNC_NO_DOTENV": "1"}
    return subprocess.Popen([sys.executable, "-c", CHILD, server.base_url, str(ck), str(n), *map(str, extra)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def wait_for_lines(path: Path, target: int, proc: subprocess.Popen, limit: float = 20.0) -> None:
    """Poll the checkpoint's growth (a file written by another process: no event to wait on)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if path.exists():
            with path.open("rb") as fh:
                if fh.read().count(b"\n") - 1 >= target:
                    return
        time.sleep(0.002)


def test_kill_9_at_random_points_then_resume_gives_every_item_exactly_once(tmp_path):
    n = 600
    rng = random.Random(2024)
    ck = tmp_path / "run.jsonl"
    kills = 0
    with MockOpenAIServer(latency=0.002) as server:
        server.record_requests = False
        add_faults(server, 0.05, seed=11)
        targets = sorted(rng.sample(range(0, n - 60), 12))
        for target in targets:
            proc = spawn(server, ck, n)
            wait_for_lines(ck, target, proc)
            time.sleep(rng.random() * 0.01)  # a random moment, also mid-write
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=20)
        proc = spawn(server, ck, n)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()[-2000:]
    assert kills >= 10
    assert_exactly_once(ck, n)
    results = list(read_results(str(ck)))
    assert [r.index for r in results] == list(range(n)) and all(r.ok for r in results)
    out_path = tmp_path / "results.jsonl"
    assert write_results(str(ck), str(out_path)) == n


class Gate:
    """Answers the first ``open_for`` chat requests, then holds every later one until released, so
    a test knows exactly how many items finished and that the rest are in flight."""

    def __init__(self, server: MockOpenAIServer, open_for: int) -> None:
        self.open_for = open_for
        self.cond = threading.Condition()
        self.seen = self.held = 0
        self.released = False
        self._chat = server._chat
        server.route("POST", "/v1/chat/completions", self.handle)

    def handle(self, req):
        with self.cond:
            self.seen += 1
            if self.seen > self.open_for:
                self.held += 1
                self.cond.notify_all()
                self.cond.wait_for(lambda: self.released, timeout=30)
        return self._chat(req)

    def wait_held(self, n: int, timeout: float = 30.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.held >= n, timeout=timeout)

    def release(self) -> None:
        with self.cond:
            self.released = True
            self.cond.notify_all()


def test_ctrl_c_stops_cleanly_and_the_checkpoint_resumes(tmp_path):
    """Deterministic: 50 answers, then one request per worker held at the server; Ctrl-C; the child
    records exactly the 50 answered items, abandons the held ones after its grace (and says so),
    and exits 130 once they return; a rerun finishes every item exactly once."""
    n, answered, workers = 400, 50, 8
    ck = tmp_path / "run.jsonl"
    with MockOpenAIServer() as server:
        server.record_requests = False
        gate = Gate(server, answered)
        said: list[str] = []
        abandoned = threading.Event()

        def read_stderr(stream) -> None:
            for line in iter(stream.readline, b""):
                said.append(line.decode(errors="replace"))
                if b"abandoned" in line:
                    abandoned.set()

        try:
            proc = spawn(server, ck, n, 0.2)
            reader = threading.Thread(target=read_stderr, args=(proc.stderr,), daemon=True)
            reader.start()
            assert gate.wait_held(workers), "the child never had all its workers in flight"
            wait_for_lines(ck, answered, proc)  # every answered item recorded: nothing left in flight but the held
            proc.send_signal(signal.SIGINT)
            assert abandoned.wait(30), "".join(said)[-2000:]
        finally:
            gate.release()  # the abandoned requests return; the child's worker threads can end
        assert proc.wait(timeout=30) == 130, "".join(said)[-2000:]
        reader.join(10)
        rows = checkpoint_rows(ck)
        assert len(rows) == answered and len({r["index"] for r in rows}) == answered
        with ck.open("rb") as fh:
            assert fh.read().endswith(b"\n")  # no torn line after a clean stop
        proc = spawn(server, ck, n)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()[-2000:]
    assert_exactly_once(ck, n)


def test_cli_runs_a_jsonl_file_and_resumes(tmp_path):
    inp = tmp_path / "input.jsonl"
    lines = ['"hello"', '[{"role": "user", "content": "as messages"}]',
             '{"id": "x", "messages": "with id", "max_completion_tokens": 10}']
    inp.write_text("\n".join(lines) + "\n")
    out = tmp_path / "results.jsonl"
    with MockOpenAIServer() as server:
        env = {**os.environ, "OPENAI_API_KEY": "test", "LLM_CLIENT_SYNC_NO_DOTENV": "1"}
        cmd = [sys.executable, "-m", "llm_client_sync.batch", str(inp), "--out", str(out),
               "--base-url", server.base_url, "--workers", "2", "--no-progress"]
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert [r["id"] for r in rows] == ["0", "1", "x"]
        assert rows[1]["result"]["content"] == "You said: as messages"
        again = subprocess.run(cmd, env=env, capture_output=True, timeout=60)
        assert again.returncode == 0, again.stderr.decode()
        assert "3 from checkpoint" in again.stderr.decode()


def test_cli_batch_api_mode(tmp_path):
    inp = tmp_path / "input.jsonl"
    inp.write_text('"first"\n{"id": "two", "messages": "second"}\n')
    out = tmp_path / "results.jsonl"
    with MockOpenAIServer() as server:
        install_batch_routes(server)
        env = {**os.environ, "OPENAI_API_KEY": "test", "LLM_CLIENT_SYNC_NO_DOTENV": "1"}
        cmd = [sys.executable, "-m", "llm_client_sync.batch", str(inp), "--out", str(out), "--batch-api",
               "--poll-interval", "0.01", "--base-url", server.base_url]
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr.decode()
        assert "completed" in done.stderr.decode()
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["id"], r["result"]["content"]) for r in rows] == [("0", "You said: first"), ("two", "You said: second")]


def test_batch_api_mode_end_to_end_with_an_error_line_and_resume(tmp_path):
    with MockOpenAIServer() as server:
        install_batch_routes(server)
        provider = make_provider(server)
        state = tmp_path / "job.json"
        slept: list[float] = []
        job = BatchAPIRunner(provider, state_path=str(state), poll_interval=2.0, backoff=2.0, sleep=slept.append)
        items = ["one", {"id": "b", "messages": "two"}, "three"]
        batch = job.submit(items)
        assert batch["status"] == "validating"
        server.add_error(500, message="line failed")  # consumed by the first line the batch runs
        again = BatchAPIRunner(provider, state_path=str(state), poll_interval=2.0, backoff=2.0,
                               sleep=slept.append)
        results = again.run(items)  # resumes the recorded batch id: no second upload
        uploads = [r for r in server.requests if r.path == "/v1/files" and r.method == "POST"]
        assert len(uploads) == 1
        assert slept == [2.0, 4.0]
        assert [r.id for r in results] == ["0", "b", "2"]
        assert isinstance(results[0].error, InternalServerError)
        assert results[1].result.content == "You said: two"
        assert results[2].result.cost is not None
        provider.close()


@pytest.mark.parametrize("api, endpoint", [("chat", "/v1/chat/completions"), ("responses", "/v1/responses")])
def test_a_batch_api_result_equals_what_complete_returns_for_the_same_body(api, endpoint):
    """One parser per wire protocol: finish reasons, choices, output items and usage survive (the
    Batch API had a third parser that lost them); only the price differs (half)."""
    from dataclasses import replace

    from llm_client_sync.testing import TextReply, ToolCallReply

    items = [{"id": "text", "messages": "say hi", "n": 2} if api == "chat" else {"id": "text", "messages": "say hi"},
             {"id": "tool", "messages": "weather in Paris", "tools": [WEATHER]}]
    with MockOpenAIServer() as server:
        install_batch_routes(server)
        provider = OpenAIProvider(model="gpt-5-nano", api_key="test", base_url=server.base_url, api=api)
        replies = [TextReply(text="Hi there", finish_reason="length"), ToolCallReply(calls=[("get_weather", {"city": "Paris"})])]
        direct = []
        for item, reply in zip(items, replies):
            server.add(reply)
            params = {k: v for k, v in item.items() if k not in ("id", "messages")}
            direct.append(provider.complete(item["messages"], **params))
        for reply in replies:
            server.add(reply)
        job = BatchAPIRunner(provider, endpoint=endpoint, poll_interval=0.0, sleep=lambda s: None)
        batched = job.run(items)
        provider.close()
    def comparable(r):
        """Drop what the local server makes up per call (ids, token counts) and the price."""
        calls = tuple(replace(c, id="") for c in r.tool_calls)
        choices = tuple(replace(c, tool_calls=tuple(replace(t, id="") for t in c.tool_calls)) for c in r.choices)
        items = [{k: v for k, v in dict(it).items() if k not in ("id", "call_id", "encrypted_content")}
                 for it in r.output_items]
        return replace(r, tool_calls=calls, choices=choices, output_items=(), usage=None, cost=None, request_id=None,
                       raw=None, response_id=None), items

    for res, want in zip(batched, direct):
        got = res.result
        assert got is not None, res.error
        assert got.cost == pytest.approx(provider.profile.cost(got.usage.prompt_tokens, got.usage.completion_tokens,
                                                               got.usage.cached_tokens) * 0.5)
        assert comparable(got) == comparable(want)
    assert direct[0].finish_reason == "length" and direct[1].tool_calls[0].name == "get_weather"
    if api == "chat":
        assert len(batched[0].result.choices) == 2
    else:
        assert batched[1].result.output_items


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}


def test_batch_api_runner_shows_its_polling_state(caplog, capsys):
    with MockOpenAIServer() as server:
        install_batch_routes(server)
        provider = make_provider(server)
        job = BatchAPIRunner(provider, poll_interval=3.0, sleep=lambda s: None, progress=True)
        with caplog.at_level("INFO", logger="llm_client_sync.batch"):
            job.run(["a", "b"])
        provider.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1].split(",")[0].split(" ")[0] for line in lines] == ["in_progress", "finalizing",
                                                                                    "completed"]
    assert "next poll in 3s" in lines[0] and "next poll" not in lines[-1] and "2/2 done" in lines[-1]
    assert len([r for r in caplog.records if r.getMessage().startswith("batch ")]) == len(lines)


def test_cli_stops_after_five_identical_401s_and_leaves_the_rest_pending(tmp_path):
    inp = tmp_path / "input.jsonl"
    inp.write_text("".join(f'"prompt {i}"\n' for i in range(300)))
    out = tmp_path / "results.jsonl"
    with MockOpenAIServer() as server:
        server.route("POST", "/v1/chat/completions", lambda req: error_response(
            401, "Incorrect API key provided: sk-bad. You can find your API key at ...", code="invalid_api_key"))
        env = {**os.environ, "OPENAI_API_KEY": "sk-bad", "LLM_CLIENT_SYNC_NO_DOTENV": "1"}
        cmd = [sys.executable, "-m", "llm_client_sync.batch", str(inp), "--out", str(out),
               "--base-url", server.base_url, "--workers", "4", "--no-progress"]
        done = subprocess.run(cmd, env=env, capture_output=True, timeout=60)
        sent = len([r for r in server.requests if r.path == "/v1/chat/completions"])
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "stopped early" in err and "AuthenticationError" in err and "Incorrect API key" in err
    assert sent == 5, sent  # not 300: until one item succeeds, at most 5 are in flight
    rows = [json.loads(x) for x in (tmp_path / "results.jsonl.checkpoint.jsonl").read_text().splitlines()[1:]]
    assert len(rows) == sent and not any(r["ok"] for r in rows)
    assert not out.exists()


def test_cli_progress_without_tqdm_is_a_plain_line_on_stderr(tmp_path):
    inp = tmp_path / "input.jsonl"
    inp.write_text('"a"\n"b"\n"c"\n')
    out = tmp_path / "results.jsonl"
    code = ("import sys; sys.modules['tqdm'] = None\n"
            "from llm_client_sync.batch.cli import run_batch_cli\n"
            "raise SystemExit(run_batch_cli(sys.argv[1:]))")
    with MockOpenAIServer() as server:
        env = {**os.environ, "OPENAI_API_KEY": "test", "LLM_CLIENT_SYNC_NO_DOTENV": "1"}
        done = subprocess.run([sys.executable, "-c", code, str(inp), "--out", str(out), "--base-url",
                               server.base_url], env=env, capture_output=True, timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert "batch: 3/3 items" in err
