"""``Tokenizer``: counts text, one chat message, or tool definitions for one model's encoding.

The framing constants reproduce how the API renders a chat prompt; tests/contract/test_token_counts.py
checks them against the prompt_tokens of recorded exchanges.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ..models import ModelProfile, get_profile, list_profiles
from ._encodings import approx_count, load_encoding, reset_hooks

__all__ = ["Tokenizer", "get_tokenizer"]

# OpenAI's counting guide: <|im_start|>{role}<|im_sep|>{content}<|im_end|> costs 3 + role tokens,
# a name 1 more, and the reply is primed with 3 (<|im_start|>assistant<|im_sep|>). The gpt-5 family
# (harmony format) primes with <|start|>assistant only: 2.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_PER_TOOL_CALL = 3
REPLY_PRIMING = 3
REPLY_PRIMING_REASONING = 2
# On chat/completions a reasoning model offered tools gets a hidden system preamble (channels, tool
# routing): measured 94 tokens on the recorded gpt-5-nano exchange; harmony's published one is ~75.
# The Responses API recording with gpt-5 and a tool showed none.
REASONING_TOOLS_OVERHEAD = 90
# Images are priced by their size, unknown without fetching them: low detail is 85, otherwise we
# assume a 1024x1024 image at high detail (85 + 4 tiles * 170).
IMAGE_TOKENS_LOW = 85
IMAGE_TOKENS_DEFAULT = 765
# Reasoning items sent back carry the reasoning as opaque encrypted_content, which the API counts as
# input: one recording (3 items, 4,909 base64 characters, ~370 tokens) gives ~13 characters a token.
ENCRYPTED_CHARS_PER_TOKEN = 13

# Unregistered legacy names (gpt-4, gpt-3.5-turbo, ada-002) use cl100k_base, as tiktoken maps them.
_LEGACY_CL100K = re.compile(r"^(gpt-4($|-\d|-turbo|-vision|-32k)|gpt-3\.5|gpt-35|text-embedding-ada)")


@dataclass(frozen=True, slots=True)
class Tokenizer:
    """Counts tokens for one model: ``count(text)``, ``message(msg)``, ``tools(defs)``.

    ``key`` names the encoding (with ``:approx`` when approximate) and keys message caches.
    """

    encoding_name: str
    exact: bool
    reasoning: bool = False
    _encode: Callable[[str], int] = field(default=approx_count, repr=False, compare=False)

    @property
    def key(self) -> str:
        return self.encoding_name if self.exact else self.encoding_name + ":approx"

    @property
    def reply_priming(self) -> int:
        return REPLY_PRIMING_REASONING if self.reasoning else REPLY_PRIMING

    def count(self, text: str) -> int:
        return self._encode(text) if text else 0

    def message(self, message: Mapping[str, Any], tool_name: str | None = None) -> int:
        """Tokens of one chat message with its framing.

        ``tool_name``: the function a tool result answers (the API renders it in the header).
        """
        total = TOKENS_PER_MESSAGE + self.count(str(message.get("role") or ""))
        total += self.content(message.get("content"))
        if message.get("refusal"):
            total += self.count(str(message["refusal"]))
        name = message.get("name")
        if message.get("role") == "tool":
            tool_name = tool_name or (str(name) if name else None)
        elif name:
            total += TOKENS_PER_NAME + self.count(str(name))
        for call in message.get("tool_calls") or ():
            fn = (call.get("function") or {}) if isinstance(call, Mapping) else {}
            total += TOKENS_PER_TOOL_CALL + self.count(str(fn.get("name") or ""))
            total += self.count(str(fn.get("arguments") or ""))
        if tool_name:
            total += self.count("functions." + tool_name)
        return total

    def content(self, content: Any) -> int:
        """Tokens of a message's content: a string or a list of parts (text, images, ...)."""
        if content is None:
            return 0
        if isinstance(content, str):
            return self.count(content)
        total = 0
        for part in content if isinstance(content, (list, tuple)) else (content,):
            if isinstance(part, str):
                total += self.count(part)
            elif isinstance(part, Mapping):
                if part.get("type") in ("image_url", "input_image"):
                    img = part.get("image_url")
                    detail = part.get("detail") or (img.get("detail") if isinstance(img, Mapping) else None)
                    total += IMAGE_TOKENS_LOW if detail == "low" else IMAGE_TOKENS_DEFAULT
                    continue
                text = part.get("text") or part.get("refusal") or ""
                total += self.count(text if isinstance(text, str) else json.dumps(text))
        return total

    def tools(self, tools: Iterable[Mapping[str, Any]] | None, chat: bool = True) -> int:
        """Tokens of tool definitions, rendered as the API shows them to the model.

        ``chat``: a chat/completions request (reasoning models add a preamble there; the
        Responses API showed none in the recordings).
        """
        tools = [t for t in tools or () if isinstance(t, Mapping)]
        if not tools:
            return 0
        extra = REASONING_TOOLS_OVERHEAD if self.reasoning and chat else 0
        return self.count(render_tools(tools)) + extra

    def json_schema(self, schema: Any) -> int:
        """Tokens of a structured-output schema (sent to the model as compact JSON)."""
        return self.count(json.dumps(schema, separators=(",", ":"), ensure_ascii=False, default=str))


