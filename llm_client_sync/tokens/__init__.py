"""Token counting with tiktoken: texts, chat messages, tool definitions and whole request bodies.

Exact when the model's encoding can be loaded (offline from a cache directory, or fetched within a
bound), else approximate with one ``TokenizerFallbackWarning``; nothing loads at import.
``configure_tokenizer()`` or the environment set where and how long to look:
``LLM_CLIENT_SYNC_TIKTOKEN_DIR`` (searched first, before ``TIKTOKEN_CACHE_DIR``),
``LLM_CLIENT_SYNC_TIKTOKEN_FETCH_TIMEOUT`` (seconds, default 5; 0 never fetches) and
``LLM_CLIENT_SYNC_TIKTOKEN_BASE_URL`` (a mirror of ``o200k_base.tiktoken`` etc.).

    >>> count_messages([{"role": "user", "content": "Hello"}], "gpt-5-nano")  # doctest: +SKIP
    7
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any, Iterable, Mapping

from ..models import ModelProfile
from ._encodings import (
    DEFAULT_FETCH_TIMEOUT,
    TokenizerFallbackWarning,
    configure_tokenizer,
    reset_hooks,
)
from ._tokenizer import (
    ENCRYPTED_CHARS_PER_TOKEN,
    TOKENS_PER_MESSAGE,
    TOKENS_PER_TOOL_CALL,
    Tokenizer,
    get_tokenizer,
)

__all__ = [
    "DEFAULT_FETCH_TIMEOUT",
    "Tokenizer",
    "TokenizerFallbackWarning",
    "configure_tokenizer",
    "count_messages",
    "count_tokens",
    "estimate_request_tokens",
    "get_tokenizer",
    "is_exact",
]

_CACHE_MAX = 16_384
_cache_lock = threading.Lock()
_message_cache: dict[tuple[str, str, str | None], int] = {}
reset_hooks.append(_message_cache.clear)


def count_tokens(text: str, model: str | ModelProfile = "gpt-5-nano") -> int:
    """Tokens of a plain text in the model's encoding (no message framing)."""
    return get_tokenizer(model).count(text if isinstance(text, str) else str(text))


def is_exact(model: str | ModelProfile = "gpt-5-nano") -> bool:
    """Whether counts for this model come from tiktoken (True) or the approximation (False)."""
    return get_tokenizer(model).exact


def _digest(value: Any) -> str:
    raw = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _message_key(message: Mapping[str, Any]) -> Any:
    """What a message's count depends on; the strings themselves (their hash is cached by Python)
    for the usual shapes, a digest of the JSON for content parts and anything unusual."""
    content = message.get("content")
    if content is None or type(content) is str:
        try:
            calls = tuple((c["function"]["name"], c["function"]["arguments"])
                          for c in message.get("tool_calls") or ())
            key = (message.get("role"), content, message.get("name"), message.get("refusal"), calls)
            hash(key)
            return key
        except (KeyError, TypeError, AttributeError):
            pass
    return _digest(message)


