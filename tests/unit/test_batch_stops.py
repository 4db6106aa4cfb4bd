"""BatchRunner stops cleanly (budget, the same non-retryable error on every item), shows progress,
and takes any Provider: a plain class drives it."""

from __future__ import annotations

import io
import json
import sys
import threading

import pytest

from llm_client_sync.batch import BatchRunner, read_results
from llm_client_sync.batch import runner as runner_mod
from llm_client_sync.errors import AuthenticationError, BadRequestError, BudgetExceededError, InternalServerError
from llm_client_sync.models import get_profile
from llm_client_sync.providers.base import Provider
from llm_client_sync.types import CompletionResult, Usage


class PlainProvider:
    """A provider written from the protocol alone (no library base class)."""

    def __init__(self, fail: BaseException | None = None, budget_calls: int | None = None,
                 fail_on: set[str] | None = None) -> None:
        self.model = "gpt-5-nano"
        self.profile = get_profile("gpt-5-nano")
        self.fail, self.budget_calls, self.fail_on = fail, budget_calls, fail_on or set()
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def complete(self, prompt=None, **params):
        with self.lock:
            if self.budget_calls is not None and len(self.calls) >= self.budget_calls:
                raise BudgetExceededError("budget of $0.01 reached", spent=0.01, limit=0.01, estimate=0.001)
            self.calls.append(prompt)
        if self.fail is not None or prompt in self.fail_on:
            raise self.fail or BadRequestError("HTTP 400: bad item", status_code=400)
        return CompletionResult(content=f"echo {prompt}", usage=Usage(3, 2, 5), cost=0.001, model=self.model,
                                provider="plain")

    def stream(self, prompt=None, **params):
        raise NotImplementedError

    def embed(self, texts, dimensions=None, **kw):
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_a_plain_provider_class_drives_the_runner(tmp_path):
    provider = PlainProvider()
    assert isinstance(provider, Provider)
    ck = tmp_path / "run.jsonl"
    results = BatchRunner(provider, max_workers=2, checkpoint=str(ck)).run(["a", "b"])
    assert [r.result.content for r in results] == ["echo a", "echo b"]
    assert json.loads(ck.read_text().splitlines()[0])["model"] == "gpt-5-nano"
    # the checkpoint keeps the result's own accounting (provider, cost)
    back = list(read_results(str(ck)))
    assert [(r.result.provider, r.result.cost) for r in back] == [("plain", 0.001)] * 2


def test_every_item_failing_with_the_same_401_stops_after_five(tmp_path):
    provider = PlainProvider(fail=AuthenticationError("HTTP 401: Incorrect API key provided", status_code=401))
    ck = tmp_path / "run.jsonl"
    runner = BatchRunner(provider, max_workers=1, checkpoint=str(ck), retries=2)
    results = runner.run([f"p{i}" for i in range(300)])
    assert len(provider.calls) == 5  # not 300
    assert runner.stats.stopped == "repeated_error"
    assert isinstance(runner.stats.stop_error, AuthenticationError)
    assert sum(1 for r in results if r.attempts == 0) == 295
    rows = ck.read_text().splitlines()[1:]
    assert len(rows) == 5  # everything else stays pending
    again = PlainProvider()
    BatchRunner(again, max_workers=4, checkpoint=str(ck)).run([f"p{i}" for i in range(300)])
    assert len(again.calls) == 300  # the failed five run again too


def test_with_many_workers_a_bad_key_still_costs_five_requests(tmp_path):
    provider = PlainProvider(fail=AuthenticationError("HTTP 401: bad key", status_code=401))
    runner = BatchRunner(provider, max_workers=8, checkpoint=str(tmp_path / "run.jsonl"))
    runner.run([f"p{i}" for i in range(300)])
    assert runner.stats.stopped == "repeated_error"
    assert len(provider.calls) == 5  # at most 5 in flight until an item succeeds


@pytest.mark.parametrize("fail_on, expected_calls", [
    ({"p0", "p1", "p2", "p3", "p4"} - {"p2"}, 40),  # a success among the failures: no stop
])
def test_failures_mixed_with_successes_never_stop(fail_on, expected_calls):
    provider = PlainProvider(fail_on=fail_on)
    runner = BatchRunner(provider, max_workers=4)
    runner.run([f"p{i}" for i in range(40)])
    assert runner.stats.stopped is None and len(provider.calls) == expected_calls


