"""Cache keys: a SHA-256 of the canonical JSON of endpoint, full request body and namespace.

Pure functions; the provider passes the exact body it sends (minus ``stream``/``stream_options``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping

from ..errors import CacheError

__all__ = ["KEY_VERSION", "cache_key", "canonical_json", "prompt_text", "semantic_scope"]

# Bumped when the key recipe changes, so old entries become misses instead of wrong hits.
KEY_VERSION = 1

# Fields of a request that a semantic (similarity) match may vary: the prompt itself.
_PROMPT_FIELDS = ("messages", "input", "instructions", "prompt")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 text kept, ints and floats kept apart.

    ``1`` and ``1.0`` stay different (``"1"`` vs ``"1.0"``): a key may only be too strict, never
    too loose. Raises CacheError for values JSON cannot represent (they could not be sent anyway).
    """
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CacheError(f"request body is not canonical JSON, cannot build a cache key: {exc}") from exc


def cache_key(endpoint: str, body: Mapping[str, Any], namespace: str | None = None) -> str:
    """The hex SHA-256 key of one request.

    Every field of ``body`` counts, including extras, and an omitted field differs from its
    explicit default (``{}`` vs ``{"n": 1}``). Never pass the API key: it is not in the body.
    """
    if not isinstance(endpoint, str) or not endpoint:
        raise CacheError("cache key needs the endpoint, e.g. '/v1/chat/completions'")
    if not isinstance(body, Mapping):
        raise CacheError(f"cache key needs the request body as a mapping, got {type(body).__name__}")
    doc = {"v": KEY_VERSION, "endpoint": endpoint, "namespace": namespace, "body": dict(body)}
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def semantic_scope(body: Mapping[str, Any], namespace: str | None = None) -> str:
    """Key of everything except the prompt text: two requests share a semantic hit only if equal.

    Which prompt fields are present (chat ``messages`` vs Responses ``input``) is part of it.
    """
    rest = {k: v for k, v in body.items() if k not in _PROMPT_FIELDS}
    present = sorted(k for k in _PROMPT_FIELDS if k in body)
    return cache_key("semantic-scope", {"rest": rest, "prompt_fields": present}, namespace)


def prompt_text(body: Mapping[str, Any]) -> str | None:
    """The text a semantic cache embeds: roles and text of messages/input, in order.

    None when the prompt holds anything but text (images, audio, files): text similarity would
    then match requests whose answers differ.
    """
    lines: list[str] = []
    for field in ("instructions", "prompt"):
        if isinstance(body.get(field), str):
            lines.append(f"{field}: {body[field]}")
    items = body.get("messages", body.get("input"))
    if isinstance(items, str):
        lines.append(f"user: {items}")
    elif isinstance(items, (list, tuple)):
        for item in items:
            if not isinstance(item, Mapping) or ("content" not in item and not item.get("tool_calls")):
                return None  # function-call items and the like: exact keys only
            text = _content_text(item.get("content"))
            if text is None:
                return None
            if item.get("tool_calls"):
                text += " " + canonical_json(item["tool_calls"])
            lines.append(f"{item.get('role', item.get('type', ''))}: {text}")
    elif items is not None:
        return None
    return "\n".join(lines) or None


_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})


def _content_text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, (list, tuple)):
        texts = []
        for part in content:
            if not isinstance(part, Mapping) or part.get("type") not in _TEXT_PARTS:
                return None
            texts.append(str(part.get("text", "")))
        return " ".join(texts)
    return None
