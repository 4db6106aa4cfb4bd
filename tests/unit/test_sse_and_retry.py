"""SSE decoding at every split point; retry policy delays with a fake clock; reasoning params."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given, strategies as st

from llm_client_sync import ConfigurationError, OpenAIProvider, RetryPolicy
from llm_client_sync._sse import SSEDecoder

STREAM = ('data: {"a": "caf\u00e9 \u6771\u4eac"}\r\n\r\n: keep-alive\n\nevent: response.completed\n'
          'data: line1\ndata: line2\r\r' 'id: 7\nretry: 100\ndata: [DONE]\n\n').encode()


def _decode(chunks):
    d = SSEDecoder()
    out = []
    for c in chunks:
        out.extend(d.feed(c))
    return out, d


def test_sse_decoder_same_events_at_every_two_way_split():
    whole, _ = _decode([STREAM])
    assert [e.data for e in whole] == ['{"a": "caf\u00e9 \u6771\u4eac"}', "line1\nline2", "[DONE]"]
    assert whole[1].event == "response.completed" and whole[2].id == "7" and whole[2].retry == 100
    for i in range(len(STREAM) + 1):
        got, _ = _decode([STREAM[:i], STREAM[i:]])
        assert got == whole, i


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=12))
def test_sse_decoder_any_chunking(cuts):
    points = sorted(set(cuts))
    chunks = [STREAM[a:b] for a, b in zip([0] + points, points + [len(STREAM)])]
    got, dec = _decode(chunks)
    assert [e.data for e in got] == ['{"a": "caf\u00e9 \u6771\u4eac"}', "line1\nline2", "[DONE]"]
    assert dec.comments == 1


def test_sse_unterminated_event_is_pending_not_dispatched():
    got, dec = _decode([b"data: partial"])
    assert got == [] and dec.pending


def test_retry_after_ms_wins_over_retry_after():
    p = RetryPolicy()
    assert p.delay(0, {"retry-after-ms": "250", "retry-after": "30"}) == 0.25


def test_retry_after_http_date_uses_the_clock():
    now = 1_700_000_000.0
    hdr = email.utils.formatdate(now + 12, usegmt=True)
    assert RetryPolicy().delay(0, {"Retry-After": hdr}, now=now) == pytest.approx(12, abs=1)


def test_retry_after_above_cap_means_give_up():
    assert RetryPolicy(max_retry_after=120).delay(0, {"retry-after": "121"}) is None


def test_backoff_doubles_caps_and_jitters_down():
    p = RetryPolicy(base=0.5, cap=8.0, jitter=0.25)
    assert [p.delay(n, rand=lambda: 0.0) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert p.delay(1, rand=lambda: 1.0) == pytest.approx(0.75)


@pytest.mark.parametrize("status,body,headers,expected", [
    (429, None, {}, True), (408, None, {}, True), (409, None, {}, True), (500, None, {}, True), (503, None, {}, True),
    (400, None, {}, False), (401, None, {}, False), (403, None, {}, False), (404, None, {}, False), (422, None, {}, False),
    (429, {"error": {"code": "insufficient_quota"}}, {}, False),
    (500, None, {"x-should-retry": "false"}, False), (400, None, {"X-Should-Retry": "true"}, True),
])
def test_which_statuses_are_retried(status, body, headers, expected):
    assert RetryPolicy().should_retry(status, headers, body) is expected


@pytest.mark.parametrize("params", [{"temperature": 0.2}, {"top_p": 0.5}, {"presence_penalty": 1},
                                    {"reasoning_effort": "extreme"}])
def test_reasoning_model_rejects_params_before_sending(params):
    p = OpenAIProvider(model="gpt-5-nano", api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigurationError):
        p.complete("hi", **params)


def test_explicit_default_temperature_is_sent_as_given():
    p = OpenAIProvider(model="gpt-5", api_key="k", base_url="http://127.0.0.1:9/v1")
    assert p.build_body("hi", temperature=1)["temperature"] == 1
    assert "temperature" not in p.build_body("hi")


def test_unknown_model_passes_params_through():
    p = OpenAIProvider(model="llama3:8b", api_key="k", base_url="http://127.0.0.1:9/v1")
    body = p.build_body("hi", temperature=0.2, top_k=40)
    assert body["temperature"] == 0.2 and body["top_k"] == 40 and body["model"] == "llama3:8b"


@pytest.mark.parametrize("bad", [42, [], [{"content": "no role"}], [{"role": "tool", "content": "x"}]])
def test_bad_messages_raise_configuration_error(bad):
    p = OpenAIProvider(model="gpt-5-nano", api_key="k", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ConfigurationError):
        p.build_body(bad)


def test_api_key_never_in_repr():
    p = OpenAIProvider(model="gpt-5-nano", api_key="sk-very-secret", base_url="http://127.0.0.1:9/v1")
    assert "sk-very-secret" not in repr(p) and "sk-very-secret" not in repr(p.transport)
    assert "sk-very-secret" not in repr(p.transport._auth)
    assert "sk-very-secret" not in str(p.to_config())
