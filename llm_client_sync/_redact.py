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
# Keys shorter than this are not matched literally ("test" would blank every word "test");
# real keys are far longer, and Bearer/sk- shapes are matched whatever their length.
_MIN_LITERAL = 8
_MAX_KNOWN = 256

_known: dict[str, None] = {}  # insertion-ordered set of secrets this process sent
_known_re: re.Pattern[str] | None = None
_lock = threading.Lock()

_SHAPES = re.compile(
    r"(?P<scheme>\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=\-]{3,}"  # auth header values
    r"|(?<![A-Za-z0-9])(?:sk|rk|pk)-[A-Za-z0-9_\-]{8,}"               # OpenAI-style keys
    r"|(?P<url>://)[^/@\s\"']{3,}@"                                       # user:password@ in URLs
    r"|(?P<pw>\b(?:password|passwd|api[_-]?key|access_token)\s*=\s*)[^\s&\"',;]{3,}",  # key=value
    re.IGNORECASE,
)


def _shape_sub(m: re.Match[str]) -> str:
    if m.group("scheme"):
        return m.group("scheme") + MASK
    if m.group("url"):
        return "://" + MASK + "@"
    if m.group("pw"):
        return m.group("pw") + MASK
    return MASK


def register_secret(secret: str | None) -> None:
    """Remember a secret this process sends (an API key) so ``redact`` removes it literally."""
    global _known_re
    if not secret or len(secret) < _MIN_LITERAL:
        return
    with _lock:
        if secret in _known:
            return
        _known[secret] = None
        while len(_known) > _MAX_KNOWN:
            del _known[next(iter(_known))]
        # longest first so a key that contains another is removed whole
        alternatives = sorted(_known, key=len, reverse=True)
        _known_re = re.compile("|".join(re.escape(s) for s in alternatives))


def _redact_str(text: str) -> str:
    known = _known_re
    if known is not None:
        text = known.sub(MASK, text)
    return _SHAPES.sub(_shape_sub, text)


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
