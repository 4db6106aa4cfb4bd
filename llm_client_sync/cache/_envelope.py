"""The JSON envelope around a cached value: schema, key echo, scope, expiry, checksum or HMAC.

An entry written by anything else (another program, another key, a hand edit) fails ``unseal``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Mapping

from .._redact import redact
from ._key import canonical_json

__all__ = ["SCHEMA", "EntryExpired", "EntryRejected", "seal", "unseal"]

SCHEMA = "llm_client_sync.cache/1"


class EntryRejected(Exception):
    """Internal: a stored entry is foreign or tampered (the reason is the message)."""


class EntryExpired(EntryRejected):
    """Internal: a stored entry is intact but past its TTL (a plain miss, no warning)."""


def _numbers_as_floats(value: Any) -> Any:
    """Numbers as floats, -0.0 as 0.0, for the digest only.

    PostgreSQL JSONB keeps numbers as decimals and prints 1e20 as an integer and -0.0 as 0, so a
    digest over the exact JSON text would reject honest entries that went through JSONB.
    """
    if isinstance(value, dict):
        return {k: _numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numbers_as_floats(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value) + 0.0
        except OverflowError:
            return value
    return value


def _digest(doc: Mapping[str, Any], signing_key: bytes | None) -> str:
    payload = canonical_json(_numbers_as_floats(doc)).encode("utf-8")
    if signing_key:
        return "hmac-sha256:" + hmac.new(signing_key, payload, hashlib.sha256).hexdigest()
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def seal(key: str, collection: str, namespace: str | None, value: Mapping[str, Any], *, now: float,
         ttl: float | None = None, scope: str | None = None, signing_key: bytes | None = None) -> dict:
    """Wrap ``value`` for storage under ``key`` in ``collection``."""
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "key": key,
        "collection": collection,
        "namespace": namespace,
        "scope": scope,
        "created_at": now,
        "expires_at": None if ttl is None else now + ttl,
        "value": redact(dict(value)),  # no API key echoed into a reply is ever stored
    }
    doc["checksum"] = _digest(doc, signing_key)
    return doc


def unseal(entry: Any, key: str, collection: str, namespace: str | None, *, now: float,
           signing_key: bytes | None = None) -> tuple[dict, str | None]:
    """The stored value and scope if ``entry`` is ours, for this key, intact and fresh."""
    if not isinstance(entry, Mapping):
        raise EntryRejected(f"entry is a {type(entry).__name__}, not an envelope")
    if entry.get("schema") != SCHEMA:
        raise EntryRejected(f"unknown schema {str(entry.get('schema'))[:40]!r}")
    for field, want in (("key", key), ("collection", collection), ("namespace", namespace)):
        if entry.get(field) != want:
            raise EntryRejected(f"entry belongs to another {field}")
    doc = {k: v for k, v in entry.items() if k != "checksum"}
    if set(doc) != {"schema", "key", "collection", "namespace", "scope", "created_at", "expires_at", "value"}:
        raise EntryRejected("unexpected fields")
    if not hmac.compare_digest(str(entry.get("checksum", "")), _digest(doc, signing_key)):
        raise EntryRejected("checksum mismatch (tampered, or signed with another key)")
    expires = entry["expires_at"]
    if expires is not None and not isinstance(expires, (int, float)):
        raise EntryRejected("bad expiry")
    if expires is not None and now >= expires:
        raise EntryExpired("expired")
    if not isinstance(entry["value"], Mapping):
        raise EntryRejected("value is not an object")
    return dict(entry["value"]), entry["scope"]
