"""Response bodies checked at the edge (pure): JSON decoded once, and any body that is not what
the endpoint documents turned into APIResponseValidationError that shows its first bytes.

The wire parsers (chat, Responses, embeddings) check shapes with ``want``/``want_str`` and run
under ``guarded``, so a wrong type deep inside a body can never escape as a raw
KeyError/TypeError/ValueError/AttributeError/RecursionError.
"""

from __future__ import annotations

import array
import base64
import binascii
import json
import math
import sys
from typing import Any, Callable, Mapping, TypeVar

from ..errors import APIResponseValidationError, LLMClientError, StreamError

__all__ = ["AccumulatorBase", "check_error_envelope", "decode_event", "decode_json", "decode_vector", "feed_guarded", "guarded",
           "invalid_body", "parse_embeddings", "preview", "stream_error", "want", "want_str"]

T = TypeVar("T")
PREVIEW_BYTES = 200
# keys at least one of which every documented OpenAI body has at its top level
_API_KEYS = ("id", "object", "choices", "output", "data", "model", "error", "usage", "status", "created")
# what a malformed body raises inside a parser; LLMClientError subclasses pass through untouched
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError, UnicodeError)


def preview(body: Any) -> str:
    """The first ~200 bytes of a body (bytes, text or decoded JSON) as text."""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body[:PREVIEW_BYTES]).decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body[:PREVIEW_BYTES]
    try:
        text = json.dumps(body, default=str)
    except (ValueError, TypeError, RecursionError):
        text = repr(type(body))
    return text[:PREVIEW_BYTES]


# per wire protocol (the start of ``what``): the top-level keys its bodies have, its name, its API root
_NATIVE_APIS = {
    "Anthropic": (("id", "type", "content", "stop_reason", "model", "usage", "error"),
                  "an Anthropic Messages API response", "https://api.anthropic.com"),
    "Gemini": (("candidates", "promptFeedback", "usageMetadata", "modelVersion", "responseId", "error"),
               "a Gemini API response", "https://generativelanguage.googleapis.com/v1beta"),
}
_OPENAI_API = (_API_KEYS, "an OpenAI-compatible API response",
               "https://api.openai.com/v1 or http://localhost:11434/v1")


def _api_of(what: str) -> tuple[tuple[str, ...], str, str]:
    return _NATIVE_APIS.get(what.split(" ", 1)[0], _OPENAI_API)


def looks_like_api(body: Any, what: str = "") -> bool:
    """True for a JSON object with one of the top-level keys the protocol's bodies have (OpenAI's
    unless ``what`` names Anthropic or Gemini)."""
    return isinstance(body, Mapping) and any(k in body for k in _api_of(what)[0])


def invalid_body(what: str, reason: str, body: Any, request_id: str | None = None) -> APIResponseValidationError:
    """The error for a body that is not a valid ``what``: says why, shows its first bytes."""
    head = preview(body)
    msg = f"the server's answer is not a valid {what}: {reason}. The body starts with: {head!r}"
    if not looks_like_api(body, what):
        _, name, root = _api_of(what)
        msg += (f" - this does not look like {name}; check that base_url "
                f"points at the API root (for example {root})")
    return APIResponseValidationError(msg, body=head, request_id=request_id)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if isinstance(exc, KeyError):
        return f"the field {exc} is missing"
    return str(exc) or type(exc).__name__


