"""Sealed cache entries: foreign, tampered, misplaced or expired entries are refused."""

from __future__ import annotations

import copy

import pytest

from llm_client_sync.cache._envelope import SCHEMA, EntryExpired, EntryRejected, _digest, seal, unseal

VALUE = {"content": "Sunny, 22 °C", "usage": {"prompt_tokens": 3}, "cost": 1.5e-07, "tool_calls": []}


def _sealed(**kw):
    return seal("k1", "col", "ns", VALUE, now=1000.0, **kw)


def test_round_trip_returns_value_and_scope() -> None:
    value, scope = unseal(_sealed(scope="s"), "k1", "col", "ns", now=1000.0)
    assert value == VALUE and scope == "s"


@pytest.mark.parametrize("path,new", [
    (("value", "content"), "Rainy"),
    (("value", "cost"), 2.0),
    (("created_at",), 1.0),
    (("expires_at",), 10**12),
    (("scope",), "other"),
])
def test_any_edit_breaks_the_checksum(path: tuple, new: object) -> None:
    entry = copy.deepcopy(_sealed(ttl=60))
    target = entry
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    with pytest.raises(EntryRejected, match="checksum"):
        unseal(entry, "k1", "col", "ns", now=1000.0)


@pytest.mark.parametrize("key,collection,namespace", [("k2", "col", "ns"), ("k1", "other", "ns"), ("k1", "col", None)])
def test_entry_read_under_another_key_collection_or_namespace_is_refused(key, collection, namespace) -> None:
    with pytest.raises(EntryRejected, match="another"):
        unseal(_sealed(), key, collection, namespace, now=1000.0)


@pytest.mark.parametrize("entry", [
    None, [], "text", {"content": "a foreign plain result"}, {"schema": "other/1"},
    {"corrupt": "not JSON"},
])
def test_foreign_shapes_are_refused(entry) -> None:
    with pytest.raises(EntryRejected):
        unseal(entry, "k1", "col", "ns", now=1000.0)


def test_extra_field_is_refused_even_with_a_recomputed_checksum() -> None:
    entry = {k: v for k, v in _sealed().items() if k != "checksum"}
    entry["exec"] = "__import__('os')"
    entry["checksum"] = _digest(entry, None)
    with pytest.raises(EntryRejected, match="unexpected fields"):
        unseal(entry, "k1", "col", "ns", now=1000.0)


def test_ttl_expiry_is_its_own_reason() -> None:
    entry = _sealed(ttl=10)
    assert unseal(entry, "k1", "col", "ns", now=1009.9)[0] == VALUE
    with pytest.raises(EntryExpired):
        unseal(entry, "k1", "col", "ns", now=1010.0)


def test_signing_key_rejects_entries_sealed_without_it_or_with_another() -> None:
    signed = _sealed(signing_key=b"k" * 32)
    assert signed["checksum"].startswith("hmac-sha256:")
    assert unseal(signed, "k1", "col", "ns", now=1000.0, signing_key=b"k" * 32)[0] == VALUE
    for other in (None, b"x" * 32):
        with pytest.raises(EntryRejected):
            unseal(signed, "k1", "col", "ns", now=1000.0, signing_key=other)
    with pytest.raises(EntryRejected):
        unseal(_sealed(), "k1", "col", "ns", now=1000.0, signing_key=b"k" * 32)


def test_schema_is_versioned() -> None:
    assert _sealed()["schema"] == SCHEMA == "llm_client_sync.cache/1"
