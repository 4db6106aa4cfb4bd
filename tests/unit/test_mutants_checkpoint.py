"""The batch checkpoint's edges: each record check on its own, the index-gap and line-length
bounds at their exact values, the fsync clock, the queries on items never recorded, and what a
repair reports (written to kill the mutants mutmut left alive in ``batch/checkpoint.py``)."""

from __future__ import annotations

import hashlib
import json
import logging
import os

import pytest

from llm_client_sync.batch import checkpoint as ckmod
from llm_client_sync.batch.checkpoint import FAILED, OK, PENDING, Checkpoint, fingerprint
from llm_client_sync.errors import ConfigurationError


def rec(i, ok=True, attempts=1, **over):
    r = {"index": i, "id": str(i), "fp": fingerprint(f"p{i}"), "ok": ok, "attempts": attempts,
         "result": {"content": f"r{i}"} if ok else None, "error": None if ok else {"type": "X", "message": "m"}}
    r.update(over)
    return r


def line(r):
    return json.dumps(r).encode() + b"\n"


def header_line(**h):
    return json.dumps({"llm_client_sync_batch": 1, **h}).encode() + b"\n"


def load(path, body_lines, **h):
    """Write a header plus ``body_lines``; open it; return (checkpoint, offsets of each body line)."""
    head = header_line(**h)
    offsets, at = [], len(head)
    for b in body_lines:
        offsets.append(at)
        at += len(b)
    path.write_bytes(head + b"".join(body_lines))
    return Checkpoint(path).open(h), offsets


BAD = [
    ("ok is 1", {"ok": 1}, "'ok' is not true/false"),
    ("ok missing", {"ok": None}, "'ok' is not true/false"),
    ("id is a number", {"id": 5}, "'id' is not a string"),
    ("attempts zero", {"attempts": 0}, "attempts 0 is not a positive integer"),
    ("attempts true", {"attempts": True}, "attempts True is not a positive integer"),
    ("attempts text", {"attempts": "2"}, "attempts '2' is not a positive integer"),
    ("result a list", {"result": [1]}, "'result'/'error' are not objects"),
    ("error a string", {"ok": False, "result": None, "error": "boom"}, "'result'/'error' are not objects"),
    ("index true", {"index": True}, "index True is not a non-negative integer"),
    ("index float", {"index": 1.0}, "index 1.0 is not a non-negative integer"),
    ("index negative", {"index": -1}, "index -1 is not a non-negative integer"),
    ("fp missing", {"fp": None}, "no input fingerprint"),
    ("fp upper case", {"fp": "ABCDEF0123456789"}, "no input fingerprint"),
    ("fp too long", {"fp": "0123456789abcdef0"}, "no input fingerprint"),
    ("fp with newline", {"fp": "0123456789abcdef\n"}, "no input fingerprint"),
    ("success without result", {"result": None}, "a success without a result"),
]


@pytest.mark.parametrize("name, over, why", BAD, ids=[b[0] for b in BAD])
def test_each_record_check_drops_the_record_with_its_reason(tmp_path, name, over, why):
    path = tmp_path / "c.jsonl"
    ck, offsets = load(path, [line(rec(0)), line(rec(1, **over)), line(rec(2))])
    with ck:
        assert ck.dropped == [(offsets[1], why)]
        assert [ck.state(i) for i in range(3)] == [OK, PENDING, OK]
        assert ck.loaded == 2
        assert [r["index"] for r in ck.records()] == [0, 2]
        assert ck.read(2)["result"] == {"content": "r2"}  # offsets moved with the rewrite


GOOD = [
    ("attempts missing", {"attempts": None}, 1),
    ("failure with error", {"ok": False, "result": None}, 1),
    ("success with error null", {"error": None}, 1),
    ("attempts 3", {"attempts": 3}, 3),
    ("attempts 300 clamped", {"attempts": 300}, 255),
]


