"""Loading tiktoken encodings without ever hanging, and the approximate counter used without them.

Search order: the configured directory, ``TIKTOKEN_CACHE_DIR``, ``DATA_GYM_CACHE_DIR``, tiktoken's
temp cache; then one fetch bounded by ``fetch_timeout``; then the approximation, with one warning.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .._atomic import atomic_write

OFFICIAL_BASE_URL = "https://openaipublic.blob.core.windows.net/encodings/"
DEFAULT_FETCH_TIMEOUT = 5.0

# What tiktoken_ext.openai_public builds, so the Encoding can be made from a file we located
# ourselves instead of through tiktoken's unbounded download (a unit test checks these match).
_O200K_PAT = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])
_CL100K_PAT = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
               r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")


@dataclass(frozen=True, slots=True)
class _EncodingSpec:
    name: str
    filename: str
    sha256: str
    pat_str: str
    special_tokens: Mapping[str, int] = field(default_factory=dict)


_SPECS = {
    "o200k_base": _EncodingSpec(
        "o200k_base", "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PAT, {"<|endoftext|>": 199999, "<|endofprompt|>": 200018}),
    "cl100k_base": _EncodingSpec(
        "cl100k_base", "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PAT, {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                      "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}),
}


class TokenizerFallbackWarning(RuntimeWarning):
    """An exact tiktoken encoding could not be loaded; counts are approximate."""


@dataclass(frozen=True, slots=True)
class _Config:
    cache_dir: str | None
    fetch_timeout: float
    base_url: str


def _env_config() -> _Config:
    raw = os.environ.get("LLM_CLIENT_SYNC_TIKTOKEN_FETCH_TIMEOUT", "").strip()
    try:
        timeout = max(float(raw), 0.0) if raw else DEFAULT_FETCH_TIMEOUT
    except ValueError:
        timeout = DEFAULT_FETCH_TIMEOUT
    return _Config(os.environ.get("LLM_CLIENT_SYNC_TIKTOKEN_DIR") or None, timeout,
                   os.environ.get("LLM_CLIENT_SYNC_TIKTOKEN_BASE_URL") or OFFICIAL_BASE_URL)


_lock = threading.RLock()
_config: _Config | None = None  # None: read the environment on first use
_encodings: dict[str, Any] = {}  # name -> tiktoken.Encoding, or None when it failed to load
_warned: set[str] = set()
_name_locks: dict[str, threading.Lock] = {}  # one per encoding: loading one never blocks another
_generation = [0]  # bumped by configure/reset, so a load under an old configuration is not kept
reset_hooks: list[Callable[[], None]] = []  # caches that depend on which encodings loaded


def configure_tokenizer(cache_dir: str | os.PathLike[str] | None = None, fetch_timeout: float | None = None,
                        base_url: str | None = None) -> None:
    """Set where encodings are looked for and how long a fetch may take; forgets loaded encodings.

    Args:
        cache_dir: searched before ``TIKTOKEN_CACHE_DIR`` and the other tiktoken caches; fetched
            files are saved here (files named as in tiktoken's cache, or ``o200k_base.tiktoken``).
        fetch_timeout: hard bound in seconds on fetching one missing encoding; 0 never fetches.
        base_url: a mirror holding ``o200k_base.tiktoken`` etc.
    Unset arguments come from the environment (see ``llm_client_sync.tokens``).
    """
    global _config
    env = _env_config()
    if fetch_timeout is not None and fetch_timeout < 0:
        from ..errors import ConfigurationError

        raise ConfigurationError("fetch_timeout must be >= 0")
    with _lock:
        _config = _Config(
            os.fspath(cache_dir) if cache_dir is not None else env.cache_dir,
            float(fetch_timeout) if fetch_timeout is not None else env.fetch_timeout,
            base_url or env.base_url,
        )
        _encodings.clear()
        _warned.clear()
        _generation[0] += 1
        for hook in reset_hooks:
            hook()


def reset() -> None:
    """Forget the configuration and every loaded encoding (the environment is read again)."""
    global _config
    with _lock:
        _config = None
        _encodings.clear()
        _warned.clear()
        _generation[0] += 1
        for hook in reset_hooks:
            hook()


def _current_config() -> _Config:
    global _config
    with _lock:
        if _config is None:
            _config = _env_config()
        return _config


def _search_dirs(cfg: _Config) -> list[str]:
    dirs = [cfg.cache_dir, os.environ.get("TIKTOKEN_CACHE_DIR"), os.environ.get("DATA_GYM_CACHE_DIR"),
            os.path.join(tempfile.gettempdir(), "data-gym-cache")]
    return [d for d in dict.fromkeys(dirs) if d]


def _cache_key(spec: _EncodingSpec) -> str:
    # tiktoken names cached files by the sha1 of the official URL; sharing its cache is the point
    return hashlib.sha1((OFFICIAL_BASE_URL + spec.filename).encode()).hexdigest()


def _read_local(spec: _EncodingSpec, cfg: _Config) -> bytes | None:
    for directory in _search_dirs(cfg):
        for name in (_cache_key(spec), spec.filename):
            path = os.path.join(directory, name)
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            if hashlib.sha256(data).hexdigest() == spec.sha256:
                return data
    return None


def _bounded(fn: Callable[[], Any], timeout: float) -> Any:
    """Run ``fn`` in a daemon thread; its result, or None after ``timeout`` s or on any error.

    A daemon thread because neither urllib's per-socket timeout nor tiktoken bound the total time
    of a download; a stuck thread is abandoned and cannot keep the interpreter alive.
    """
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(fn())
        except Exception:  # a failed fetch is reported by the caller's single warning
            pass

    thread = threading.Thread(target=run, name="llm_client_sync-tiktoken-fetch", daemon=True)
    thread.start()
    thread.join(timeout)
    return box[0] if box else None


def _fetch(spec: _EncodingSpec, cfg: _Config) -> bytes | None:
    if cfg.fetch_timeout <= 0:
        return None
    url = cfg.base_url.rstrip("/") + "/" + spec.filename

    def download() -> bytes:
        import urllib.request

        with urllib.request.urlopen(url, timeout=cfg.fetch_timeout) as resp:  # noqa: S310 (https mirror)
            return resp.read()

    data = _bounded(download, cfg.fetch_timeout)
    if not data or hashlib.sha256(data).hexdigest() != spec.sha256:
        return None
    _save(spec, cfg, data)
    return data


def _save(spec: _EncodingSpec, cfg: _Config, data: bytes) -> None:
    directory = cfg.cache_dir or os.environ.get("TIKTOKEN_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), "data-gym-cache")
    target = os.path.join(directory, _cache_key(spec))
    try:
        atomic_write(target, data, make_dirs=True)
    except OSError:  # a read-only cache only costs a fetch next time
        pass


def _build(spec: _EncodingSpec, data: bytes) -> Any:
    import tiktoken

    ranks = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(spec.name, pat_str=spec.pat_str, mergeable_ranks=ranks,
                             special_tokens=dict(spec.special_tokens))


def _load(name: str, cfg: _Config) -> Any:
    spec = _SPECS.get(name)
    if spec is None:
        # an encoding we have no file spec for: tiktoken itself, bounded like a fetch
        def via_tiktoken() -> Any:
            import tiktoken

            return tiktoken.get_encoding(name)

        return _bounded(via_tiktoken, cfg.fetch_timeout) if cfg.fetch_timeout > 0 else None
    data = _read_local(spec, cfg) or _fetch(spec, cfg)
    return _build(spec, data) if data else None


def load_encoding(name: str) -> Any:
    """The tiktoken Encoding, or None (after one warning) when it cannot be had.

    Each encoding has its own lock: a thread reading or fetching one encoding never blocks a
    thread that needs another (or one already loaded).
    """
    for _ in range(8):  # a reconfiguration during the load means: load again (bounded)
        if name in _encodings:
            return _encodings[name]
        with _lock:
            name_lock = _name_locks.setdefault(name, threading.Lock())
            generation = _generation[0]
        with name_lock:
            if name in _encodings:
                return _encodings[name]
            cfg = _current_config()
            try:
                enc = _load(name, cfg)
            except Exception:  # a corrupt file or a tiktoken change must not break counting
                enc = None
            with _lock:
                if generation != _generation[0]:
                    continue  # reconfigured meanwhile: this result belongs to the old configuration
                _encodings[name] = enc
                warn = enc is None and name not in _warned
                _warned.add(name)
            break
    else:
        return None
    if warn:
        from .._warn import warn_user

        warn_user(f"tiktoken encoding {name!r} is not available offline and could not be fetched within "
                  f"{cfg.fetch_timeout:g} s; token counts are approximate. Put {name}.tiktoken in "
                  "TIKTOKEN_CACHE_DIR or LLM_CLIENT_SYNC_TIKTOKEN_DIR for exact counts.",
                  TokenizerFallbackWarning)
    return enc


# Approximation: one token per short word (a long word: one per 4 letters), per run of punctuation,
# per 1-3 digits, per whitespace before a digit, per line break, per non-ASCII character (2 beyond
# the BMP). Measured against o200k_base: numbers +0%, JSON +18%, code +33%, English prose +36%,
# German +41%, Japanese +50%: it errs on the side of counting more, which keeps truncation safe.
_APPROX = re.compile(r"[A-Za-z]+|\d{1,3}|[^\sA-Za-z\d\u0080-\U0010ffff]+|[^\x00-\x7f]|\s+(?=\d)|\n+")


def approx_count(text: str) -> int:
    """Tokens by the approximation above (used when no tiktoken encoding is available)."""
    total = 0
    for piece in _APPROX.findall(text):
        first = piece[0]
        if first.isascii():
            total += (len(piece) + 3) // 4 if first.isalpha() else 1
        else:
            total += 2 if ord(first) > 0xFFFF else 1  # emoji and rarer scripts take 2-3 tokens
    return total