def _ts_type(schema: Any) -> str:
    if not isinstance(schema, Mapping):
        return "any"
    if "enum" in schema and isinstance(schema["enum"], list):
        return " | ".join(json.dumps(v) for v in schema["enum"]) or "any"
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(_ts_type(s) for s in schema[key]) or "any"
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_ts_type({**schema, "type": k}) for k in kind) or "any"
    if kind == "array":
        return _ts_type(schema.get("items")) + "[]"
    if kind == "object" and isinstance(schema.get("properties"), Mapping):
        return "{\n" + _ts_props(schema) + "}"
    return {"string": "string", "integer": "number", "number": "number", "boolean": "boolean",
            "null": "null"}.get(kind, "any") if isinstance(kind, str) else "any"


def _ts_props(schema: Mapping[str, Any]) -> str:
    required = set(schema.get("required") or ())
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, Mapping) and prop.get("description"):
            out.append(f"// {prop['description']}\n")
        out.append(f"{name}{'' if name in required else '?'}: {_ts_type(prop)},\n")
    return "".join(out)


def render_tools(tools: Iterable[Mapping[str, Any]]) -> str:
    """Function tools in the TypeScript-like namespace the model sees; other tools by type."""
    out = ["# Tools\n\n## functions\n\nnamespace functions {\n\n"]
    for tool in tools:
        fn = tool.get("function") if isinstance(tool.get("function"), Mapping) else tool
        name = fn.get("name")
        if not name:  # a built-in tool (web_search, file_search, ...): its type is all we know
            out.append(f"// {tool.get('type', 'tool')}\n")
            continue
        if fn.get("description"):
            out.append(f"// {fn['description']}\n")
        params = fn.get("parameters")
        if isinstance(params, Mapping) and params.get("properties"):
            out.append(f"type {name} = (_: {{\n{_ts_props(params)}}}) => any;\n\n")
        else:
            out.append(f"type {name} = () => any;\n\n")
    out.append("} // namespace functions")
    return "".join(out)


_cache_lock = threading.Lock()
_tokenizers: dict[Any, Tokenizer] = {}
reset_hooks.append(_tokenizers.clear)


def _encoding_name(model: "str | ModelProfile") -> tuple[str, bool]:
    profile = get_profile(model)
    if isinstance(model, str) and _LEGACY_CL100K.match(model):
        if model not in {p.key for p in list_profiles()}:
            return "cl100k_base", profile.reasoning
    return profile.encoding or "o200k_base", profile.reasoning


def get_tokenizer(model: "str | ModelProfile" = "gpt-5-nano") -> Tokenizer:
    """The Tokenizer for a model name or profile (loads its encoding on first use, never hangs)."""
    with _cache_lock:
        found = _tokenizers.get(model)
    if found is not None:
        return found
    name, reasoning = _encoding_name(model)
    enc = load_encoding(name)
    if enc is not None:
        encode_ordinary = enc.encode_ordinary
        tok = Tokenizer(name, True, reasoning, lambda text: len(encode_ordinary(text)))
    else:
        tok = Tokenizer(name, False, reasoning, approx_count)
    with _cache_lock:
        _tokenizers[model] = tok
    return tok