def guarded(what: str, body: Any, request_id: str | None, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, with any malformed-shape exception re-raised as APIResponseValidationError."""
    try:
        return fn(*args)
    except LLMClientError:
        raise
    except MALFORMED as exc:
        raise invalid_body(what, _reason(exc), body, request_id) from exc


def decode_json(raw: bytes | str, what: str, request_id: str | None = None) -> Any:
    """Decode a JSON body (UTF-8, BOM allowed); anything else is APIResponseValidationError."""
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, (bytes, bytearray)) else raw
        if not text.strip():
            raise ValueError("the body is empty")
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise invalid_body(what, f"the body is not UTF-8 ({exc.reason} at byte {exc.start})", raw,
                           request_id) from exc
    except RecursionError as exc:
        raise invalid_body(what, "the JSON is nested too deeply to decode", raw, request_id) from exc
    except ValueError as exc:
        raise invalid_body(what, f"the body is not JSON ({exc})", raw, request_id) from exc


def want(value: Any, kind: type | tuple[type, ...], where: str, *, optional: bool = False) -> Any:
    """``value`` when it is of ``kind`` (None passes when ``optional``); else ValueError naming ``where``."""
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _tuple(kind)):
        names = " or ".join(k.__name__ for k in _tuple(kind)).replace("Mapping", "object").replace("list", "array")
        raise ValueError(f"{where} must be {names}{' or null' if optional else ''}, got {_json_kind(value)}")
    return value


def want_str(value: Any, where: str) -> str | None:
    return want(value, str, where, optional=True)


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {value!r}"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def check_error_envelope(data: Any, what: str, request_id: str | None) -> None:
    """A 2xx body that is only ``{"error": ...}`` (some proxies do this): say what the server said."""
    if not isinstance(data, Mapping) or any(k in data for k in ("choices", "output", "data")):
        return
    if data.get("error") or data.get("object") == "error":  # vLLM: {"object": "error", "message": ...}
        err = data.get("error") or data
        msg = err.get("message") if isinstance(err, Mapping) else err
        raise invalid_body(what, f"the server answered with an error object: {msg}", data, request_id)


# -- stream events ----------------------------------------------------------------------------
def stream_error(acc: Any, data: str, why: str) -> StreamError:
    """A malformed chunk/event: StreamError with the accumulator's partial result."""
    return StreamError(f"malformed stream event ({why}): {data[:PREVIEW_BYTES]!r}", partial=acc.result(),
                       request_id=acc.request_id, body=data[:PREVIEW_BYTES])


def decode_event(acc: Any, data: str) -> dict[str, Any]:
    """One SSE ``data`` payload -> a JSON object, else StreamError (``acc`` supplies the partial)."""
    try:
        ev = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise stream_error(acc, data, "not JSON" if isinstance(exc, ValueError) else "nested too deeply") from exc
    if not isinstance(ev, dict):
        raise stream_error(acc, data, "not a JSON object")
    return ev


def feed_guarded(acc: Any, data: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` with any malformed-shape exception re-raised as StreamError with the partial."""
    try:
        return fn(*args)
    except LLMClientError:
        raise
    except MALFORMED as exc:
        raise stream_error(acc, data, str(exc) or type(exc).__name__) from exc


# -- embeddings -------------------------------------------------------------------------------
def decode_vector(value: Any, where: str = "embedding") -> list[float]:
    """A base64 little-endian float32 string or a list of numbers -> list of floats."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"{where} is not valid base64 ({exc})") from exc
        if len(raw) % 4:
            raise ValueError(f"{where} has {len(raw)} bytes, not a whole number of float32 values")
        arr = array.array("f")
        arr.frombytes(raw)
        if sys.byteorder == "big":
            arr.byteswap()  # the API sends little-endian float32
        return arr.tolist()
    if isinstance(value, list):
        out = []
        for x in value:
            if not isinstance(x, (int, float)) or isinstance(x, bool) or not math.isfinite(x):
                raise ValueError(f"{where} must hold finite numbers, got {_json_kind(x)}")
            out.append(float(x))
        return out
    raise ValueError(f"{where} must be a base64 string or an array of numbers, got {_json_kind(value)}")


def parse_embeddings(data: Any, expected: int, request_id: str | None = None) -> tuple[tuple[list[float], ...], Any, str | None]:
    """An ``/embeddings`` body -> (vectors in input order, Usage, model)."""
    check_error_envelope(data, "embeddings response", request_id)
    return guarded("embeddings response", data, request_id, _parse_embeddings, data, expected)


def _parse_embeddings(data: Any, expected: int) -> tuple[tuple[list[float], ...], Any, str | None]:
    from ..types import Usage

    want(data, Mapping, "the body")
    rows = want(data.get("data"), list, "data")
    for i, r in enumerate(rows):
        want(r, Mapping, f"data[{i}]")
        if r.get("index") is not None:
            want(r["index"], int, f"data[{i}].index")
    if len(rows) != expected:
        raise ValueError(f"asked for {expected} vectors, got {len(rows)}")
    rows = sorted(rows, key=lambda r: r.get("index", 0))
    vectors = tuple(decode_vector(r.get("embedding"), f"data[{i}].embedding") for i, r in enumerate(rows))
    if len({len(v) for v in vectors}) > 1:
        raise ValueError("the vectors do not all have the same length")
    return vectors, Usage.from_api(data.get("usage")), want_str(data.get("model"), "model")


class AccumulatorBase:
    """What every stream accumulator tracks: the profile and request id it was made with, whether
    the stream's final event came (``finished``), and the model and response id the stream names."""

    def __init__(self, profile: Any, request_id: str | None = None) -> None:
        self.profile = profile
        self.request_id = request_id
        self.finished = False
        self.model: str | None = None
        self.id: str | None = None
