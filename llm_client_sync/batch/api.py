"""OpenAI Batch API mode (half price, results within 24 h): upload JSONL, create, poll, download.

A small state file remembers the submitted batch id, so running again resumes the same batch
instead of paying for it twice. Result bodies go through the same parser as ``complete``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from .._atomic import atomic_write
from ..errors import APIError, ConfigurationError, LLMClientError, status_error_class
from ..models import get_profile
from ..observe import hooks as _hooks
from ..types import CompletionResult
from .checkpoint import fingerprint
from .runner import BatchResult, _split_item

log = logging.getLogger("llm_client_sync.batch")

__all__ = ["BATCH_DISCOUNT", "BatchAPIRunner", "BatchJobError", "build_batch_lines", "describe_batch",
           "parse_batch_output"]

BATCH_DISCOUNT = 0.5
"""Batch API requests cost half the synchronous price (``ModelProfile.batch_discount``, which prices them)."""

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


class BatchJobError(APIError):
    """The batch as a whole failed, expired or was cancelled before producing output."""


def _messages(prompt: Any) -> list[Any]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def _body(provider: Any, prompt: Any, params: Mapping[str, Any], endpoint: str) -> dict[str, Any]:
    """The request body the synchronous call would send (the provider's own builder if it has one)."""
    build = getattr(provider, "build_body", None)
    if callable(build):
        try:
            return dict(build(prompt, **params))
        except TypeError:
            pass
    model = getattr(getattr(provider, "profile", None), "api_id", None) or getattr(provider, "model", None)
    if endpoint == "/v1/responses":
        return {"model": model, "input": prompt if isinstance(prompt, str) else list(prompt), **params}
    if endpoint == "/v1/embeddings":
        return {"model": model, "input": prompt, **params}
    return {"model": model, "messages": _messages(prompt), **params}


def build_batch_lines(provider: Any, items: Iterable[Any], *, endpoint: str = "/v1/chat/completions",
                      params: Mapping[str, Any] | None = None) -> tuple[bytes, list[str], str]:
    """(JSONL bytes, custom ids in input order, fingerprint of the whole input)."""
    out: list[bytes] = []
    ids: list[str] = []
    seen: set[str] = set()
    digest = hashlib.blake2b(digest_size=16)
    for index, item in enumerate(items):
        digest.update(fingerprint(item).encode())
        custom_id, prompt, item_params = _split_item(item, index)
        if custom_id in seen:
            raise ConfigurationError(f"duplicate batch item id {custom_id!r}: custom_id must be unique")
        seen.add(custom_id)
        ids.append(custom_id)
        body = _body(provider, prompt, {**(params or {}), **item_params}, endpoint)
        line = {"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body}
        out.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n")
    if not ids:
        raise ConfigurationError("a batch needs at least one item")
    return b"".join(out), ids, digest.hexdigest()


def _parse_body(provider: Any, body: Mapping[str, Any], request_id: str | None,
                endpoint: str = "/v1/chat/completions") -> CompletionResult:
    """The one parser of the endpoint's wire protocol (what ``complete`` uses), at the batch price."""
    shaped = isinstance(body, Mapping)
    profile = getattr(provider, "profile", None) or get_profile(str(shaped and body.get("model") or "gpt-5-nano"))
    if endpoint == "/v1/responses" or shaped and (body.get("object") == "response" or "output" in body):
        from ..providers._responses import parse_responses_response

        result = parse_responses_response(body, profile, request_id)
    else:
        from ..providers._chat import parse_chat_response

        result = parse_chat_response(body, profile, request_id)
    name = getattr(provider, "name", None)
    if isinstance(name, str) and result.provider != name:
        result = replace(result, provider=name)  # who answered, as complete() says it
    return _discount(result, profile)


def _discount(result: CompletionResult, profile: Any) -> CompletionResult:
    return result if result.cost is None else replace(result, cost=profile.usage_cost(result.usage, batch=True))


def parse_batch_output(provider: Any, content: bytes, endpoint: str = "/v1/chat/completions",
                       ) -> dict[str, tuple[CompletionResult | None, Exception | None]]:
    """Output or error file JSONL -> {custom_id: (result, error)}."""
    out: dict[str, tuple[CompletionResult | None, Exception | None]] = {}
    for raw in content.splitlines():
        if not raw.strip():
            continue
        line = json.loads(raw)
        cid = str(line.get("custom_id"))
        resp = line.get("response") or {}
        status = int(resp.get("status_code") or 0)
        rid = resp.get("request_id")
        if line.get("error"):
            err = line["error"]
            out[cid] = (None, status_error_class(400)(f"batch request failed: {err.get('message')}",
                                                      status_code=400, body={"error": err}, request_id=rid))
        elif 200 <= status < 300:
            try:
                out[cid] = (_parse_body(provider, resp.get("body") or {}, rid, endpoint), None)
            except LLMClientError as exc:  # a body the parser refuses is that item's error
                out[cid] = (None, exc)
        else:
            body = resp.get("body")
            msg = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
            out[cid] = (None, status_error_class(status)(f"HTTP {status}: {msg or 'no error message'}",
                                                         status_code=status, body=body, request_id=rid))
    return out


def describe_batch(batch: Mapping[str, Any], next_poll: float | None = None, elapsed: float | None = None) -> str:
    """One line on a batch's polling state: ``batch b_1: in_progress, 120/300 done, 2 failed; next poll in 8s``."""
    found = batch.get("request_counts")
    counts: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    parts = [f"batch {batch.get('id')}: {batch.get('status')}"]
    if counts.get("total"):
        parts.append(f"{counts.get('completed', 0)}/{counts['total']} done")
        if counts.get("failed"):
            parts.append(f"{counts['failed']} failed")
    line = ", ".join(parts)
    if elapsed is not None:
        line += f" after {elapsed:.0f}s"
    if next_poll is not None:
        line += f"; next poll in {next_poll:.0f}s"
    return line


class BatchAPIRunner:
    """Runs items through the OpenAI Batch API; ``run`` submits (or resumes) and waits.

    Args:
        provider: an OpenAIProvider (uses its ``request`` for /files and /batches).
        endpoint: "/v1/chat/completions" (default), "/v1/responses" or "/v1/embeddings".
        state_path: JSON file remembering the submitted batch so a rerun resumes it.
        poll_interval / max_poll_interval / backoff: first wait between polls, its cap, growth.
        timeout: give up waiting after this many seconds (None: until the batch ends).
        on_poll: called with the batch object after every poll.
        progress: print the polling state (status, items done/failed, next poll) on stderr;
            it is logged at INFO on the ``llm_client_sync.batch`` logger either way.

    Not thread-safe; one job per runner at a time.

        >>> job = BatchAPIRunner(provider, state_path="job.json")  # doctest: +SKIP
        >>> results = job.run(["Hi", "Hello"])                      # doctest: +SKIP
    """

    def __init__(self, provider: Any, *, endpoint: str = "/v1/chat/completions", state_path: str | None = None,
                 params: Mapping[str, Any] | None = None, metadata: Mapping[str, str] | None = None,
                 poll_interval: float = 5.0, max_poll_interval: float = 60.0, backoff: float = 1.5,
                 timeout: float | None = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 on_poll: Callable[[Mapping[str, Any]], None] | None = None, progress: bool = False) -> None:
        self.provider = provider
        self.endpoint = endpoint
        self.state_path = state_path
        self.params = dict(params or {})
        self.metadata = dict(metadata or {})
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.backoff = backoff
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self.on_poll = on_poll
        self.progress = progress
        self.batch: dict[str, Any] | None = None

    # -- steps ---------------------------------------------------------------------------------
    def submit(self, items: Iterable[Any]) -> dict[str, Any]:
        """Upload the JSONL and create the batch; returns the batch object."""
        data, ids, digest = build_batch_lines(self.provider, items, endpoint=self.endpoint, params=self.params)
        return self._submit(data, ids, digest)

    def _submit(self, data: bytes, ids: list[str], digest: str) -> dict[str, Any]:
        upload = self.provider.request("POST", "/files", files={"file": ("batch_input.jsonl", data, "application/jsonl")},
                                       data={"purpose": "batch"}).json()
        body: dict[str, Any] = {"input_file_id": upload["id"], "endpoint": self.endpoint, "completion_window": "24h"}
        if self.metadata:
            body["metadata"] = self.metadata
        self.batch = self.provider.request("POST", "/batches", json=body).json()
        self._save_state({"batch_id": self.batch["id"], "input_file_id": upload["id"], "fingerprint": digest,
                          "ids": ids, "endpoint": self.endpoint})
        return self.batch

    def retrieve(self, batch_id: str) -> dict[str, Any]:
        self.batch = self.provider.request("GET", f"/batches/{batch_id}").json()
        return self.batch

    def cancel(self, batch_id: str) -> dict[str, Any]:
        self.batch = self.provider.request("POST", f"/batches/{batch_id}/cancel").json()
        return self.batch

    def wait(self, batch_id: str) -> dict[str, Any]:
        """Poll with growing intervals until the batch is completed, failed, expired or cancelled."""
        start = self._clock()
        delay = self.poll_interval
        while True:
            batch = self.retrieve(batch_id)
            if self.on_poll is not None:
                self.on_poll(batch)
            terminal = batch.get("status") in TERMINAL
            self._show(batch, None if terminal else delay, self._clock() - start)
            if terminal:
                return batch
            if self.timeout is not None and self._clock() - start + delay > self.timeout:
                raise BatchJobError(f"batch {batch_id} still {batch.get('status')} after {self.timeout}s; "
                                    "run again later to resume it")
            self._sleep(delay)
            delay = min(delay * self.backoff, self.max_poll_interval)

    def _show(self, batch: Mapping[str, Any], next_poll: float | None, elapsed: float) -> None:
        line = describe_batch(batch, next_poll, elapsed)
        log.info("%s", line)
        if self.progress:
            try:
                print(line, file=sys.stderr, flush=True)
            except (OSError, ValueError):
                pass

    def results(self, batch: Mapping[str, Any], ids: Sequence[str]) -> list[BatchResult]:
        """Download output and error files and map them back to ``ids`` (input order)."""
        found: dict[str, tuple[CompletionResult | None, Exception | None]] = {}
        for key in ("output_file_id", "error_file_id"):
            if batch.get(key):
                content = self.provider.request("GET", f"/files/{batch[key]}/content").content
                found.update(parse_batch_output(self.provider, content, self.endpoint))
        status = batch.get("status")
        if status == "failed" and not found:
            errors = (batch.get("errors") or {}).get("data") or []
            detail = "; ".join(str(e.get("message")) for e in errors) or "no details"
            raise BatchJobError(f"batch {batch.get('id')} failed: {detail}")
        out = []
        for index, cid in enumerate(ids):
            result, error = found.get(cid, (None, None))
            if result is None and error is None:
                error = BatchJobError(f"item {cid!r} has no result: batch {batch.get('id')} is {status}")
            out.append(BatchResult(cid, index, result=result, error=error))
            if _hooks.active:  # observe: a billed Batch API item (the Ledger records it)
                _hooks.emit(_hooks.EventType.BATCH_ITEM, operation="chat", provider=_hooks.provider_name(self.provider),
                            model=getattr(self.provider, "model", None), error=error,
                            response_model=getattr(result, "model", None), usage=getattr(result, "usage", None),
                            cost=getattr(result, "cost", None), request_id=getattr(result, "request_id", None),
                            data={"id": cid, "index": index, "ok": error is None, "batch_api": True,
                                  "batch_id": batch.get("id")})
        return out

    def run(self, items: Iterable[Any]) -> list[BatchResult]:
        """Submit (or resume the batch recorded in ``state_path`` for the same input), wait, fetch."""
        data, ids, digest = build_batch_lines(self.provider, items, endpoint=self.endpoint, params=self.params)
        state = self._load_state()
        if state is not None and state.get("fingerprint") != digest:
            raise ConfigurationError(f"{self.state_path} belongs to a batch made for different input "
                                     f"(batch {state.get('batch_id')}); delete it to submit a new batch")
        batch_id = state["batch_id"] if state is not None else self._submit(data, ids, digest)["id"]
        return self.results(self.wait(batch_id), ids)

    def resume(self, batch_id: str, items: Iterable[Any]) -> list[BatchResult]:
        """Wait for an already submitted batch and map its results onto ``items``."""
        _, ids, _ = build_batch_lines(self.provider, items, endpoint=self.endpoint, params=self.params)
        return self.results(self.wait(batch_id), ids)

    # -- state file ----------------------------------------------------------------------------
    def _load_state(self) -> dict[str, Any] | None:
        if not self.state_path or not os.path.exists(self.state_path):
            return None
        try:
            with open(self.state_path, encoding="utf-8") as fh:
                state = json.load(fh)
        except (ValueError, RecursionError) as exc:
            raise ConfigurationError(f"{self.state_path} is not a Batch API state file ({type(exc).__name__}); "
                                     "delete it to submit a new batch") from exc
        if not isinstance(state, dict) or not isinstance(state.get("batch_id"), str):
            raise ConfigurationError(f"{self.state_path} is not a Batch API state file (no batch_id); "
                                     "delete it to submit a new batch")
        return state

    def _save_state(self, state: Mapping[str, Any]) -> None:
        if not self.state_path:
            return
        atomic_write(self.state_path, json.dumps(state))
