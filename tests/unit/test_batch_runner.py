"""BatchRunner with a fake provider: order, errors on items, checkpoints, resume, Ctrl-C, memory."""

from __future__ import annotations

import json
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor

import pytest

from llm_client_sync.batch import BatchResult, BatchRunner, error_from_dict, error_to_dict, read_results, write_results
from llm_client_sync.errors import ConfigurationError, InternalServerError, LLMClientError, RateLimitError
from llm_client_sync.types import CompletionResult, Usage


class FakeProvider:
    """Echoes; prompts starting with 'fail' raise, 'flaky' fails on its first try."""

    model = "fake-model"

    def __init__(self, model: str = "fake-model", record: bool = True) -> None:
        self.model = model
        self.record = record
        self.calls: list[object] = []
        self.lock = threading.Lock()
        self.seen: set[str] = set()

    def complete(self, prompt, **params):
        text = prompt if isinstance(prompt, str) else json.dumps(prompt)
        if not self.record:
            return CompletionResult(content=text, usage=Usage(3, 2, 5))
        with self.lock:
            self.calls.append(prompt)
            first = text not in self.seen
            self.seen.add(text)
        if text.startswith("fail"):
            raise InternalServerError("HTTP 500: boom", status_code=500)
        if text.startswith("flaky") and first:
            raise RateLimitError("HTTP 429: slow down", status_code=429)
        return CompletionResult(content=f"echo {text} {params.get('temperature', '')}".strip(),
                                usage=Usage(3, 2, 5), cost=0.001, model=self.model)

    def to_config(self):
        return {"model": self.model}

    @classmethod
    def from_config(cls, config):
        return cls(config["model"])


def lines(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(x) for x in fh if x.strip()]


def test_results_come_back_in_input_order_with_ids():
    items = ["a", [{"role": "user", "content": "b"}], {"id": "c-1", "messages": "c", "temperature": 1}]
    results = BatchRunner(FakeProvider(), max_workers=3).run(items)
    assert [r.index for r in results] == [0, 1, 2]
    assert [r.id for r in results] == ["0", "1", "c-1"]
    assert results[0].result.content == "echo a"
    assert results[2].result.content == "echo c 1"
    assert all(r.ok and r.attempts == 1 and not r.resumed for r in results)


def test_iter_yields_every_item_once_as_they_finish():
    got = list(BatchRunner(FakeProvider(), max_workers=4).iter(f"p{i}" for i in range(100)))
    assert sorted(r.index for r in got) == list(range(100))


def test_worker_errors_land_on_their_item():
    results = BatchRunner(FakeProvider(), max_workers=2).run(["ok", "fail me", {"no": "messages"}])
    assert results[0].ok
    assert isinstance(results[1].error, InternalServerError) and results[1].result is None
    assert isinstance(results[2].error, ConfigurationError)


def test_runner_params_apply_and_items_override():
    results = BatchRunner(FakeProvider(), params={"temperature": 1}).run(["a", {"prompt": "b", "temperature": 2}])
    assert [r.result.content for r in results] == ["echo a 1", "echo b 2"]


def test_stats_total_usage_cost_and_progress_callback():
    seen = []
    runner = BatchRunner(FakeProvider(), on_progress=seen.append)
    runner.run(["a", "b", "fail"])
    s = runner.stats
    assert (s.succeeded, s.failed, s.skipped, s.total) == (2, 1, 0, 3)
    assert s.usage.total_tokens == 10 and s.cost == pytest.approx(0.002)
    assert [x.done for x in seen] == [1, 2, 3]


def test_progress_bar_runs_when_tqdm_is_installed(capsys):
    pytest.importorskip("tqdm")
    BatchRunner(FakeProvider(), progress=True).run(["a", "b"])
    assert "2/2" in capsys.readouterr().err


def test_in_run_retries_for_transient_errors():
    provider = FakeProvider()
    results = BatchRunner(provider, retries=1).run(["flaky x", "fail y"])
    assert results[0].ok and results[0].attempts == 2
    assert not results[1].ok and results[1].attempts == 2  # a 500 is transient too: tried twice


def test_checkpoint_resume_skips_finished_and_retries_failed(tmp_path):
    ck = str(tmp_path / "run.jsonl")
    first = BatchRunner(FakeProvider(), checkpoint=ck).run(["a", "flaky b", "c"])
    assert [r.ok for r in first] == [True, False, True]
    provider = FakeProvider()
    provider.seen.add("flaky b")  # the second run's first try succeeds
    second = BatchRunner(provider, checkpoint=ck).run(["a", "flaky b", "c"])
    assert provider.calls == ["flaky b"]
    assert [r.ok for r in second] == [True, True, True]
    assert [r.resumed for r in second] == [True, False, True]
    assert second[1].attempts == 2
    assert second[0].result.content == "echo a"
    recs = lines(ck)
    assert recs[0]["llm_client_sync_batch"] == 1 and recs[0]["model"] == "fake-model"
    assert sum(1 for r in recs[1:] if r["ok"]) == 3


def test_torn_last_line_is_repaired_and_the_item_runs_again(tmp_path):
    ck = tmp_path / "run.jsonl"
    BatchRunner(FakeProvider(), checkpoint=str(ck)).run(["a", "b"])
    data = ck.read_bytes().rstrip(b"\n")
    cut = data.rfind(b"\n") + 1
    ck.write_bytes(data[: cut + 25])  # half of the last line, no newline
    provider = FakeProvider()
    results = BatchRunner(provider, checkpoint=str(ck)).run(["a", "b"])
    assert len(provider.calls) == 1
    assert all(r.ok for r in results)
    assert len(lines(ck)) == 3


