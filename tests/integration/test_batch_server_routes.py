"""The local server's /v1/files and /v1/batches endpoints over real sockets (raw requests)."""

from __future__ import annotations

import json

import pytest
import requests

from llm_client_sync.testing import MockOpenAIServer
from llm_client_sync.testing._batches import install_batch_routes


@pytest.fixture
def url():
    with MockOpenAIServer() as server:
        install_batch_routes(server)
        yield server.base_url


def upload(url, lines, purpose="batch"):
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    return requests.post(f"{url}/files", files={"file": ("in.jsonl", data, "application/jsonl")},
                         data={"purpose": purpose}, timeout=10)


def line(cid, content="hi", url="/v1/chat/completions"):
    return {"custom_id": cid, "method": "POST", "url": url,
            "body": {"model": "gpt-5-nano", "messages": [{"role": "user", "content": content}]}}


def create(url, file_id, endpoint="/v1/chat/completions"):
    return requests.post(f"{url}/batches", json={"input_file_id": file_id, "endpoint": endpoint,
                                                 "completion_window": "24h"}, timeout=10)


def poll(url, batch_id, limit=10):
    for _ in range(limit):
        b = requests.get(f"{url}/batches/{batch_id}", timeout=10).json()
        if b["status"] in ("completed", "failed", "cancelled", "expired"):
            return b
    raise AssertionError(f"batch still {b['status']}")


def test_file_upload_retrieve_content_delete(url):
    f = upload(url, [line("a")]).json()
    assert f["object"] == "file" and f["purpose"] == "batch" and f["bytes"] > 0
    assert requests.get(f"{url}/files/{f['id']}", timeout=10).json()["id"] == f["id"]
    content = requests.get(f"{url}/files/{f['id']}/content", timeout=10)
    assert json.loads(content.content)["custom_id"] == "a"
    assert "attachment" in content.headers["Content-Disposition"]
    assert requests.delete(f"{url}/files/{f['id']}", timeout=10).json()["deleted"] is True
    assert requests.get(f"{url}/files/{f['id']}", timeout=10).status_code == 404


def test_upload_rejects_missing_fields_and_bad_jsonl(url):
    assert requests.post(f"{url}/files", data={"purpose": "batch"}, timeout=10).status_code == 400
    bad = requests.post(f"{url}/files", files={"file": ("x.jsonl", b"{not json\n")}, data={"purpose": "batch"},
                        timeout=10)
    assert bad.status_code == 400 and "line 1" in bad.json()["error"]["message"]


def test_create_validates_file_endpoint_and_window(url):
    f = upload(url, [line("a")]).json()
    assert create(url, "file-nope").status_code == 400
    assert create(url, f["id"], endpoint="/v1/nope").status_code == 400
    other = upload(url, [line("a")], purpose="assistants").json()
    assert create(url, other["id"]).status_code == 400
    bad = requests.post(f"{url}/batches", json={"input_file_id": f["id"], "endpoint": "/v1/chat/completions",
                                                "completion_window": "1h"}, timeout=10)
    assert bad.status_code == 400


def test_duplicate_custom_ids_fail_the_batch(url):
    f = upload(url, [line("a"), line("a")]).json()
    b = poll(url, create(url, f["id"]).json()["id"])
    assert b["status"] == "failed" and "unique" in b["errors"]["data"][0]["message"]


def test_a_line_for_another_endpoint_fails_the_batch(url):
    f = upload(url, [line("a", "one"), line("b", "two"), line("c", "three", url="/v1/embeddings")]).json()
    b = poll(url, create(url, f["id"]).json()["id"])
    # the embeddings line has the wrong url for a chat batch: validation fails the whole batch
    assert b["status"] == "failed"


def test_error_file_holds_failed_requests():
    with MockOpenAIServer() as server:
        install_batch_routes(server)
        url = server.base_url
        f = upload(url, [line("a", "one"), line("b", "two")]).json()
        b = create(url, f["id"]).json()
        server.add_error(400, message="bad thing", code="invalid_value")
        b = poll(url, b["id"])
        assert b["status"] == "completed"
        assert b["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
        errs = [json.loads(x) for x in requests.get(f"{url}/files/{b['error_file_id']}/content", timeout=10)
                .content.splitlines()]
        assert errs[0]["custom_id"] == "a" and errs[0]["response"]["status_code"] == 400
        out = [json.loads(x) for x in requests.get(f"{url}/files/{b['output_file_id']}/content", timeout=10)
               .content.splitlines()]
        assert out[0]["response"]["body"]["choices"][0]["message"]["content"] == "You said: two"
        assert b["usage"]["total_tokens"] > 0


def test_cancel_and_list_with_pagination(url):
    f = upload(url, [line("a")]).json()
    ids = [create(url, f["id"]).json()["id"] for _ in range(3)]
    c = requests.post(f"{url}/batches/{ids[0]}/cancel", timeout=10).json()
    assert c["status"] == "cancelling"
    assert poll(url, ids[0])["status"] == "cancelled"
    assert requests.post(f"{url}/batches/{ids[0]}/cancel", timeout=10).status_code == 409
    page = requests.get(f"{url}/batches", params={"limit": 2}, timeout=10).json()
    assert [b["id"] for b in page["data"]] == [ids[2], ids[1]] and page["has_more"]
    rest = requests.get(f"{url}/batches", params={"limit": 2, "after": page["last_id"]}, timeout=10).json()
    assert [b["id"] for b in rest["data"]] == [ids[0]] and not rest["has_more"]
    assert requests.get(f"{url}/batches/batch_nope", timeout=10).status_code == 404