def message_tokens(message: Mapping[str, Any], tok: Tokenizer, tool_name: str | None = None) -> int:
    """One message's tokens, cached by (encoding, message content) so history is not re-encoded."""
    key = (tok.key, _message_key(message), tool_name)
    with _cache_lock:
        hit = _message_cache.get(key)
    if hit is not None:
        return hit
    value = tok.message(message, tool_name)
    with _cache_lock:
        if len(_message_cache) >= _CACHE_MAX:
            for old in list(_message_cache)[: _CACHE_MAX // 2]:  # oldest half: insertion order
                del _message_cache[old]
        _message_cache[key] = value
    return value


def count_messages(messages: Iterable[Mapping[str, Any]], model: str | ModelProfile = "gpt-5-nano",
                   tools: list[dict[str, Any]] | None = None) -> int:
    """Prompt tokens of a chat request: messages with their framing, reply priming and tools.

    Matches the API's ``prompt_tokens`` within a few tokens (see the README's token section).
    """
    tok = get_tokenizer(model)
    total = tok.reply_priming
    called: dict[str, str] = {}
    for msg in messages:
        if not isinstance(msg, Mapping):
            continue
        for call in msg.get("tool_calls") or ():
            if isinstance(call, Mapping) and isinstance(call.get("function"), Mapping):
                called[str(call.get("id"))] = str(call["function"].get("name") or "")
        tool_name = called.get(str(msg.get("tool_call_id"))) if msg.get("role") == "tool" else None
        total += message_tokens(msg, tok, tool_name or None)
    return total + (_tools_tokens(tools, tok) if tools else 0)


def _tools_tokens(tools: Any, tok: Tokenizer, chat: bool = True) -> int:
    key = (tok.key, _digest(tools), f"#tools:{chat and tok.reasoning}")  # the preamble varies
    with _cache_lock:
        hit = _message_cache.get(key)
    if hit is None:
        hit = tok.tools(tools, chat)
        with _cache_lock:
            _message_cache[key] = hit
    return hit


def _input_items(items: Any, tok: Tokenizer) -> int:
    """Tokens of a Responses API ``input``: a string or a list of items."""
    if isinstance(items, str):
        return message_tokens({"role": "user", "content": items}, tok)
    total = 0
    called: dict[str, str] = {}
    for item in items if isinstance(items, (list, tuple)) else ():
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type") or "message"
        if kind == "message" or "role" in item:
            total += message_tokens(item, tok)
        elif kind == "function_call":
            called[str(item.get("call_id"))] = str(item.get("name") or "")
            total += TOKENS_PER_MESSAGE + TOKENS_PER_TOOL_CALL + tok.count(str(item.get("name") or ""))
            total += tok.count(str(item.get("arguments") or ""))
        elif kind == "function_call_output":
            output = item.get("output")
            msg = {"role": "tool", "content": output if isinstance(output, (str, list)) else json.dumps(output)}
            total += message_tokens(msg, tok, called.get(str(item.get("call_id"))) or None)
        elif kind == "reasoning":  # the encrypted reasoning is billed as input: estimated by size
            total += len(str(item.get("encrypted_content") or "")) // ENCRYPTED_CHARS_PER_TOKEN
            for part in item.get("summary") or ():
                if isinstance(part, Mapping):
                    total += tok.count(str(part.get("text") or ""))
        else:
            total += tok.count(json.dumps(item, default=str))
    return total


def _schema(body: Mapping[str, Any]) -> Any:
    fmt = body.get("response_format")
    text = body.get("text")
    if not isinstance(fmt, Mapping) and isinstance(text, Mapping):
        fmt = text.get("format")  # Responses API: text.format holds the schema directly
        if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
            return fmt.get("schema")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        inner = fmt.get("json_schema")
        return inner.get("schema") if isinstance(inner, Mapping) else None
    return None


def estimate_request_tokens(body: Mapping[str, Any], profile: str | ModelProfile) -> int:
    """Prompt tokens of a chat/completions, responses or embeddings request body; never raises.

    Counts messages or input, instructions, tools and a structured-output schema (used by the
    rate limiter to reserve capacity before sending).
    """
    try:
        tok = get_tokenizer(profile)
        if getattr(profile, "category", None) == "embedding" or "messages" not in body and (
                "encoding_format" in body or "dimensions" in body):
            inputs = body.get("input")
            texts = [inputs] if isinstance(inputs, str) else list(inputs or ())
            return sum(tok.count(t) if isinstance(t, str) else len(t) for t in texts)
        total = tok.reply_priming
        if body.get("instructions"):
            total += message_tokens({"role": "developer", "content": str(body["instructions"])}, tok)
        if "messages" in body:
            total += count_messages(body.get("messages") or (), profile) - tok.reply_priming
        if "input" in body:
            total += _input_items(body.get("input"), tok)
        if isinstance(body.get("prompt"), str):
            total += tok.count(body["prompt"])
        if body.get("tools"):
            total += _tools_tokens(body["tools"], tok, chat="messages" in body)
        schema = _schema(body)
        if schema is not None:
            total += tok.json_schema(schema)
        return total
    except Exception:  # an estimate must never break a request
        try:
            return len(json.dumps(dict(body), default=str)) // 4 + 1
        except Exception:
            return 1