def test_different_errors_or_transient_errors_never_stop():
    class Mixed(PlainProvider):
        def complete(self, prompt=None, **params):
            with self.lock:
                self.calls.append(prompt)
                n = len(self.calls)
            if n % 2:
                raise InternalServerError("HTTP 500", status_code=500)
            raise BadRequestError("HTTP 400", status_code=400)

    provider = Mixed()
    runner = BatchRunner(provider, max_workers=1)
    runner.run([f"p{i}" for i in range(12)])
    assert runner.stats.stopped is None and len(provider.calls) == 12
    off = PlainProvider(fail=AuthenticationError("HTTP 401", status_code=401))
    runner = BatchRunner(off, max_workers=1, stop_after_same_error=None)
    runner.run([f"p{i}" for i in range(12)])
    assert len(off.calls) == 12


def test_budget_exceeded_stops_cleanly_and_resumes_after_the_budget_is_raised(tmp_path):
    k = 7
    provider = PlainProvider(budget_calls=k)
    ck = tmp_path / "run.jsonl"
    items = [f"p{i}" for i in range(50)]
    runner = BatchRunner(provider, max_workers=3, checkpoint=str(ck))
    results = runner.run(items)
    assert runner.stats.stopped == "budget_exceeded"
    assert isinstance(runner.stats.stop_error, BudgetExceededError)
    assert runner.stats.succeeded == k and runner.stats.failed == 0
    assert sum(r.ok for r in results) == k
    rows = [json.loads(x) for x in ck.read_text().splitlines()[1:]]
    assert len(rows) == k and all(r["ok"] for r in rows)  # the refused item is not recorded: pending
    provider.budget_calls = None  # the budget is raised
    again = BatchRunner(provider, max_workers=3, checkpoint=str(ck))
    results = again.run(items)
    assert again.stats.stopped is None and again.stats.skipped == k and again.stats.succeeded == 50 - k
    assert all(r.ok for r in results) and len(provider.calls) == 50


def test_progress_without_tqdm_prints_a_plain_periodic_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    now = [0.0]

    class Slow(PlainProvider):
        def complete(self, prompt=None, **params):
            now[0] += 0.5  # every item takes half a second
            return super().complete(prompt, **params)

    runner = BatchRunner(Slow(), max_workers=1, progress=True, progress_interval=2.0, clock=lambda: now[0])
    runner.run([f"p{i}" for i in range(20)])
    lines = err.getvalue().splitlines()
    assert 3 <= len(lines) <= 10, lines
    assert lines[-1].startswith("batch: 20/20 items")
    assert all(line.startswith("batch: ") for line in lines)


def test_progress_uses_tqdm_when_installed(monkeypatch):
    made = []

    class FakeTqdm:
        def __init__(self, **kw):
            made.append(kw)
            self.n = 0

        def update(self, n=1):
            self.n += n

        def set_postfix(self, **kw):
            pass

        def close(self):
            made.append(self.n)

    fake = type(sys)("tqdm")
    fake.tqdm = FakeTqdm
    monkeypatch.setitem(sys.modules, "tqdm", fake)
    BatchRunner(PlainProvider(), max_workers=2, progress=True).run(["a", "b", "c"])
    assert made[0]["total"] == 3 and made[-1] == 3


def test_bad_arguments_are_configuration_errors():
    from llm_client_sync.errors import ConfigurationError

    for kw in ({"max_workers": 0}, {"max_workers": "4"}, {"retries": -1}, {"stop_after_same_error": 0}):
        with pytest.raises(ConfigurationError):
            BatchRunner(PlainProvider(), **kw)
    with pytest.raises(ConfigurationError, match="Provider"):
        BatchRunner(object())
    assert runner_mod.BatchRunner is BatchRunner


def test_a_recorded_success_that_cannot_be_read_back_runs_again(tmp_path):
    ck = tmp_path / "run.jsonl"
    BatchRunner(PlainProvider(), max_workers=1, checkpoint=str(ck)).run(["a", "b"])
    lines = ck.read_text().splitlines()
    rec = json.loads(lines[1])
    rec["result"] = {"content": "x", "usage": "not usage", "choices": 7}
    lines[1] = json.dumps(rec)
    ck.write_text("\n".join(lines) + "\n")
    provider = PlainProvider()
    results = BatchRunner(provider, max_workers=1, checkpoint=str(ck)).run(["a", "b"])
    assert provider.calls == [["a", "b"][rec["index"]]]
    assert all(r.ok for r in results)
