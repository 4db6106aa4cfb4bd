"""Batch API mode against the recorded batch/file exchanges and the official OpenAPI spec."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from support import require_service, shared_dir

from llm_client_sync.batch.api import BatchAPIRunner, build_batch_lines, parse_batch_output
from llm_client_sync.errors import BadRequestError, RateLimitError
from llm_client_sync.models import GPT5Nano

WIRE = shared_dir() / "openai-wire"
EX = WIRE / "exchanges"
SPEC = WIRE / "openapi" / "openapi.yaml"


def exchange(name: str) -> dict:
    path = EX / name
    if not path.exists():
        require_service(f"recorded exchange {name} not found in {EX}")
    return json.loads(path.read_text())


class Response(SimpleNamespace):
    def json(self):
        return json.loads(self.content)


class ReplayProvider:
    """Answers ``request`` from recorded exchanges, checking method and path templates."""

    profile = GPT5Nano

    def __init__(self, *names: str) -> None:
        self.script = [exchange(n) for n in names]
        self.sent: list[tuple[str, str, dict]] = []

    def request(self, method, path, json=None, files=None, data=None, params=None, stream=False):
        ex = self.script.pop(0)
        template = ex["endpoint"].replace("/v1", "", 1)
        prefix = template.split("{")[0]
        assert method == ex["method"] and path.startswith(prefix), (method, path, ex["endpoint"])
        self.sent.append((method, path, {"json": json, "files": files, "data": data}))
        body = ex.get("response_body_raw") or ex["response_body"]
        content = body.encode() if isinstance(body, str) else __import__("json").dumps(body).encode()
        return Response(status_code=ex["status"], headers=ex["response_headers"], content=content)


ITEMS = ["What is 2 + 2? Just the number.", "Name the largest planet in our solar system. One word."]


def test_recorded_batch_round_trip_maps_results_by_custom_id(tmp_path):
    provider = ReplayProvider("files_upload_batch_input__ruby_llm.json", "batches_create__ruby_llm.json",
                              "batches_retrieve_completed__ruby_llm.json",
                              "files_content_batch_output_jsonl__ruby_llm.json")
    slept = []
    job = BatchAPIRunner(provider, endpoint="/v1/responses", state_path=str(tmp_path / "job.json"),
                         sleep=slept.append)
    results = job.run(ITEMS)
    assert [r.id for r in results] == ["0", "1"]
    assert [r.result.content for r in results] == ["4", "Jupiter"]
    first = results[0].result
    assert first.usage.prompt_tokens == 18 and first.usage.completion_tokens == 109
    assert first.usage.reasoning_tokens == 64
    assert first.request_id == "792c1a99-eabf-4ce2-82bf-f0256f7de7f1"
    # Batch API price is half the synchronous one
    full = GPT5Nano.cost(18, 109)
    assert first.cost == pytest.approx(full / 2)
    state = json.loads((tmp_path / "job.json").read_text())
    assert state["batch_id"] == "batch_6a85c08a63188190982c56b42faa4ff5"
    assert slept == []  # the recorded retrieve was already completed
    # what we uploaded has the shape of the recorded upload: one request per line
    upload = provider.sent[0][2]
    name, data, ctype = upload["files"]["file"]
    assert upload["data"] == {"purpose": "batch"}
    lines = [json.loads(x) for x in data.splitlines()]
    recorded = exchange("files_upload_batch_input__ruby_llm.json")["request_body"]
    rec_lines = [json.loads(x) for x in recorded.split("\r\n\r\n", 1)[1].split("\r\n---")[0].splitlines()]
    assert [set(x) for x in lines] == [set(x) for x in rec_lines]
    assert [x["custom_id"] for x in lines] == [x["custom_id"] for x in rec_lines]
    assert provider.sent[1][2]["json"].keys() == exchange("batches_create__ruby_llm.json")["request_body"].keys()


def test_rerun_resumes_the_recorded_batch_without_uploading_again(tmp_path):
    state = tmp_path / "job.json"
    first = ReplayProvider("files_upload_batch_input__ruby_llm.json", "batches_create__ruby_llm.json",
                           "batches_retrieve_completed__ruby_llm.json",
                           "files_content_batch_output_jsonl__ruby_llm.json")
    BatchAPIRunner(first, endpoint="/v1/responses", state_path=str(state)).run(ITEMS)
    again = ReplayProvider("batches_retrieve_completed__ruby_llm.json",
                           "files_content_batch_output_jsonl__ruby_llm.json")
    results = BatchAPIRunner(again, endpoint="/v1/responses", state_path=str(state)).run(ITEMS)
    assert [m for m, _, _ in again.sent] == ["GET", "GET"]
    assert results[1].result.content == "Jupiter"


def test_error_lines_become_errors_on_their_items():
    content = (
        b'{"id": "r1", "custom_id": "a", "response": {"status_code": 429, "request_id": "q1", "body": '
        b'{"error": {"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}}}, "error": null}\n'
        b'{"id": "r2", "custom_id": "b", "response": null, "error": {"code": "invalid_json", "message": "bad line"}}\n')
    found = parse_batch_output(SimpleNamespace(profile=GPT5Nano), content)
    assert isinstance(found["a"][1], RateLimitError) and found["a"][1].request_id == "q1"
    assert isinstance(found["b"][1], BadRequestError) and "bad line" in str(found["b"][1])


# -- the official spec ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def spec():
    yaml = pytest.importorskip("yaml")
    pytest.importorskip("jsonschema")
    if not SPEC.exists():
        require_service(f"official OpenAPI spec not found at {SPEC}")
    with SPEC.open() as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def validator(spec, name):
    import jsonschema

    return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def test_create_request_we_send_matches_the_spec(spec, tmp_path):
    provider = ReplayProvider("files_upload_batch_input__ruby_llm.json", "batches_create__ruby_llm.json",
                              "batches_retrieve_completed__ruby_llm.json",
                              "files_content_batch_output_jsonl__ruby_llm.json")
    BatchAPIRunner(provider, endpoint="/v1/responses", metadata={"job": "nightly"}).run(ITEMS)
    body = provider.sent[1][2]["json"]
    validator(spec, "CreateBatchRequest").validate(body)
    with pytest.raises(Exception):
        validator(spec, "CreateBatchRequest").validate({**body, "completion_window": "1h"})


REQUIRED_BATCH = {"id", "object", "endpoint", "input_file_id", "completion_window", "status", "created_at"}


def spec_view(batch: dict) -> dict:
    """The spec types optional fields without null, but the API sends null for unset ones
    (``model``, ``errors``, timestamps: recorded), so null optional fields are read as absent."""
    return {k: v for k, v in batch.items() if v is not None or k in REQUIRED_BATCH}


def test_recorded_batch_objects_match_the_spec(spec):
    v = validator(spec, "Batch")
    v.validate(spec_view(exchange("batches_create__ruby_llm.json")["response_body"]))
    v.validate(spec_view(exchange("batches_retrieve_completed__ruby_llm.json")["response_body"]))
    for b in exchange("batches_list_paginated__openai-dotnet.json")["response_body"]["data"]:
        v.validate(spec_view(b))
    with pytest.raises(Exception):
        v.validate({**spec_view(exchange("batches_create__ruby_llm.json")["response_body"]), "status": "done"})


def test_local_server_batch_and_file_objects_match_the_spec_and_the_recordings(spec):
    import requests

    from llm_client_sync.testing import MockOpenAIServer
    from llm_client_sync.testing._batches import install_batch_routes

    data, ids, _ = build_batch_lines(SimpleNamespace(profile=GPT5Nano), ["hi", "there"])
    with MockOpenAIServer() as server:
        install_batch_routes(server)
        url = server.base_url
        f = requests.post(f"{url}/files", files={"file": ("in.jsonl", data, "application/jsonl")},
                          data={"purpose": "batch"}, timeout=10).json()
        validator(spec, "OpenAIFile").validate({k: v for k, v in f.items() if v is not None})
        assert set(f) == set(exchange("files_upload_batch_input__ruby_llm.json")["response_body"])
        b = requests.post(f"{url}/batches", json={"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                                  "completion_window": "24h"}, timeout=10).json()
        recorded = exchange("batches_create__ruby_llm.json")["response_body"]
        assert set(b) == set(recorded) and b["status"] == "validating"
        statuses = []
        for _ in range(10):
            b = requests.get(f"{url}/batches/{b['id']}", timeout=10).json()
            validator(spec, "Batch").validate(spec_view(b))
            statuses.append(b["status"])
            if b["status"] == "completed":
                break
        assert statuses == ["in_progress", "finalizing", "completed"]
        assert b["request_counts"] == {"total": 2, "completed": 2, "failed": 0}
        out = requests.get(f"{url}/files/{b['output_file_id']}/content", timeout=10)
        rows = [json.loads(x) for x in out.content.splitlines()]
        rec_rows = [json.loads(x) for x in
                    exchange("files_content_batch_output_jsonl__ruby_llm.json")["response_body"].splitlines()]
        assert [set(r) for r in rows] == [set(r) for r in rec_rows]
        assert set(rows[0]["response"]) == set(rec_rows[0]["response"])
        assert [r["custom_id"] for r in rows] == ids
        page = requests.get(f"{url}/batches", params={"limit": 1}, timeout=10).json()
        assert set(page) == set(exchange("batches_list_paginated__openai-dotnet.json")["response_body"])
