"""The one Retry-After parser, the one retryable predicate, and RetryPolicy arithmetic (table-driven)."""

from __future__ import annotations

import email.utils
import math

import pytest

from llm_client_sync import RetryPolicy
from llm_client_sync.errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    RateLimitError,
    RequestCancelledError,
    ResponseTooLargeError,
    StreamError,
    TLSVerificationError,
)
from llm_client_sync.transport import Timeout, is_retryable, retry_after_seconds

NOW = 1_700_000_000.0
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


def _date(offset: float) -> str:
    return email.utils.formatdate(NOW + offset, usegmt=True)


@pytest.mark.parametrize("headers, body, expected", [
    ({"retry-after-ms": "250"}, None, 0.25),
    ({"retry-after-ms": "250", "retry-after": "30"}, None, 0.25),      # ms first, like the SDK
    ({"Retry-After": "2"}, None, 2.0),
    ({"retry-after": " 2.5 "}, None, 2.5),
    ({"retry-after": _date(12)}, None, 12.0),
    ({"retry-after-ms": "abc", "retry-after": "3"}, None, 3.0),        # a bad ms falls through
    ({"retry-after-ms": "nan", "retry-after": "3"}, None, 3.0),
    ({"retry-after": "0"}, None, None),                                # zero: own backoff
    ({"retry-after": "-5"}, None, None),
    ({"retry-after": "nan"}, None, None),
    ({"retry-after": "inf"}, None, None),
    ({"retry-after": "-inf"}, None, None),
    ({"retry-after": "1e400"}, None, 1e300),                           # too big for a float: "very long"
    ({"retry-after-ms": "1e400"}, None, 1e300),
    ({"retry-after": "+Infinity"}, None, None),
    ({"retry-after": "soon"}, None, None),
    ({"retry-after": _date(-60)}, None, None),                         # a date in the past
    ({"retry-after": "Fri, 31 Dec 99999 23:59:59 GMT"}, None, None),
    ({"retry-after": "Mon, 01 Jan 0001 00:00:00 GMT"}, None, None),
    ({"retry-after": "Mon, 99 Foo 2024 99:99:99 GMT"}, None, None),
    ({"retry-after": ""}, None, None),
    ({"retry-after": b"4"}, None, 4.0),
    ({"retry-after": 4}, None, None),                                  # not a string: ignored
    ({}, None, None),
    (None, None, None),
    ({}, {"error": {"details": [{"@type": RETRY_INFO, "retryDelay": "30s"}]}}, 30.0),
    ({}, {"error": {"details": [{"@type": RETRY_INFO, "retryDelay": "1.5s"}]}}, 1.5),
    ({}, {"error": {"details": [{"@type": RETRY_INFO, "retryDelay": {"seconds": 2, "nanos": 500000000}}]}}, 2.5),
    ({}, [{"error": {"details": [{"@type": RETRY_INFO, "retryDelay": "7s"}]}}], 7.0),
    ({}, '{"error": {"details": [{"@type": "%s", "retryDelay": "9s"}]}}' % RETRY_INFO, 9.0),
    ({}, {"error": {"details": [{"@type": RETRY_INFO, "retryDelay": "nans"}]}}, None),
    ({}, {"error": {"details": [{"@type": RETRY_INFO, "retryDelay": "-3s"}]}}, None),
    ({}, {"error": {"details": [{"@type": RETRY_INFO, "retryDelay": "1e999s"}]}}, None),
    ({}, {"error": {"details": [{"@type": "other", "retryDelay": "3s"}]}}, None),
    ({}, {"error": {"details": "nope"}}, None),
    ({}, {"error": "flat"}, None),
    ({}, "not json " + RETRY_INFO, None),
    ({"retry-after": "4"}, {"error": {"details": [{"@type": RETRY_INFO, "retryDelay": "30s"}]}}, 4.0),
])
def test_retry_after_seconds_table(headers, body, expected):
    got = retry_after_seconds(headers, body, now=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1.0 if "retry-after" in (headers or {}) and "," in str(headers) else 1e-9)
        assert math.isfinite(got) and got > 0


@pytest.mark.parametrize("hint, expected", [("121", None), ("120", 120.0), ("1e300", None), ("1e400", None)])
def test_hint_above_max_retry_after_gives_up(hint, expected):
    assert RetryPolicy(max_retry_after=120).delay(0, {"retry-after": hint}) == expected


@pytest.mark.parametrize("attempt", [0, 5, 63, 64, 1100, 10**6, 10**30, -3])
def test_backoff_never_overflows(attempt):
    p = RetryPolicy(base=0.5, cap=8.0, jitter=0.0)
    d = p.delay(attempt, {})
    assert math.isfinite(d) and 0 < d <= 8.0
    if attempt >= 5:
        assert d == 8.0


def test_backoff_ignores_an_absurd_hint():
    assert RetryPolicy(base=1, cap=1, jitter=0).delay(0, {"retry-after": "nan"}) == 1.0


def _status(cls, status, code=None, headers=None):
    body = {"error": {"code": code}} if code else None
    return cls("x", status_code=status, body=body, headers=headers)


@pytest.mark.parametrize("error, expected", [
    (408, True), (409, True), (429, True), (500, True), (503, True), (400, False), (401, False),
    (404, False), (422, False),
    (_status(RateLimitError, 429), True),
    (_status(RateLimitError, 429, "insufficient_quota"), False),
    (_status(InternalServerError, 500, headers={"x-should-retry": "false"}), False),
    (_status(BadRequestError, 400, headers={"X-Should-Retry": "true"}), True),
    (APIConnectionError("reset"), True),
    (APITimeoutError("slow"), True),
    (StreamError("cut"), True),
    (TLSVerificationError("bad cert"), False),
    (RequestCancelledError("cancelled"), False),
    (ResponseTooLargeError("big"), False),
    (ValueError("not ours"), False),
])
def test_is_retryable_table(error, expected):
    assert is_retryable(error) is expected


def test_should_retry_is_the_same_predicate():
    p = RetryPolicy()
    for status in (400, 408, 429, 500):
        assert p.should_retry(status, {}) is is_retryable(status)


@pytest.mark.parametrize("bad", [dict(connect=0), dict(read=-1), dict(stream_idle=float("nan")),
                                 dict(total=float("inf")), dict(first_byte=True), dict(total=0)])
def test_timeout_rejects_non_positive_or_non_finite(bad):
    with pytest.raises(ConfigurationError):
        Timeout(**bad)


def test_timeout_number_sets_first_byte_too():
    t = Timeout.coerce(5)
    assert (t.connect, t.read, t.first_byte, t.stream_idle, t.total) == (5, 5, 5, 5, None)
