"""Every recorded Anthropic exchange in ../shared/provider-wire/anthropic replayed through the wire protocol.

Messages bodies go through ``parse``; streams through SSEDecoder + AnthropicAccumulator, whole and
split every 1, 7 and 64 bytes; error bodies through the transport's one error translation.
The ``*__synthetic`` files are vendor-documented cases no recording has (in-stream error, 429).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from llm_client_sync._sse import SSEDecoder
from llm_client_sync.errors import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    StreamError,
)
from llm_client_sync.models import get_profile
from llm_client_sync.providers._anthropic_wire import AnthropicProtocol, parse_anthropic_message
from llm_client_sync.providers.anthropic import AnthropicProvider, limiter_headers
from llm_client_sync.ratelimit import RateLimit, RateLimiter
from llm_client_sync.transport import RetryPolicy, TransportResponse, _request_id, _status_error
from llm_client_sync.types import CompletionResult, StreamEventType

E = StreamEventType
PROTO = AnthropicProtocol()
PROFILE = get_profile("claude-haiku-4-5")
SPLITS = (None, 1, 7, 64)

# fixture -> (text starts, text ends, [(tool, arguments)], (prompt, completion, reasoning, cache read,
# cache write), finish reason)
EXPECTED: dict[str, tuple[str, str, list[tuple[str, dict[str, Any]]], tuple[int, ...], str]] = {
    "messages_200_with_retry_after_beta_structured_output__openllmetry": ('{"joke": "Why did the de', '"rating": 7}', [], (222, 39, 0, 0, 0), "stop"),
    "messages_cache_read__ruby_llm": ("OK", "OK", [], (7361, 4, 0, 7351, 0), "stop"),
    "messages_cache_write_1h_ttl__dd-trace-py": ("Here are the key princip", "ecture where", [], (2073, 100, 0, 0, 2056), "length"),
    "messages_cache_write__ruby_llm": ("OK", "OK", [], (7361, 4, 0, 0, 7351), "stop"),
    "messages_cache_write_and_read_same_response__mirascope": ("*suddenly stops mid-cack", "t should be.", [], (5198, 350, 0, 4597, 598), "stop"),
    "messages_max_tokens__dd-trace-py": ("When Nietzsche famously ", 'dead" in his', [], (22, 15, 0, 0, 0), "length"),
    "messages_parallel_tool_use__ruby_llm": ("", "", [("weather", {"latitude": "52.5200", "longitude": "13.4050"}), ("best_language_to_learn", {})], (701, 98, 0, 0, 0), "tool_calls"),
    "messages_stream_adaptive_thinking_opus46__simonw-llm-anthropic": ("\n\n1. **Captain Scoop**\n2", ". **Gullet**", [], (34, 44, 0, 0, 0), "stop"),
    "messages_stream_cache_read__openllmetry": ("Here are concise summari", "he long run.", [], (1169, 221, 0, 1165, 0), "stop"),
    "messages_stream_cache_write__openllmetry": ("Here are concise summari", "erm payoffs.", [], (1169, 201, 0, 0, 1165), "stop"),
    "messages_stream_max_tokens__dd-trace-py": ('The phrase "I think, the', " in Latin as", [], (27, 15, 0, 0, 0), "length"),
    "messages_stream_parallel_tool_results_followup__simonw-llm-anthropic": ("Here are two great names", "ed friend! \U0001f985", [], (678, 82, 0, 0, 0), "stop"),
    "messages_stream_parallel_tool_use__simonw-llm-anthropic": ("", "", [("pelican_name_generator", {}), ("pelican_name_generator", {})], (542, 62, 0, 0, 0), "tool_calls"),
    "messages_stream_redacted_thinking__pydantic-ai": ("I notice that you've sen", "or question?", [], (92, 189, 0, 0, 0), "stop"),
    "messages_stream_stop_sequence_prefill__simonw-llm-anthropic": ("\ndef pelican():\n    retu", 'hing fish."\n', [], (16, 28, 0, 0, 0), "stop"),
    "messages_stream_text_ping__simonw-llm-anthropic": ("- Captain\n- Scoop", "tain\n- Scoop", [], (17, 10, 0, 0, 0), "stop"),
    "messages_stream_text_then_parallel_tool_use__mirascope": ("I'll retrieve the secret", "ou provided.", [("secret_retrieval_tool", {"password": "mellon"}), ("secret_retrieval_tool", {"password": "radiance"})], (416, 109, 0, 0, 0), "tool_calls"),
    "messages_stream_thinking_signature_delta__simonw-llm-anthropic": ("1. **Pouch** - reference", 'on "pelican"', [], (46, 133, 0, 0, 0), "stop"),
    "messages_stream_thinking_then_tool_use__simonw-llm-anthropic": ("", "", [("fixed_version", {})], (598, 92, 53, 0, 0), "tool_calls"),
    "messages_stream_tool_use__simonw-llm-anthropic": ("", "", [("pelican_name_generator", {})], (543, 40, 0, 0, 0), "tool_calls"),
    "messages_text__mirascope": ("4200 + 42 = 4242", " + 42 = 4242", [], (17, 15, 0, 0, 0), "stop"),
    "messages_thinking_signature__ruby_llm": ("I'd ask: **\"What false a", "edge itself?", [], (80, 755, 456, 0, 0), "stop"),
    "messages_thinking_signature_replay__ruby_llm": ("8 \u00d7 2 = **16**", "\u00d7 2 = **16**", [], (68, 44, 29, 0, 0), "stop"),
    "messages_tool_result_followup__ruby_llm": ("The weather in Berlin is", "heading out!", [], (748, 55, 0, 0, 0), "stop"),
    "messages_tool_use__ruby_llm": ("", "", [("weather", {"latitude": "52.5200", "longitude": "13.4050"})], (633, 75, 0, 0, 0), "tool_calls"),
}
# status -> (error class, retried by the default policy)
ERRORS = {
    "error_400_invalid_request__dd-trace-py": (BadRequestError, False, "invalid_request_error"),
    "error_400_prompt_too_long__ruby_llm": (BadRequestError, False, "invalid_request_error"),
    "error_401_authentication__dd-trace-py": (AuthenticationError, False, "authentication_error"),
    "error_401_on_stream_request__mirascope": (AuthenticationError, False, "authentication_error"),
    "error_404_model_not_found__mirascope": (NotFoundError, False, "not_found_error"),
    "error_429_rate_limit__synthetic": (RateLimitError, True, "rate_limit_error"),
    "error_529_overloaded_body_only__reported-cline-issue52": (InternalServerError, True, "overloaded_error"),
}
OTHER = {  # covered by the named test below
    "count_tokens_with_thinking__ruby_llm": "test_count_tokens_endpoint_is_read_and_memoised",
    "batches_results_jsonl__ruby_llm": "test_batch_result_lines_parse_as_messages",
    "batches_create__ruby_llm": "out of scope: Message Batches lifecycle (no Messages body)",
    "batches_retrieve_ended__ruby_llm": "out of scope: Message Batches lifecycle (no Messages body)",
    "batches_retrieve_in_progress_retry_after__ruby_llm": "out of scope: Message Batches lifecycle (no Messages body)",
    "error_429_headers_only__reported-anthropic-sdk-typescript-issue357": "test_429_headers_only_is_retried_and_feeds_the_limiter",
    "messages_stream_error_event_overloaded__synthetic": "test_in_stream_error_event_raises_with_the_partial_text",
}


def _load(dirpath: Path, name: str) -> dict[str, Any]:
    return json.loads((dirpath / "anthropic" / f"{name}.json").read_text(encoding="utf-8"))


def _feed(body: str, split: int | None) -> tuple[list[Any], Any]:
    acc = PROTO.accumulator(PROFILE, "req_test")
    dec = SSEDecoder()
    raw = body.encode("utf-8")
    step = split or len(raw)
    events = []
    for i in range(0, len(raw), step):
        for sse in dec.feed(raw[i:i + step]):
            events.extend(acc.feed(sse))
    return events, acc


def _check(result: CompletionResult, name: str) -> None:
    start, end, calls, usage, finish = EXPECTED[name]
    text = result.content or ""
    assert text.startswith(start) and text.endswith(end)
    assert [(c.name, dict(c.arguments)) for c in result.tool_calls] == calls
    assert all(c.id.startswith("toolu_") and c.arguments_error is None for c in result.tool_calls)
    u = result.usage
    assert (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens, u.cached_tokens, u.cache_write_tokens) == usage
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert result.finish_reason == finish


def test_every_recorded_file_is_covered(provider_wire: Path) -> None:
    names = {p.stem for p in (provider_wire / "anthropic").glob("*.json")}
    assert names == set(EXPECTED) | set(ERRORS) | set(OTHER)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if "_stream_" not in n))
def test_message_body_parses(provider_wire: Path, name: str) -> None:
    data = _load(provider_wire, name)
    assert data["stream"] is False
    _check(PROTO.parse(data["response_body"], PROFILE, "req_x"), name)


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if "_stream_" in n))
def test_stream_replays_whole_and_split(provider_wire: Path, name: str) -> None:
    data = _load(provider_wire, name)
    assert data["stream_format"] == "sse"
    results = []
    for split in SPLITS:
        events, acc = _feed(data["response_body"], split)
        assert acc.finished
        result = acc.result()
        _check(result, name)
        assert "".join(e.data for e in events if e.type is E.TOKEN) == (result.content or "")
        assert [e.data for e in events if e.type is E.TOOL_CALL_END] == list(result.tool_calls)
        starts = [e.data for e in events if e.type is E.TOOL_CALL_START]
        assert [(s["id"], s["name"]) for s in starts] == [(c.id, c.name) for c in result.tool_calls]
        assert [e.data for e in events if e.type is E.USAGE][-1] == result.usage
        assert (result.reasoning or "") == "".join(e.data for e in events if e.type is E.REASONING)
        results.append(result.to_dict())
    assert all(r == results[0] for r in results)


def test_text_then_parallel_tool_arguments_reassembled_from_fragments(provider_wire: Path) -> None:
    data = _load(provider_wire, "messages_stream_text_then_parallel_tool_use__mirascope")
    events, acc = _feed(data["response_body"], 7)
    deltas = [e.data["arguments"] for e in events if e.type is E.TOOL_CALL_DELTA and e.data["index"] == 0]
    assert len(deltas) >= 3 and "".join(deltas) == '{"password": "mellon"}'
    assert [c.id for c in acc.result().tool_calls] == ["toolu_015cUijgET79LXjgeYQerN2h", "toolu_01XZTimPexA7h3EVKesnKt5T"]


def test_empty_partial_json_gives_empty_arguments_not_an_error(provider_wire: Path) -> None:
    data = _load(provider_wire, "messages_stream_thinking_then_tool_use__simonw-llm-anthropic")
    call = _feed(data["response_body"], 1)[1].result().tool_calls[0]
    assert call.raw_arguments == "" and dict(call.arguments) == {} and call.arguments_error is None
    assert call.to_openai()["function"]["arguments"] == "{}"


def test_streamed_thinking_keeps_the_signature_for_the_next_turn(provider_wire: Path) -> None:
    data = _load(provider_wire, "messages_stream_thinking_signature_delta__simonw-llm-anthropic")
    signature = re.search(r'"signature_delta","signature":"([^"]+)"', data["response_body"]).group(1)
    result = _feed(data["response_body"], 7)[1].result()
    blocks = result.to_message()["output_items"][0]["content"]
    assert [b["type"] for b in blocks] == ["thinking", "text"]
    assert blocks[0]["signature"] == signature and blocks[0]["thinking"] == result.reasoning
    resent = PROTO.build(PROFILE, [{"role": "user", "content": "Hi"}, result.to_message(),
                                   {"role": "user", "content": "And a third?"}], {})
    assert resent["messages"][1] == {"role": "assistant", "content": blocks}


def test_thinking_blocks_round_trip_byte_for_byte(provider_wire: Path) -> None:
    data = _load(provider_wire, "messages_thinking_signature__ruby_llm")
    result = PROTO.parse(data["response_body"], PROFILE, None)
    msg = json.loads(json.dumps(result.to_message()))  # what a conversation store keeps
    again = CompletionResult.from_dict(json.loads(json.dumps(result.to_dict())))  # and a cache
    for m in (msg, again.to_message()):
        body = PROTO.build(PROFILE, [{"role": "user", "content": "Q"}, m, {"role": "user", "content": "Next"}], {})
        assert json.dumps(body["messages"][1]["content"]) == json.dumps(data["response_body"]["content"])


def test_recorded_thinking_replay_request_is_what_build_sends(provider_wire: Path) -> None:
    data = _load(provider_wire, "messages_thinking_signature_replay__ruby_llm")
    recorded = data["request_body"]
    previous = parse_anthropic_message({"content": recorded["messages"][1]["content"]}, PROFILE)
    body = PROTO.build(PROFILE, [{"role": "user", "content": "What is 5 + 3?"}, previous.to_message(),
                                 {"role": "user", "content": "Now multiply that by 2"}],
                       {"thinking_budget": 1024, "max_tokens": 64000})
    assert body["messages"][1] == recorded["messages"][1]
    assert body["thinking"] == recorded["thinking"] and body["max_tokens"] == recorded["max_tokens"]


def test_redacted_thinking_blocks_are_kept_without_deltas(provider_wire: Path) -> None:
    data = _load(provider_wire, "messages_stream_redacted_thinking__pydantic-ai")
    events, acc = _feed(data["response_body"], 64)
    blocks = acc.result().output_items[0]["content"]
    assert [b["type"] for b in blocks] == ["redacted_thinking", "redacted_thinking", "text"]
    assert all(len(b["data"]) > 100 for b in blocks[:2])
    assert len([e for e in events if e.type is E.TOKEN]) == 15


@pytest.mark.parametrize("name", ["messages_tool_result_followup__ruby_llm",
                                  "messages_stream_parallel_tool_results_followup__simonw-llm-anthropic"])
def test_recorded_tool_followups_are_what_build_sends(provider_wire: Path, name: str) -> None:
    recorded = _load(provider_wire, name)["request_body"]
    assistant = recorded["messages"][1]["content"]
    calls = [{"id": b["id"], "type": "function", "function": {"name": b["name"], "arguments": json.dumps(b["input"])}}
             for b in assistant if b["type"] == "tool_use"]
    text = "".join(b["text"] for b in assistant if b["type"] == "text")
    results = recorded["messages"][2]["content"]
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": text or None, "tool_calls": calls}]
    messages += [{"role": "tool", "tool_call_id": r["tool_use_id"], "content": r["content"] if isinstance(r["content"], str)
                  else [{"type": "text", "text": p["text"]} for p in r["content"]]} for r in results]
    tools = [{"type": "function", "function": {"name": t["name"], "description": t["description"],
                                               "parameters": t["input_schema"]}} for t in recorded["tools"]]
    body = PROTO.build(PROFILE, messages, {"tools": tools})
    assert body["messages"][1:] == recorded["messages"][1:]
    assert body["tools"] == [{k: t[k] for k in ("name", "input_schema", "description") if t.get(k)}
                             for t in recorded["tools"]]


def test_structured_output_request_matches_the_recorded_beta(provider_wire: Path) -> None:
    data = _load(provider_wire, "messages_200_with_retry_after_beta_structured_output__openllmetry")
    schema = data["request_body"]["output_format"]["schema"]
    body = PROTO.build(PROFILE, [{"role": "user", "content": "joke"}],
                       {"response_format": {"type": "json_schema", "json_schema": {"name": "j", "schema": schema}}})
    assert body["output_format"] == data["request_body"]["output_format"]
    assert data["request_headers"]["anthropic-beta"] in AnthropicProvider(api_key="k")._default_headers().values()


def test_200_with_retry_after_is_a_result_and_no_pause(provider_wire: Path) -> None:
    data = _load(provider_wire, "messages_200_with_retry_after_beta_structured_output__openllmetry")
    limiter = RateLimiter(RateLimit(rpm=100, tpm=100_000), clock=lambda: 0.0)
    limiter.observe(200, limiter_headers(data["response_headers"], now=lambda: 0.0))
    assert limiter.snapshot()["paused_for"] == 0.0
    assert json.loads(PROTO.parse(data["response_body"], PROFILE, None).content)["rating"] == 7


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_error_bodies_map_to_our_errors(provider_wire: Path, name: str) -> None:
    data = _load(provider_wire, name)
    cls, retried, kind = ERRORS[name]
    headers = data["response_headers"] or {}
    err = _status_error(data["status"], data["response_body"], headers, _request_id(headers))
    assert type(err) is cls and err.status_code == data["status"]
    assert err.type == kind and data["response_body"]["error"]["message"] in err.message
    body_rid = data["response_body"].get("request_id")
    assert err.request_id == (body_rid or _request_id(headers))
    if err.request_id and _request_id(headers) in (None, err.request_id):
        assert err.request_id in str(err)
    assert RetryPolicy().should_retry(data["status"], headers, data["response_body"]) is retried


def test_prompt_too_long_carries_the_body_request_id(provider_wire: Path) -> None:
    data = _load(provider_wire, "error_400_prompt_too_long__ruby_llm")
    headers = data["response_headers"]
    err = _status_error(400, data["response_body"], headers, _request_id(headers))
    assert headers["Request-Id"] == "<REQUEST_ID>"  # the recorder's placeholder: the body's id wins
    assert err.request_id == "req_011CeCGmMJJGRCp7xgjqapmJ"
    assert "prompt is too long: 3333404 tokens > 200000 maximum" in str(err)


def test_synthetic_429_feeds_retry_after_and_ratelimit_headers_to_the_limiter(provider_wire: Path) -> None:
    data = _load(provider_wire, "error_429_rate_limit__synthetic")
    assert data["synthetic"] is True
    headers = data["response_headers"]
    assert RetryPolicy().delay(0, headers) == 17.0
    now = [0.0]
    limiter = RateLimiter(RateLimit(rpm=1000, tpm=1_000_000), clock=lambda: now[0])
    limiter.observe(429, limiter_headers(headers, now=lambda: 1767225600.0))  # 2026-01-01T00:00:00Z
    snap = limiter.snapshot()
    assert snap["paused_for"] == 17.0
    assert snap["tokens"]["limit"] == 38_000  # learned from anthropic-ratelimit-tokens-limit


def test_429_headers_only_is_retried_and_feeds_the_limiter(provider_wire: Path) -> None:
    data = _load(provider_wire, "error_429_headers_only__reported-anthropic-sdk-typescript-issue357")
    headers = data["response_headers"]
    assert RetryPolicy().should_retry(429, headers, None)
    translated = limiter_headers(headers, now=lambda: 0.0)
    assert translated["x-ratelimit-remaining-requests"] == headers["anthropic-ratelimit-requests-remaining"] == "0"
    err = _status_error(429, None, headers, _request_id(headers))
    assert isinstance(err, RateLimitError) and err.request_id == headers["request-id"]


@pytest.mark.parametrize("split", SPLITS)
def test_in_stream_error_event_raises_with_the_partial_text(provider_wire: Path, split: int | None) -> None:
    data = _load(provider_wire, "messages_stream_error_event_overloaded__synthetic")
    assert data["synthetic"] is True
    with pytest.raises(StreamError) as info:
        _feed(data["response_body"], split)
    err = info.value
    assert "overloaded_error" in str(err) and err.body["error"]["type"] == "overloaded_error"
    assert err.partial.content == "Hello" and err.partial.usage.prompt_tokens == 25


class _Replay:
    """An in-memory transport answering every request with one recorded body."""

    def __init__(self, body: Any, status: int = 200) -> None:
        self.body, self.status = body, status
        self.calls: list[tuple[str, Any]] = []
        self.retry = RetryPolicy(max_retries=0)
        self.observers: list[Any] = []
        self.base_url = "http://replay"

    def request(self, method: str, path: str, json: Any = None, **kw: Any) -> TransportResponse:
        self.calls.append((path, json))
        content = self.body if isinstance(self.body, bytes) else __import__("json").dumps(self.body).encode()
        return TransportResponse(self.status, {}, content, "req_replay")

    def close(self) -> None:
        pass


def test_count_tokens_endpoint_is_read_and_memoised(provider_wire: Path) -> None:
    data = _load(provider_wire, "count_tokens_with_thinking__ruby_llm")
    transport = _Replay(data["response_body"])
    provider = AnthropicProvider("claude-haiku-4-5-20251001", transport=transport)
    prompt = [{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}]
    assert provider.count_tokens(prompt, thinking_budget=2048) == data["response_body"]["input_tokens"] == 43
    assert provider.count_tokens(prompt, thinking_budget=2048) == 43
    assert len(transport.calls) == 1
    path, sent = transport.calls[0]
    assert path == "/v1/messages/count_tokens" and sent == data["request_body"]


def test_batch_result_lines_parse_as_messages(provider_wire: Path) -> None:
    data = _load(provider_wire, "batches_results_jsonl__ruby_llm")
    lines = [json.loads(line) for line in data["response_body"].splitlines() if line.strip()]
    results = [parse_anthropic_message(line["result"]["message"], PROFILE) for line in lines]
    assert [r.content for r in results] == ["4", "Jupiter"]
    assert [(r.usage.prompt_tokens, r.usage.completion_tokens) for r in results] == [(20, 5), (19, 4)]


def test_request_options_map_or_are_refused_before_sending() -> None:
    from llm_client_sync.errors import ConfigurationError

    msgs = [{"role": "user", "content": "q"}]
    assert PROTO.build(PROFILE, msgs, {"reasoning_effort": "low"})["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert "thinking" not in PROTO.build(PROFILE, msgs, {"reasoning_effort": "none"})
    assert PROTO.build(PROFILE, msgs, {"user": "u1"})["metadata"] == {"user_id": "u1"}
    for bad in ({"n": 2}, {"seed": 1}, {"thinking_budget": 2048, "temperature": 0.5},
                {"thinking_budget": 4096, "max_tokens": 1000}, {"thinking_budget": 100}):
        with pytest.raises(ConfigurationError):
            PROTO.build(PROFILE, msgs, bad)


def test_claude_profiles_resolve_snapshots_and_price_cache_writes() -> None:
    snap = get_profile("claude-haiku-4-5-20251001")
    assert snap.api_id == "claude-haiku-4-5-20251001" and snap.input_price == PROFILE.input_price == 1.0
    assert PROFILE.prices_as_of and PROFILE.cache_write_price == 1.25 and PROFILE.cached_input_price == 0.10
    # 1000 uncached + 1000 written + 1000 read, 100 out
    assert PROFILE.cost(3000, 100, 1000, 1000) == pytest.approx((1000 * 1.0 + 1000 * 1.25 + 1000 * 0.10 + 100 * 5.0) / 1e6)


@pytest.mark.parametrize("body", [{"id": "x"}, {"type": "message", "content": "text"}, ["not", "an", "object"],
                                  {"type": "message", "content": [1]}])
def test_a_body_that_is_not_a_message_is_a_validation_error(body: Any) -> None:
    from llm_client_sync.errors import APIResponseValidationError

    with pytest.raises(APIResponseValidationError):
        PROTO.parse(body, PROFILE, "rid")


@pytest.mark.parametrize("data", ['["a"]', "{not json", '{"type": "content_block_delta", "index": "x", "delta": {}}'])
def test_a_malformed_stream_event_is_a_stream_error(data: str) -> None:
    from llm_client_sync._sse import ServerSentEvent

    acc = PROTO.accumulator(PROFILE, "rid")
    acc.feed(ServerSentEvent('{"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3}}}'))
    with pytest.raises(StreamError, match="malformed") as info:
        acc.feed(ServerSentEvent(data))
    assert info.value.partial.usage.prompt_tokens == 3


def test_adaptive_models_get_an_effort_older_ones_a_budget(provider_wire: Path) -> None:
    recorded = _load(provider_wire, "messages_stream_adaptive_thinking_opus46__simonw-llm-anthropic")["request_body"]
    opus = get_profile("claude-opus-4-6")
    body = PROTO.build(opus, [{"role": "user", "content": "q"}], {"reasoning_effort": "high"})
    assert body["thinking"]["type"] == recorded["thinking"]["type"] == "adaptive"
    assert body["output_config"] == {"effort": "high"}
    assert PROTO.build(opus, [{"role": "user", "content": "q"}], {"thinking_budget": 1024})["output_config"] == {"effort": "low"}
    assert PROTO.build(get_profile("claude-sonnet-5-5"), [{"role": "user", "content": "q"}],
                       {"reasoning_effort": "xhigh"})["output_config"] == {"effort": "high"}
    older = PROTO.build(PROFILE, [{"role": "user", "content": "q"}], {"reasoning_effort": "medium"})
    assert older["thinking"] == {"type": "enabled", "budget_tokens": 4096} and "output_config" not in older