@pytest.mark.parametrize("name, over, attempts", GOOD, ids=[g[0] for g in GOOD])
def test_records_the_library_writes_are_kept(tmp_path, name, over, attempts):
    r = rec(0, **over)
    if over.get("attempts", 1) is None:
        del r["attempts"]
    path = tmp_path / "c.jsonl"
    ck, _ = load(path, [line(r)])
    with ck:
        assert ck.dropped == [] and ck.loaded == 1
        assert ck.state(0) == (OK if r["ok"] else FAILED)
        assert ck.attempts(0) == attempts
        assert ck.read(0) == r


def test_the_index_gap_bound_is_exact(tmp_path):
    gap = ckmod.MAX_INDEX_GAP
    path = tmp_path / "c.jsonl"
    # with one record loaded the limit is 1 + gap: that index is kept, one more is damage
    ck, offsets = load(path, [line(rec(0)), line(rec(gap + 2)), line(rec(gap + 1))])
    with ck:
        assert ck.dropped == [(offsets[1], f"index {gap + 2} is far beyond the 1 records before it")]
        assert ck.state(gap + 1) == OK and ck.max_index == gap + 1
        assert ck.state(gap + 2) == PENDING and ck.loaded == 2


def test_a_line_at_the_length_bound_is_read_and_one_past_it_is_damage(tmp_path, monkeypatch):
    short = line(rec(0))
    monkeypatch.setattr(ckmod, "MAX_LINE", len(short))
    over = line(rec(1, result={"content": "x" * 40}))
    ck, offsets = load(tmp_path / "c.jsonl", [short, over, line(rec(2))])
    with ck:
        assert ck.dropped == [(offsets[1], f"a line longer than {len(short)} bytes")]
        assert [ck.state(i) for i in range(3)] == [OK, PENDING, OK]


def test_an_endless_last_line_is_damage_not_a_torn_tail(tmp_path, monkeypatch):
    bound = len(line(rec(0)))
    monkeypatch.setattr(ckmod, "MAX_LINE", bound)
    path = tmp_path / "c.jsonl"
    ck, offsets = load(path, [line(rec(0)), b"y" * (3 * bound)])
    with ck:
        assert ck.dropped == [(offsets[1], f"a line longer than {bound} bytes")]
        assert ck.repaired_bytes == 0 and ck.state(0) == OK
    assert path.read_bytes().endswith(b"\n") and b"yyy" not in path.read_bytes()


def test_a_torn_tail_of_exactly_the_bound_is_cut_off(tmp_path, monkeypatch):
    bound = len(line(rec(0)))
    monkeypatch.setattr(ckmod, "MAX_LINE", bound)
    path = tmp_path / "c.jsonl"
    ck, _ = load(path, [line(rec(0)), b"z" * bound])
    with ck:
        assert ck.dropped == [] and ck.repaired_bytes == bound and ck.state(0) == OK


def test_torn_tail_after_damage_is_reported_with_the_damage(tmp_path):
    path = tmp_path / "c.jsonl"
    torn = b'{"index": 2, "id'
    ck, _ = load(path, [line(rec(0)), b"garbage\n", line(rec(1)), torn])
    with ck:
        assert ck.repaired_bytes == len(torn)
        assert [ck.state(i) for i in range(3)] == [OK, OK, PENDING]
    assert path.read_bytes() == header_line() + line(rec(0)) + line(rec(1))


