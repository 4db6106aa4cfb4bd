"""BatchRunner on a local Dask cluster of worker processes: the driver alone writes the checkpoint,
workers rebuild the provider from its picklable config and read the API key from their env."""

from __future__ import annotations

import json
import os

import pytest

distributed = pytest.importorskip("distributed")

from llm_client_sync.batch import BatchRunner  # noqa: E402
from llm_client_sync.testing import MockOpenAIServer  # noqa: E402

OpenAIProvider = pytest.importorskip("llm_client_sync.providers.openai",
                                     reason="the OpenAI provider is not in this tree yet").OpenAIProvider


@pytest.fixture(scope="module")
def cluster():
    old = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = "sk-test-from-worker-env"  # worker processes inherit it
    try:
        yield from _cluster()
    finally:
        if old is None:
            os.environ.pop("OPENAI_API_KEY", None)
        else:
            os.environ["OPENAI_API_KEY"] = old


def _cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as c:
        with distributed.Client(c) as client:
            yield client


def test_dask_executor_runs_items_in_worker_processes(cluster, tmp_path):
    with MockOpenAIServer() as server:
        provider = OpenAIProvider(model="gpt-5-nano", api_key="sk-driver-secret", base_url=server.base_url)
        config = provider.to_config()
        assert "sk-driver-secret" not in json.dumps(config)
        ck = tmp_path / "run.jsonl"
        runner = BatchRunner(provider, checkpoint=str(ck), executor=cluster.get_executor(), max_workers=4)
        items = [{"id": f"i{i}", "messages": f"q{i}"} for i in range(40)]
        results = runner.run(items)
        auth = {r.headers.get("Authorization") for r in server.requests if r.path == "/v1/chat/completions"}
        provider.close()
    assert [r.result.content for r in results] == [f"You said: q{i}" for i in range(40)]
    assert auth == {"Bearer sk-test-from-worker-env"}  # the key came from the workers' environment
    text = ck.read_text()
    assert "sk-" not in text
    assert len(text.splitlines()) == 41
    # the providers were rebuilt inside the worker processes; the driver never made one
    rebuilt = cluster.run(_rebuilt_providers)
    assert sum(rebuilt.values()) >= 1
    assert _rebuilt_providers() == 0


def _rebuilt_providers() -> int:
    from llm_client_sync import batch

    return len(batch.runner._providers)