def test_checkpoint_for_different_input_is_refused(tmp_path):
    ck = str(tmp_path / "run.jsonl")
    BatchRunner(FakeProvider(), checkpoint=ck).run(["a", "b"])
    with pytest.raises(ConfigurationError, match="different input"):
        BatchRunner(FakeProvider(), checkpoint=ck).run(["a", "CHANGED"])
    with pytest.raises(ConfigurationError, match="different input"):
        BatchRunner(FakeProvider(), checkpoint=ck).run(["a"])
    with pytest.raises(ConfigurationError, match="model"):
        BatchRunner(FakeProvider("other-model"), checkpoint=ck).run(["a", "b"])


def test_not_a_checkpoint_is_refused_and_a_corrupt_middle_is_repaired(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"hello": 1}\n')
    with pytest.raises(ConfigurationError, match="not a llm_client_sync"):
        BatchRunner(FakeProvider(), checkpoint=str(bad)).run(["a"])
    assert bad.read_text() == '{"hello": 1}\n'  # refused untouched
    ck = tmp_path / "run.jsonl"
    BatchRunner(FakeProvider(), checkpoint=str(ck)).run(["a", "b", "c"])
    rows = ck.read_text().splitlines()
    damaged = json.loads(rows[2])["index"]
    rows[2] = rows[2][:10]
    ck.write_text("\n".join(rows) + "\n")
    provider = FakeProvider()
    results = BatchRunner(provider, checkpoint=str(ck)).run(["a", "b", "c"])
    assert [r.ok for r in results] == [True] * 3
    assert provider.calls == [["a", "b", "c"][damaged]]  # only the damaged record's item ran again


def test_keyboard_interrupt_stops_cleanly_and_resume_finishes_exactly_once(tmp_path):
    ck = str(tmp_path / "run.jsonl")
    items = [f"p{i}" for i in range(50)]

    def stop_after_ten(stats):
        if stats.done == 10:
            raise KeyboardInterrupt

    runner = BatchRunner(FakeProvider(), max_workers=4, checkpoint=ck, on_progress=stop_after_ten)
    with pytest.raises(KeyboardInterrupt):
        runner.run(items)
    assert runner.stopped
    recorded = lines(ck)[1:]
    assert 10 <= len(recorded) < 50  # the in-flight ones were allowed to finish
    assert len({r["index"] for r in recorded}) == len(recorded)
    provider = FakeProvider()
    results = BatchRunner(provider, checkpoint=ck).run(items)
    assert [r.index for r in results] == list(range(50))
    assert len(provider.calls) == 50 - len(recorded)
    out = tmp_path / "out.jsonl"
    assert write_results(ck, str(out)) == 50
    assert [r["index"] for r in lines(out)] == list(range(50))


def test_generator_input_is_consumed_only_a_bounded_window_ahead():
    consumed = 0
    yielded = 0
    ahead = []

    def source():
        nonlocal consumed
        for i in range(2000):
            consumed += 1
            ahead.append(consumed - yielded)
            yield f"p{i}"

    runner = BatchRunner(FakeProvider(), max_workers=4)
    for _ in runner.iter(source()):
        yielded += 1
    assert yielded == 2000
    assert max(ahead) <= runner.max_in_flight + 1


def test_memory_stays_flat_for_a_long_iterator(tmp_path):
    import tracemalloc

    def peak(n):
        runner = BatchRunner(FakeProvider(record=False), max_workers=4,
                             checkpoint=str(tmp_path / f"m{n}.jsonl"))
        tracemalloc.start()
        for _ in runner.iter(f"p{i}" for i in range(n)):
            pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, big = peak(500), peak(5000)
    # per-item checkpoint state is ~18 bytes; results themselves are never held
    assert big - small < 10 * 4500 + 200_000


def test_read_results_gives_the_latest_record_per_item(tmp_path):
    ck = str(tmp_path / "run.jsonl")
    BatchRunner(FakeProvider(), checkpoint=ck).run(["a", "flaky b"])
    p = FakeProvider()
    p.seen.add("flaky b")
    BatchRunner(p, checkpoint=ck).run(["a", "flaky b"])
    got = list(read_results(ck))
    assert [(r.index, r.ok) for r in got] == [(0, True), (1, True)]


def test_process_pool_executor_rebuilds_the_provider_from_config(tmp_path):
    # spawn: the workers share nothing with this process (as on macOS/Windows, and without forking
    # a process that has threads, which Python 3.12+ warns about)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = BatchRunner(FakeProvider(), executor=pool, checkpoint=str(tmp_path / "c.jsonl")).run(
            ["a", "fail b", "c"])
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, InternalServerError) and results[1].error.status_code == 500
    assert results[2].result.content == "echo c"


def test_batch_result_round_trip_and_error_rebuild():
    err = RateLimitError("HTTP 429: x", status_code=429, request_id="req_1")
    r = BatchResult("a", 3, error=err, attempts=2)
    back = BatchResult.from_dict(json.loads(json.dumps(r.to_dict())))
    assert isinstance(back.error, RateLimitError) and back.error.status_code == 429
    assert back.error.request_id == "req_1" and back.attempts == 2 and back.resumed
    odd = error_from_dict(error_to_dict(ValueError("bad")))
    assert isinstance(odd, LLMClientError) and "ValueError: bad" in str(odd)


def test_invalid_settings_are_refused():
    with pytest.raises(ConfigurationError):
        BatchRunner(FakeProvider(), max_workers=0)
    with pytest.raises(ConfigurationError):
        BatchRunner(FakeProvider(), retries=-1)
    with pytest.raises(ConfigurationError):
        BatchRunner(FakeProvider(), checkpoint="x.jsonl", fsync="sometimes").run(["a"])
