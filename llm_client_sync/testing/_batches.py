"""Files and Batch API endpoints for the local server: ``/v1/files`` and ``/v1/batches``.

A batch advances one status per retrieve (validating -> in_progress -> finalizing -> completed),
like the real polling sequence; at finalizing every input line runs through the server's own
route for its ``url`` (so scripted replies and errors apply), and the output/error files appear.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import time
from typing import Any

from ._server import BytesResponse, JSONResponse, RecordedRequest, Request, ServerCore, error_response, register_default_route

__all__ = ["install_batch_routes"]

_ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")
_TERMINAL = ("completed", "failed", "expired", "cancelled")
_ids = itertools.count(1)


def _store(server: ServerCore, name: str) -> dict[str, Any]:
    with server.lock:
        return server.state.setdefault(name, {})


def _new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):012x}mock"


def _file_object(f: dict[str, Any]) -> dict[str, Any]:
    return {k: f[k] for k in ("object", "id", "purpose", "filename", "bytes", "created_at", "expires_at",
                              "status", "status_details")}


def _parse_multipart(req: Request) -> dict[str, tuple[str | None, bytes]]:
    ctype = next((v for k, v in req.recorded.headers.items() if k.lower() == "content-type"), "")
    raw = f"Content-Type: {ctype}\r\n\r\n".encode() + req.recorded.body
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    fields: dict[str, tuple[str | None, bytes]] = {}
    if not msg.is_multipart():
        return fields
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


def _upload(req: Request) -> Any:
    fields = _parse_multipart(req)
    if "file" not in fields or "purpose" not in fields:
        return error_response(400, "multipart fields 'file' and 'purpose' are required", param="file")
    filename, content = fields["file"]
    purpose = fields["purpose"][1].decode().strip()
    if purpose == "batch":
        for n, line in enumerate(content.splitlines(), 1):
            if line.strip():
                try:
                    json.loads(line)
                except ValueError:
                    return error_response(400, f"Invalid file format for Batch API: line {n} is not valid JSON")
    return JSONResponse(_file_object(_save_file(req.server, filename or "upload", content, purpose)))


def _save_file(server: ServerCore, filename: str, content: bytes, purpose: str) -> dict[str, Any]:
    now = int(time.time())
    f: dict[str, Any] = {"object": "file", "id": _new_id("file-"), "purpose": purpose, "filename": filename,
         "bytes": len(content), "created_at": now, "expires_at": now + 30 * 86400, "status": "processed",
         "status_details": None, "content": content, "_order": next(_ids)}
    with server.lock:
        _store(server, "files")[f["id"]] = f
    return f


def _list_files(req: Request) -> Any:
    """``GET /v1/files``: newest first (``order=asc`` for oldest), ``purpose``, ``limit``, ``after``."""
    q = req.recorded.query
    purpose = q.get("purpose", [""])[0]
    with req.server.lock:
        files = [f for f in _store(req.server, "files").values() if not purpose or f["purpose"] == purpose]
    files.sort(key=lambda f: f["_order"], reverse=q.get("order", ["desc"])[0] != "asc")
    return _page([_file_object(f) for f in files], req, default_limit=10000)


def _page(items: list[dict[str, Any]], req: Request, *, default_limit: int) -> JSONResponse:
    """A cursor page of a list endpoint: the items after the query's ``after``, at most ``limit``."""
    q = req.recorded.query
    limit = int(q.get("limit", [str(default_limit)])[0])
    after = q.get("after", [""])[0]
    if after:
        ids = [it["id"] for it in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    page = items[:limit]
    return JSONResponse({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                         "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit})


def _get_file(req: Request) -> Any:
    f = _store(req.server, "files").get(req.params["file_id"])
    if f is None:
        return error_response(404, f"No such File object: {req.params['file_id']}", param="id")
    return JSONResponse(_file_object(f))


def _file_content(req: Request) -> Any:
    f = _store(req.server, "files").get(req.params["file_id"])
    if f is None:
        return error_response(404, f"No such File object: {req.params['file_id']}", param="id")
    return BytesResponse(f["content"], headers={"Content-Disposition": f'attachment; filename="{f["filename"]}"'})


def _delete_file(req: Request) -> Any:
    with req.server.lock:
        f = _store(req.server, "files").pop(req.params["file_id"], None)
    if f is None:
        return error_response(404, f"No such File object: {req.params['file_id']}", param="id")
    return JSONResponse({"object": "file", "id": f["id"], "deleted": True})


# -- batches -------------------------------------------------------------------------------------
def _public(b: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in b.items() if not k.startswith("_")}


def _create_batch(req: Request) -> Any:
    body = req.json if isinstance(req.json, dict) else {}
    file_id, endpoint = body.get("input_file_id"), body.get("endpoint")
    f = _store(req.server, "files").get(file_id)
    if f is None:
        return error_response(400, f"Invalid input_file_id: {file_id!r} not found", param="input_file_id")
    if f["purpose"] != "batch":
        return error_response(400, "The input file must have purpose 'batch'", param="input_file_id")
    if endpoint not in _ENDPOINTS:
        return error_response(400, f"Invalid endpoint {endpoint!r}", param="endpoint")
    if body.get("completion_window") != "24h":
        return error_response(400, "completion_window must be '24h'", param="completion_window")
    now = int(time.time())
    batch = {"id": _new_id("batch_"), "object": "batch", "endpoint": endpoint, "model": None, "errors": None,
             "input_file_id": file_id, "completion_window": "24h", "status": "validating",
             "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
             "expires_at": now + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
             "expired_at": None, "cancelling_at": None, "cancelled_at": None,
             "request_counts": {"total": 0, "completed": 0, "failed": 0},
             "usage": _usage(0, 0, 0, 0), "metadata": body.get("metadata"), "_order": next(_ids)}
    with req.server.lock:
        _store(req.server, "batches")[batch["id"]] = batch
    return JSONResponse(_public(batch))


def _usage(inp: int, out: int, cached: int, reasoning: int) -> dict[str, Any]:
    return {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out,
            "input_tokens_details": {"cached_tokens": cached}, "output_tokens_details": {"reasoning_tokens": reasoning}}


def _advance(server: ServerCore, batch: dict[str, Any]) -> None:
    status, now = batch["status"], int(time.time())
    if status == "validating":
        lines = _input_lines(server, batch)
        if isinstance(lines, str):
            batch.update(status="failed", failed_at=now,
                         errors={"object": "list", "data": [{"code": "invalid_request", "message": lines,
                                                              "param": None, "line": None}]})
            return
        batch.update(status="in_progress", in_progress_at=now)
        batch["request_counts"]["total"] = len(lines)
    elif status == "in_progress":
        batch.update(status="finalizing", finalizing_at=now)
    elif status == "cancelling":
        batch.update(status="cancelled", cancelled_at=now)


def _input_lines(server: ServerCore, batch: dict[str, Any]) -> list[dict[str, Any]] | str:
    f = _store(server, "files").get(batch["input_file_id"])
    if f is None:
        return "input file was deleted"
    lines, seen = [], set()
    for n, raw in enumerate(f["content"].splitlines(), 1):
        if not raw.strip():
            continue
        line = json.loads(raw)
        cid = line.get("custom_id")
        if not isinstance(cid, str) or cid in seen:
            return f"line {n}: custom_id must be a unique string"
        if line.get("method") != "POST" or line.get("url") != batch["endpoint"]:
            return f"line {n}: method must be POST and url {batch['endpoint']}"
        seen.add(cid)
        lines.append(line)
    return lines


def _run_lines(server: ServerCore, batch: dict[str, Any]) -> None:
    lines = _input_lines(server, batch)
    assert isinstance(lines, list)
    out, err = [], []
    totals = [0, 0, 0, 0]
    counts = batch["request_counts"]
    for line in lines:
        body = line.get("body") or {}
        status, payload, rid = _dispatch_line(server, batch["endpoint"], body)
        rec = {"id": _new_id("batch_req_"), "custom_id": line["custom_id"],
               "response": {"status_code": status, "request_id": rid, "body": payload}, "error": None}
        if status == 200:
            counts["completed"] += 1
            batch["model"] = batch["model"] or payload.get("model")
            u = payload.get("usage") or {}
            totals[0] += u.get("prompt_tokens", u.get("input_tokens", 0)) or 0
            totals[1] += u.get("completion_tokens", u.get("output_tokens", 0)) or 0
            out.append(rec)
        else:
            counts["failed"] += 1
            err.append(rec)
    batch["usage"] = _usage(totals[0], totals[1], 0, 0)
    if out:
        data = "".join(json.dumps(r, separators=(", ", ": ")) + "\n" for r in out).encode()
        batch["output_file_id"] = _save_file(server, f"{batch['id']}_output.jsonl", data, "batch_output")["id"]
    if err:
        data = "".join(json.dumps(r, separators=(", ", ": ")) + "\n" for r in err).encode()
        batch["error_file_id"] = _save_file(server, f"{batch['id']}_error.jsonl", data, "batch_output")["id"]


def _dispatch_line(server: ServerCore, url: str, body: dict[str, Any]) -> tuple[int, Any, str]:
    rid = _new_id("req_")
    if body.get("stream"):
        return 400, {"error": {"message": "stream is not supported in batches", "type": "invalid_request_error",
                               "param": "stream", "code": None}}, rid
    rec = RecordedRequest("POST", url, {}, {"Content-Type": "application/json"}, json.dumps(body).encode())
    try:
        resp = server._dispatch(rec)
    except Exception as exc:
        resp = error_response(500, f"mock batch line failed: {exc}", type="server_error")
    if isinstance(resp, JSONResponse):
        rid = dict(resp.headers).get("x-request-id", rid)
        return resp.status, resp.body, rid
    if isinstance(resp, BytesResponse):
        try:
            return resp.status, json.loads(resp.content), rid
        except ValueError:
            return 500, {"error": {"message": "non-JSON reply", "type": "server_error", "param": None, "code": None}}, rid
    return 500, {"error": {"message": "connection dropped", "type": "server_error", "param": None, "code": None}}, rid


def _get_batch(req: Request) -> Any:
    server = req.server
    with server.lock:
        batch = _store(server, "batches").get(req.params["batch_id"])
        if batch is None:
            return error_response(404, f"No batch found with id '{req.params['batch_id']}'", param="batch_id")
        run = batch["status"] == "finalizing" and not batch.get("_running")
        if run:
            batch["_running"] = True  # one poller runs the lines, outside the lock (handlers may sleep)
        elif batch["status"] not in _TERMINAL and not batch.get("_running"):
            _advance(server, batch)
        if not run:
            return JSONResponse(_public(batch))
    try:
        _run_lines(server, batch)
    finally:
        with server.lock:
            if batch["status"] == "finalizing":
                batch.update(status="completed", completed_at=int(time.time()))
            batch["_running"] = False
            snapshot = _public(batch)
    return JSONResponse(snapshot)


def _cancel_batch(req: Request) -> Any:
    with req.server.lock:
        batch = _store(req.server, "batches").get(req.params["batch_id"])
        if batch is None:
            return error_response(404, f"No batch found with id '{req.params['batch_id']}'", param="batch_id")
        if batch["status"] in _TERMINAL:
            return error_response(409, f"Cannot cancel a batch with status {batch['status']}")
        batch.update(status="cancelling", cancelling_at=int(time.time()))
        return JSONResponse(_public(batch))


def _list_batches(req: Request) -> Any:
    with req.server.lock:
        batches = [_public(b) for b in sorted(_store(req.server, "batches").values(), key=lambda b: -b["_order"])]
    return _page(batches, req, default_limit=20)


_ROUTES = (
    ("POST", "/v1/files", _upload),
    ("GET", "/v1/files", _list_files),
    ("GET", "/v1/files/{file_id}", _get_file),
    ("DELETE", "/v1/files/{file_id}", _delete_file),
    ("GET", "/v1/files/{file_id}/content", _file_content),
    ("POST", "/v1/batches", _create_batch),
    ("GET", "/v1/batches", _list_batches),
    ("GET", "/v1/batches/{batch_id}", _get_batch),
    ("POST", "/v1/batches/{batch_id}/cancel", _cancel_batch),
)


def install_batch_routes(server: ServerCore) -> ServerCore:
    """Add the files and batches endpoints to one (already created) server."""
    for method, pattern, handler in _ROUTES:
        server.route(method, pattern, handler)
    return server


for _method, _pattern, _handler in _ROUTES:
    register_default_route(_method, _pattern, _handler)