def test_the_repair_warning_lists_five_places_and_counts_the_rest(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    body = [line(rec(0))] + [b"bad\n"] * 7
    with caplog.at_level(logging.WARNING, logger="llm_client_sync.batch"):
        ck, offsets = load(path, body)
        ck.close()
    msg = caplog.records[-1].getMessage()
    assert "removed 7 damaged record(s)" in msg and "and 2 more" in msg and "kept 1 good ones" in msg
    where = ", ".join(f"byte {o}: not JSON (JSONDecodeError)" for o in offsets[1:6])
    assert f"({where} and 2 more)" in msg and f"byte {offsets[6]}" not in msg


def test_five_damaged_records_have_no_more_clause(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    with caplog.at_level(logging.WARNING, logger="llm_client_sync.batch"):
        ck, offsets = load(path, [b"bad\n"] * 5)
        ck.close()
    msg = caplog.records[-1].getMessage()
    where = ", ".join(f"byte {o}: not JSON (JSONDecodeError)" for o in offsets)
    assert msg == (f"checkpoint {path}: removed 5 damaged record(s) ({where}); kept 0 good ones; the damaged items "
                   "run again")


def test_queries_on_items_never_recorded(tmp_path):
    with Checkpoint(tmp_path / "c.jsonl").open({}) as ck:
        assert ck.max_index == -1 and list(ck.records()) == []
        assert ck.state(0) == PENDING and ck.attempts(0) == 0
        with pytest.raises(KeyError):
            ck.read(0)
        ck.append(rec(3, ok=False, attempts=2))
        assert ck.max_index == 3 and ck.attempts(3) == 2 and ck.attempts(1) == 0 and ck.attempts(4) == 0
        assert ck.state(1) == PENDING and ck.state(3) == FAILED
        assert ck.count(PENDING) == 3 and ck.count(FAILED) == 1 and ck.count(OK) == 0
        with pytest.raises(KeyError):
            ck.read(1)  # below the highest index, but never recorded
        with pytest.raises(KeyError):
            ck.read(4)
        assert ck.read(3)["error"] == {"type": "X", "message": "m"}
        ck.append(rec(0))
        assert ck.max_index == 3 and [r["index"] for r in ck.records()] == [0, 3]
        assert ck.matches(0, fingerprint("p0")) and not ck.matches(0, fingerprint("p1"))
        assert ck.attempts(0) == 1


def test_a_failure_record_lowers_max_index_never(tmp_path):
    with Checkpoint(tmp_path / "c.jsonl").open({}) as ck:
        ck.append(rec(0))
        ck.append(rec(5))
        ck.append(rec(2, ok=False))
        assert ck.max_index == 5 and ck.count(PENDING) == 3


def test_an_appended_record_without_attempts_counts_one(tmp_path):
    path = tmp_path / "c.jsonl"
    r = rec(0)
    del r["attempts"]
    with Checkpoint(path).open({}) as ck:
        ck.append(r)
        ck.append({**rec(1), "attempts": 999})
        assert ck.attempts(0) == 1 and ck.attempts(1) == 255
    with Checkpoint(path).open({}) as ck:
        assert ck.attempts(0) == 1 and ck.attempts(1) == 255


def test_a_failure_after_a_success_keeps_the_success_and_its_record(tmp_path):
    with Checkpoint(tmp_path / "c.jsonl").open({}) as ck:
        ck.append(rec(0, attempts=2))
        ck.append(rec(0, ok=False, attempts=5, fp=fingerprint("other")))
        assert ck.state(0) == OK and ck.attempts(0) == 2 and ck.matches(0, fingerprint("p0"))
        assert ck.read(0)["ok"] is True


def test_appended_records_are_redacted(tmp_path):
    secret = "sk-" + "a1B2c3D4e5F6g7H8"
    path = tmp_path / "c.jsonl"
    with Checkpoint(path).open({}) as ck:
        ck.append(rec(0, result={"content": f"key {secret}"}))
        assert secret not in ck.read(0)["result"]["content"]
    assert secret.encode() not in path.read_bytes()


def test_a_new_file_starts_with_exactly_its_header(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"")  # an empty file is a new one
    with Checkpoint(path).open({"model": "m"}) as ck:
        assert ck.header == {"llm_client_sync_batch": 1, "model": "m"}
    assert path.read_bytes() == b'{"llm_client_sync_batch":1,"model":"m"}\n'


def test_a_torn_header_is_replaced_not_appended_to(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"llm_client_sync_batch"')
    with Checkpoint(path).open({"model": "m"}) as ck:
        ck.append(rec(0))
    assert path.read_bytes() == b'{"llm_client_sync_batch":1,"model":"m"}\n' + json.dumps(
        rec(0), separators=(",", ":")).encode() + b"\n"


def test_a_header_key_the_file_lacks_is_accepted_and_the_file_header_is_kept(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(header_line(run="r1") + line(rec(0)))
    with Checkpoint(path).open({"model": "m", "run": "r1"}) as ck:
        assert ck.header == {"llm_client_sync_batch": 1, "run": "r1"}
        assert ck.state(0) == OK and ck.loaded == 1 and ck.repaired_bytes == 0


def test_a_header_that_is_json_but_not_an_object_is_refused(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'["llm_client_sync_batch"]\n')
    with pytest.raises(ConfigurationError, match="first line"):
        Checkpoint(path).open({})


def test_a_header_longer_than_the_first_read_is_refused(tmp_path):
    path = tmp_path / "c.jsonl"
    content = b'{"llm_client_sync_batch": 1, "pad": "' + b"p" * 5000 + b'"}\n'
    path.write_bytes(content)
    with pytest.raises(ConfigurationError, match="no header line"):
        Checkpoint(path).open({})
    assert path.read_bytes() == content


def test_an_unknown_fsync_policy_is_refused():
    with pytest.raises(ConfigurationError) as info:
        Checkpoint("unused.jsonl", fsync="sometimes")
    assert str(info.value) == "fsync must be one of ('always', 'interval', 'never'), got 'sometimes'"


def test_the_interval_is_measured_from_the_last_sync(tmp_path, monkeypatch):
    now = [10.0]
    calls = []
    ck = Checkpoint(tmp_path / "c.jsonl", fsync="interval", fsync_interval=1.0, clock=lambda: now[0]).open({})
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    now[0] = 11.0  # exactly one interval after the header's sync
    ck.append(rec(0))
    assert len(calls) == 1
    now[0] = 11.5
    ck.append(rec(1))
    assert len(calls) == 1
    now[0] = 12.0
    ck.append(rec(2))
    assert len(calls) == 2
    ck.close()
    ck.close()  # a second close does nothing
    assert len(calls) == 3


def test_never_policy_still_flushes_every_line(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    path = tmp_path / "c.jsonl"
    ck = Checkpoint(path, fsync="never").open({})
    ck.append(rec(0))
    assert path.read_bytes().endswith(json.dumps(rec(0), separators=(",", ":")).encode() + b"\n")
    ck.close()
    assert calls == []


def test_warnings_go_to_the_batch_logger(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    with caplog.at_level(logging.WARNING):
        ck, _ = load(path, [line(rec(0)), b"bad\n", b'{"ind'])
        ck.close()
    assert {r.name for r in caplog.records} == {"llm_client_sync.batch"}


def test_the_documented_index_gap_is_two_to_the_twentieth(tmp_path):
    gap = 1 << 20  # the documented bound, not the module's variable
    ck, offsets = load(tmp_path / "c.jsonl", [line(rec(gap + 1))])
    with ck:
        assert ck.dropped == [(offsets[0], f"index {gap + 1} is far beyond the 0 records before it")]



def test_the_fingerprint_is_blake2b_of_the_compact_sorted_utf8_json():
    # the value is stored in checkpoints: it must not change between versions (a resume would rerun everything)
    expected = hashlib.blake2b('{"a":[1,2],"b":"é"}'.encode("utf-8"), digest_size=8).hexdigest()
    assert fingerprint({"b": "é", "a": [1, 2]}) == expected


@pytest.mark.parametrize("content", [b"x", b"{"])
def test_a_one_byte_file_is_read_not_overwritten(tmp_path, content):
    path = tmp_path / "c.jsonl"
    path.write_bytes(content)
    if content == b"x":  # not ours: refused untouched
        with pytest.raises(ConfigurationError) as info:
            Checkpoint(path).open({})
        assert str(info.value).startswith(f"{path} is not a llm_client_sync batch checkpoint (no header line); ")
        assert path.read_bytes() == content
    else:  # the first byte of our header: a crash at creation, started again
        Checkpoint(path).open({}).close()
        assert path.read_bytes() == b'{"llm_client_sync_batch":1}\n'


def test_sync_before_open_and_after_close_does_nothing(tmp_path):
    ck = Checkpoint(tmp_path / "c.jsonl")
    assert ck.header == {} and ck.loaded == 0
    ck.sync()
    ck.close()
    ck.open({}).close()
    ck.sync()
    assert (tmp_path / "c.jsonl").read_bytes() == b'{"llm_client_sync_batch":1}\n'


def test_reopening_an_intact_file_repairs_and_logs_nothing(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    with Checkpoint(path).open({}) as ck:
        ck.append(rec(0))
    before = path.read_bytes()
    with caplog.at_level(logging.DEBUG, logger="llm_client_sync.batch"):
        with Checkpoint(path).open({}) as ck:
            assert ck.repaired_bytes == 0 and ck.dropped == [] and ck.loaded == 1
    assert caplog.records == [] and path.read_bytes() == before


def test_a_torn_header_is_reported_with_its_size(tmp_path, caplog):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"llm_client_sync_b')
    with caplog.at_level(logging.WARNING, logger="llm_client_sync.batch"):
        Checkpoint(path).open({}).close()
    assert [r.getMessage() for r in caplog.records] == [
        f"checkpoint {path} held only a torn header (19 bytes): starting it again"]


def test_refusals_quote_the_first_line_and_the_versions(tmp_path):
    path = tmp_path / "c.jsonl"
    first = b'{"other_program": "' + b"v" * 100 + b'"}'
    path.write_bytes(first + b"\n")
    with pytest.raises(ConfigurationError) as info:
        Checkpoint(path).open({})
    assert str(info.value).startswith(f"{path} is not a llm_client_sync batch checkpoint (first line {first[:60]!r}); ")
    path.write_bytes(b'{"llm_client_sync_batch": 2}\n')
    with pytest.raises(ConfigurationError) as info:
        Checkpoint(path).open({})
    assert str(info.value) == (f"{path} has checkpoint format 2, which is not supported (expected 1); pass another "
                               "checkpoint path, or delete this file to start over (it was left untouched)")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc")
def test_closing_releases_every_file(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    ck = Checkpoint(tmp_path / "c.jsonl").open({})
    ck.append(rec(0))
    assert ck.read(0)["index"] == 0
    ck.close()
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_line_one_byte_past_the_bound_loses_no_neighbour(tmp_path, monkeypatch):
    bound = len(line(rec(0)))
    monkeypatch.setattr(ckmod, "MAX_LINE", bound)
    ck, offsets = load(tmp_path / "c.jsonl", [line(rec(0)), b"y" * (bound + 1) + b"\n", line(rec(1)), line(rec(2))])
    with ck:
        assert ck.dropped == [(offsets[1], f"a line longer than {bound} bytes")]
        assert [ck.state(i) for i in range(3)] == [OK, OK, OK]


def test_a_repeated_success_line_wins_as_the_latest(tmp_path):
    path = tmp_path / "c.jsonl"
    with Checkpoint(path).open({}) as ck:
        ck.append(rec(0))
        ck.append(rec(0, attempts=3, result={"content": "second"}))
        assert ck.attempts(0) == 3 and ck.read(0)["result"] == {"content": "second"}
    with Checkpoint(path).open({}) as ck:
        assert ck.attempts(0) == 3 and ck.read(0)["result"] == {"content": "second"}


def test_the_default_interval_is_one_second(tmp_path, monkeypatch):
    now = [0.0]
    calls = []
    ck = Checkpoint(tmp_path / "c.jsonl", clock=lambda: now[0]).open({})
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    now[0] = 1.0
    ck.append(rec(0))
    assert len(calls) == 1
    ck.close()
