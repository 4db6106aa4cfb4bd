"""Checkpoint file policies: fsync, header, torn tails, latest-record-wins."""

from __future__ import annotations

import os

import pytest

from llm_client_sync.batch.checkpoint import FAILED, OK, Checkpoint, fingerprint
from llm_client_sync.errors import ConfigurationError


def rec(i, ok=True, attempts=1):
    return {"index": i, "id": str(i), "fp": fingerprint(f"p{i}"), "ok": ok, "attempts": attempts,
            "result": {"content": "x"} if ok else None, "error": None if ok else {"type": "X", "message": "m"}}


@pytest.mark.parametrize("policy, expected", [("always", 3), ("never", 0)])
def test_fsync_policy(tmp_path, monkeypatch, policy, expected):
    calls = []
    ck = Checkpoint(tmp_path / "c.jsonl", fsync=policy).open({"model": "m"})
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    for i in range(3):
        ck.append(rec(i))
    assert len(calls) == expected
    ck.close()


def test_interval_policy_syncs_by_the_clock(tmp_path, monkeypatch):
    now = [0.0]
    calls = []
    ck = Checkpoint(tmp_path / "c.jsonl", fsync="interval", fsync_interval=1.0, clock=lambda: now[0]).open({})
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    ck.append(rec(0))
    ck.append(rec(1))
    assert calls == []
    now[0] = 1.5
    ck.append(rec(2))
    assert len(calls) == 1
    ck.close()
    assert len(calls) == 2  # close always syncs


def test_latest_record_wins_and_success_is_never_downgraded(tmp_path):
    path = tmp_path / "c.jsonl"
    with Checkpoint(path).open({}) as ck:
        ck.append(rec(0, ok=False))
        ck.append(rec(1))
        ck.append(rec(0, ok=True, attempts=2))
        ck.append(rec(1, ok=False))
    with Checkpoint(path).open({}) as ck:
        assert ck.state(0) == OK and ck.attempts(0) == 2
        assert ck.state(1) == OK
        assert ck.state(7) == 0 and ck.max_index == 1
        assert [r["index"] for r in ck.records()] == [0, 1]
        assert ck.count(OK) == 2 and ck.count(FAILED) == 0


def test_torn_tail_is_truncated_and_reported(tmp_path):
    path = tmp_path / "c.jsonl"
    with Checkpoint(path).open({}) as ck:
        ck.append(rec(0))
    torn = b'{"index": 1, "id": "1", "fp"'
    with open(path, "ab") as fh:
        fh.write(torn)
    size = path.stat().st_size
    with Checkpoint(path).open({}) as ck:
        assert ck.repaired_bytes == len(torn) and ck.state(1) == 0 and ck.loaded == 1
    assert path.stat().st_size == size - len(torn)


def test_header_mismatch_and_unknown_version_are_refused(tmp_path):
    path = tmp_path / "c.jsonl"
    Checkpoint(path).open({"model": "a"}).close()
    with pytest.raises(ConfigurationError, match="model='a'"):
        Checkpoint(path).open({"model": "b"})
    path.write_text('{"llm_client_sync_batch": 99}\n')
    with pytest.raises(ConfigurationError, match="format 99"):
        Checkpoint(path).open({})


def test_fingerprint_is_canonical():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint("x") != fingerprint("y") and len(fingerprint("x")) == 16
