"""Checkpoint file policies: fsync, header, torn tails, latest-record-wins."""

from __future__ import annotations

import json
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


def good_file(path, n=4):
    with Checkpoint(path).open({"model": "m"}) as ck:
        for i in range(n):
            ck.append(rec(i))
    return path.read_bytes().splitlines(keepends=True)


def damage_line(lines, k, new):
    return b"".join(lines[:k] + [new] + lines[k + 1:])


HUGE = 10 ** 15


# (name, how to damage the bytes of a 4-record file (header + records 0..3), indexes still OK after)
DAMAGE = [
    ("torn tail", lambda ls: b"".join(ls)[:-7], [0, 1, 2]),
    ("garbage tail line", lambda ls: b"".join(ls) + b"\x00\xff garbage\n", [0, 1, 2, 3]),
    ("garbage middle line", lambda ls: damage_line(ls, 2, b"}}}{{{\n"), [0, 2, 3]),
    ("truncated middle line", lambda ls: damage_line(ls, 3, ls[3][:15] + b"\n"), [0, 1, 3]),
    ("non-UTF-8 middle line", lambda ls: damage_line(ls, 1, b'{"index": 0, "id": "\xff\xfe"}\n'), [1, 2, 3]),
    ("huge index", lambda ls: damage_line(ls, 2, json.dumps({**rec(1), "index": HUGE}).encode() + b"\n"), [0, 2, 3]),
    ("negative index", lambda ls: damage_line(ls, 2, json.dumps({**rec(1), "index": -3}).encode() + b"\n"), [0, 2, 3]),
    ("string index", lambda ls: damage_line(ls, 2, json.dumps({**rec(1), "index": "1"}).encode() + b"\n"), [0, 2, 3]),
    ("huge attempts", lambda ls: damage_line(ls, 2, json.dumps({**rec(1), "attempts": HUGE}).encode() + b"\n"),
     [0, 1, 2, 3]),
    ("bad fingerprint", lambda ls: damage_line(ls, 4, json.dumps({**rec(3), "fp": "zz"}).encode() + b"\n"), [0, 1, 2]),
    ("a list, not a record", lambda ls: damage_line(ls, 1, b"[1, 2, 3]\n"), [1, 2, 3]),
    ("success without result", lambda ls: damage_line(ls, 1, json.dumps({**rec(0), "result": None}).encode() + b"\n"),
     [1, 2, 3]),
    ("deep nesting", lambda ls: damage_line(ls, 1, b"[" * 100_000 + b"]" * 100_000 + b"\n"), [1, 2, 3]),
    ("every record damaged", lambda ls: ls[0] + b"x\n" * 4, []),
]


@pytest.mark.parametrize("name, damage, kept", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_checkpoint_is_repaired_keeping_every_good_record(tmp_path, caplog, name, damage, kept):
    path = tmp_path / "c.jsonl"
    path.write_bytes(damage(good_file(path)))
    with caplog.at_level("WARNING", logger="llm_client_sync.batch"):
        with Checkpoint(path).open({"model": "m"}) as ck:
            ok = [i for i in range(4) if ck.state(i) == OK]
            assert len(ck._state) <= 5  # nothing sized by a number in the file
            records = list(ck.records())
            ck.append(rec(9))
    assert ok == kept
    assert [r["index"] for r in records] == kept
    if name != "huge attempts":  # clamped to 255, not damage
        assert caplog.records and all(r.levelname == "WARNING" for r in caplog.records)  # said clearly
    with Checkpoint(path).open({"model": "m"}) as again:  # the repair is durable and appendable
        assert [i for i in range(10) if again.state(i) == OK] == kept + [9]
        assert again.dropped == [] and again.repaired_bytes == 0


@pytest.mark.parametrize("content, match", [
    (b'{"hello": 1}\n', "not a llm_client_sync batch checkpoint"),
    (b"index,id\n0,a\n", "not a llm_client_sync batch checkpoint"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a llm_client_sync batch checkpoint"),
    (b"no newline at all, and not ours", "no header line"),
    (b'{"llm_client_sync_batch": 99}\n', "format 99"),
    (b'{"llm_client_sync_batch": 1, "model": "other"}\n', "model='other'"),
])
def test_foreign_checkpoint_is_refused_untouched(tmp_path, content, match):
    path = tmp_path / "c.jsonl"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match=match) as info:
        Checkpoint(path).open({"model": "m"})
    assert "delete this file" in str(info.value)
    assert path.read_bytes() == content


def test_a_torn_header_starts_the_file_again(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"llm_client_sync_ba')
    with Checkpoint(path).open({"model": "m"}) as ck:
        ck.append(rec(0))
    with Checkpoint(path).open({"model": "m"}) as ck:
        assert ck.state(0) == OK and ck.header["model"] == "m"


def test_states_have_names_that_say_what_they_mean():
    from llm_client_sync.batch import checkpoint

    assert not hasattr(checkpoint, "NONE")
    assert [s.name for s in checkpoint.ItemState] == ["PENDING", "OK", "FAILED"]
    assert checkpoint.Checkpoint.state.__annotations__["return"] in ("ItemState", checkpoint.ItemState)
