"""Retry hints and the retryable predicate: the edges the mutation run found unpinned (Google
RetryInfo bodies at the size cap, in wrapped lists; RetryPolicy defaults and backoff arithmetic)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from llm_client_sync import RetryPolicy
from llm_client_sync.transport import MAX_RETRY_AFTER, is_retryable, retry_after_seconds

RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
CAP = 1024 * 1024  # the error-body cap of the transport


def _envelope(delay="7s"):
    return {"error": {"code": 429, "details": [{"@type": RETRY_INFO, "retryDelay": delay}]}}


def _padded(size: int) -> str:
    """A JSON error body of exactly ``size`` characters carrying a RetryInfo of 7 s."""
    head = json.dumps(_envelope())
    return head[:-1] + ', "pad": "' + "x" * (size - len(head) - 11) + '"}'


@pytest.mark.parametrize("kind", [str, bytes])
def test_google_body_at_the_cap_is_read_and_over_it_ignored(kind):
    at = _padded(CAP)
    assert len(at) == CAP and json.loads(at)
    conv = (lambda s: s.encode()) if kind is bytes else (lambda s: s)
    assert retry_after_seconds({}, conv(at)) == 7.0
    over = _padded(CAP + 1)
    assert len(over) == CAP + 1
    assert retry_after_seconds({}, conv(over)) is None


def test_google_hint_in_a_wrapped_list_after_an_item_without_details():
    body = [{"error": {"code": 429}}, {"error": "text"}, _envelope("3s")]
    assert retry_after_seconds({}, body) == 3.0
    assert retry_after_seconds({}, json.dumps(body)) == 3.0


def test_google_hint_only_in_the_first_four_items():
    assert retry_after_seconds({}, [{}] * 3 + [_envelope("2s")]) == 2.0
    assert retry_after_seconds({}, [{}] * 4 + [_envelope("2s")]) is None


def test_retry_policy_defaults():
    p = RetryPolicy()
    assert (p.max_retries, p.base, p.cap, p.jitter, p.max_retry_after) == (2, 0.5, 8.0, 0.25, MAX_RETRY_AFTER)
    assert MAX_RETRY_AFTER == 120.0


@pytest.mark.parametrize("attempt, want", [(-3, 0.5), (0, 0.5), (1, 1.0), (2, 2.0), (4, 8.0), (5, 8.0), (10**6, 8.0)])
def test_backoff_doubles_up_to_the_cap(attempt, want):
    p = RetryPolicy()
    assert p.delay(attempt, {}, rand=lambda: 0.0) == want
    assert p.delay(attempt, {}, rand=lambda: 1.0) == pytest.approx(want * 0.75)


def test_hint_at_max_retry_after_is_honoured_above_it_gives_up():
    p = RetryPolicy(max_retry_after=30.0)
    assert p.delay(0, {"retry-after": "30"}) == 30.0
    assert p.delay(0, {"retry-after": "31"}) is None
    assert RetryPolicy.hinted_delay({"retry-after-ms": "1500"}) == 1.5
    assert p.hinted_delay({"retry-after": "2"}) == 2.0  # also through an instance


@pytest.mark.parametrize("status, want", [(407, False), (408, True), (409, True), (410, False), (428, False),
                                          (429, True), (430, False), (499, False), (500, True), (503, True)])
def test_retryable_statuses_edges(status, want):
    assert is_retryable(status) is want
    assert RetryPolicy().should_retry(status, {}) is want


def test_server_hint_overrides_status_case_insensitively():
    assert is_retryable(400, {"x-should-retry": "TRUE"}) is True
    assert is_retryable(503, {"x-should-retry": "False"}) is False
    assert is_retryable(503, {"x-should-retry": "maybe"}) is True


def test_google_hint_only_in_the_first_32_details():
    other = {"@type": "type.googleapis.com/google.rpc.Help"}
    hint = {"@type": RETRY_INFO, "retryDelay": "4s"}
    assert retry_after_seconds({}, {"error": {"details": [other] * 31 + [hint]}}) == 4.0
    assert retry_after_seconds({}, {"error": {"details": [other] * 32 + [hint]}}) is None


@pytest.mark.parametrize("delay, want", [({"seconds": 3}, 3.0), ({"nanos": 500_000_000}, 0.5),
                                         ({"seconds": "2", "nanos": 250_000_000}, 2.25), ({}, None)])
def test_google_proto_duration_with_missing_parts(delay, want):
    assert retry_after_seconds({}, _envelope(delay)) == want


def test_insufficient_quota_in_the_error_type_is_not_retryable():
    assert is_retryable(429, {}, {"error": {"type": "insufficient_quota", "message": "billing"}}) is False
    assert is_retryable(429, {}, {"error": {"code": "insufficient_quota"}}) is False
    assert is_retryable(429, {}, {"error": {"type": "rate_limit_exceeded"}}) is True


def test_retry_policy_is_an_immutable_value():
    p = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_retries = 5  # type: ignore[misc]
    assert dataclasses.replace(p, max_retries=5) == RetryPolicy(max_retries=5) != p
    assert hash(p) == hash(RetryPolicy())
