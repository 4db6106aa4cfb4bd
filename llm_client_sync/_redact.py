"""The one redaction of secrets, used at every exit: API keys this process sent, ``Bearer``/``sk-``
shaped tokens, credentials in URLs/DSNs. Also the API-key check done once at construction.

A leaf module: errors.py, transport, caches, conversation files, batch checkpoints, the CLI and
the browser adapters all call ``redact`` (directly or through the error classes).
"""

from __future__ import annotations

import re
import threading
from typing import Any

__all__ = ["check_api_key", "redact", "register_secret", "scrub_exception"]

MASK = "***"
# Keys shorter than this are not matched literally ("test" would blank every word "test"); real
# keys are far longer, and a short one is still caught by the Bearer/sk- shapes below. Every
# replacement is shorter than (or as long as) what it replaces.
_MIN_LITERAL = 8
_MAX_KNOWN = 256

_known: dict[str, None] = {}  # insertion-ordered set of secrets this process sent
_known_list: tuple[str, ...] = ()  # longest first, so a key that contains another goes whole
_lock = threading.Lock()

# Each shape has a cheap trigger checked first: most text (every streamed token) holds none, and
# then costs a few substring tests instead of a regex scan.
# "Basic <base64>" / "bearer <token>" (any case). So that prose ("Basic authentication", "the
# bearer instruments") survives, the token must look like one: base64 with a capital, digit or
# symbol after its first character; a bearer token with a digit or punctuation.
_AUTH = re.compile(r"\b(?:(Basic)(\s+)(?=[A-Za-z0-9+/][a-z]*[A-Z0-9+/=])[A-Za-z0-9+/=]{8,}"
                   r"|((?i:bearer))(\s+)(?=[A-Za-z]*[0-9._~+/=\-])[A-Za-z0-9._~+/=\-]{6,})")
_KEY = re.compile(r"(?<![A-Za-z0-9])(?:sk|rk|pk)-[A-Za-z0-9_\-]{8,}")
_URL = re.compile(r"://[^/@\s\"']{3,}@")
_PASSWORD = re.compile(r"\b(password|passwd|api[_-]?key|access_token)(\s*=\s*)[^\s&\"',;]{3,}", re.IGNORECASE)
_PASSWORD_WORDS = ("password", "passwd", "api_key", "api-key", "apikey", "access_token")


def register_secret(secret: str | None) -> None:
    """Remember a secret this process sends (an API key) so ``redact`` removes it literally."""
    global _known_list
    if not secret or len(secret) < _MIN_LITERAL:
        return
    with _lock:
        if secret in _known:
            return
        _known[secret] = None
        while len(_known) > _MAX_KNOWN:
            del _known[next(iter(_known))]
        _known_list = tuple(sorted(_known, key=len, reverse=True))


def _redact_str(text: str) -> str:
    for secret in _known_list:
        if secret in text:
            text = text.replace(secret, MASK)
    if "sk-" in text or "rk-" in text or "pk-" in text:
        text = _KEY.sub(MASK, text)
    if "://" in text and "@" in text:
        text = _URL.sub("://" + MASK + "@", text)
    lowered = text.lower()
    if "bearer" in lowered or "basic" in lowered:
        text = _AUTH.sub(lambda m: (m.group(1) or m.group(3)) + (m.group(2) or m.group(4)) + MASK, text)
    if "=" in text and any(word in lowered for word in _PASSWORD_WORDS):
        text = _PASSWORD.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return text


def redact(value: Any, _depth: int = 0) -> Any:
    """``value`` with every secret replaced by ``***``: strings, and the strings inside dicts,
    lists and tuples (keys included), rebuilt only when something changed. Other values pass.

    The replacement is never longer than what it replaces, so size limits checked before
    redaction (Pusher's 10 KB) still hold after it.
    """
    if isinstance(value, str):
        if not value:
            return value
        cleaned = _redact_str(value)
        return value if cleaned == value else cleaned
    if _depth > 64:  # deeper data is not ours to print; leave it as is rather than recurse
        return value
    if isinstance(value, dict):
        pairs = [(redact(k, _depth + 1), redact(v, _depth + 1)) for k, v in value.items()]
        if all(k2 is k and v2 is v for (k2, v2), (k, v) in zip(pairs, value.items())):
            return value
        return dict(pairs)
    if isinstance(value, (list, tuple)):
        items = [redact(v, _depth + 1) for v in value]
        if all(a is b for a, b in zip(items, value)):
            return value
        return type(value)(items) if type(value) in (list, tuple) else items
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", errors="replace")
        cleaned = _redact_str(text)
        return value if cleaned == text else cleaned.encode("utf-8")
    return value


def scrub_exception(exc: BaseException | None) -> BaseException | None:
    """Redact ``exc`` and its chain (``__cause__``/``__context__``) in place: ``args`` and the
    ``message``/``body``/``headers`` attributes, so a printed traceback shows no secret (requests
    and urllib3 put URLs and header values in their messages). Returns ``exc``."""
    seen: set[int] = set()
    current = exc
    while current is not None and id(current) not in seen and len(seen) < 32:
        seen.add(id(current))
        try:
            current.args = tuple(redact(a) for a in current.args)
        except Exception:  # pragma: no cover - exotic exceptions with read-only args
            pass
        for name in ("message", "body", "headers"):
            if name in getattr(current, "__dict__", {}):
                try:
                    setattr(current, name, redact(getattr(current, name)))
                except Exception:  # pragma: no cover
                    pass
        for nested in ("reason", "original_error"):  # urllib3 MaxRetryError / ProtocolError
            inner = getattr(current, "__dict__", {}).get(nested)
            if isinstance(inner, BaseException):
                scrub_exception(inner)
        current = current.__cause__ or current.__context__
    return exc


def check_api_key(key: Any, *, name: str = "api_key") -> str | None:
    """The key as it will be sent: surrounding whitespace (a trailing newline from a file) is
    stripped; None or blank means no key. A non-string, or a control or non-ASCII-safe character
    inside the key, is a ConfigurationError whose message never contains the key."""
    from .errors import ConfigurationError

    if key is None:
        return None
    if not isinstance(key, str):
        raise ConfigurationError(f"{name} must be a str (or None to read OPENAI_API_KEY), "
                                 f"got {type(key).__name__}")
    key = key.strip()
    if not key:
        return None
    for pos, ch in enumerate(key):
        code = ord(ch)
        if code < 0x20 or code == 0x7F or ch.isspace():
            raise ConfigurationError(
                f"{name} contains a control or whitespace character at position {pos} of {len(key)} "
                f"(U+{code:04X}); check the file or variable it was read from")
        if code > 0xFF:
            raise ConfigurationError(
                f"{name} contains a non-Latin-1 character at position {pos} of {len(key)} "
                f"(U+{code:04X}) that cannot be sent in an HTTP header; check where it was copied from")
    register_secret(key)
    return key
