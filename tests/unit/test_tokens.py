"""Token counting: exact counts, message framing, tools, the per-message cache, request estimates."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from support import shared_dir
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_client_sync.models import GPT5Nano, TextEmbedding3Small, get_profile
from llm_client_sync.tokens import (
    Tokenizer,
    count_messages,
    count_tokens,
    estimate_request_tokens,
    get_tokenizer,
    is_exact,
)
from llm_client_sync.tokens import _encodings
from llm_client_sync.tokens import message_tokens

ENC_DIR = os.environ.get("TIKTOKEN_CACHE_DIR") or str(shared_dir() / "tiktoken")
HAVE_ENCODINGS = os.path.isdir(ENC_DIR) and len(os.listdir(ENC_DIR)) >= 2
exact_only = pytest.mark.skipif(not HAVE_ENCODINGS, reason=f"tiktoken encodings not found in {ENC_DIR}")


@pytest.fixture(autouse=True, scope="module")
def _encodings_from_shared_dir():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", ENC_DIR)
        mp.setenv("LLM_CLIENT_SYNC_TIKTOKEN_FETCH_TIMEOUT", "0")  # never touch the internet
        _encodings.reset()
        yield
    _encodings.reset()


@exact_only
def test_encoding_constants_match_tiktoken():
    import tiktoken

    for name, spec in _encodings._SPECS.items():
        theirs = tiktoken.get_encoding(name)
        assert spec.pat_str == theirs._pat_str
        assert dict(spec.special_tokens) == theirs._special_tokens
        ours = _encodings.load_encoding(name)
        text = "Hello, wörld! 12345 <|endoftext|> 日本語\n\n  def f(x): return x**2"
        assert ours.encode_ordinary(text) == theirs.encode_ordinary(text)


@exact_only
def test_model_picks_encoding_from_profile():
    assert get_tokenizer("gpt-5-nano").encoding_name == "o200k_base"
    assert get_tokenizer(GPT5Nano).encoding_name == "o200k_base"
    assert get_tokenizer(TextEmbedding3Small).encoding_name == "cl100k_base"
    assert get_tokenizer("text-embedding-3-large").encoding_name == "cl100k_base"
    assert get_tokenizer("some-unknown-model").encoding_name == "o200k_base"  # DEFAULT_PROFILE
    assert get_tokenizer("gpt-3.5-turbo").encoding_name == "cl100k_base"
    assert get_tokenizer("gpt-4-0613").encoding_name == "cl100k_base"
    assert get_tokenizer("gpt-4o-mini").encoding_name == "o200k_base"
    assert is_exact("gpt-5-nano") and is_exact(TextEmbedding3Small)


@exact_only
def test_count_tokens_exact_values():
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0
    assert count_tokens("<|endoftext|>") > 1  # special tokens in user text are plain text


@exact_only
def test_single_user_message_framing():
    content = "Count r's in strawberry"
    n = count_tokens(content)
    # 3 framing + 1 role + content + reply priming (2 for the gpt-5 family, 3 otherwise)
    assert count_messages([{"role": "user", "content": content}], "gpt-5-nano") == 3 + 1 + n + 2
    assert count_messages([{"role": "user", "content": content}], "gpt-4o") == 3 + 1 + n + 3


@exact_only
def test_name_tool_calls_and_tool_results_are_counted():
    base = [{"role": "user", "content": "hi"}]
    named = [{"role": "user", "content": "hi", "name": "alice"}]
    assert count_messages(named, "gpt-4o") == count_messages(base, "gpt-4o") + 1 + count_tokens("alice")
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]}
    result = {"role": "tool", "tool_call_id": "c1", "content": "sunny"}
    with_call = count_messages(base + [call], "gpt-4o")
    assert with_call - count_messages(base, "gpt-4o") == (
        3 + count_tokens("assistant") + 3 + count_tokens("get_weather") + count_tokens('{"city":"Paris"}'))
    with_result = count_messages(base + [call, result], "gpt-4o")
    # the API renders the function name in a tool result's header
    assert with_result - with_call == 3 + count_tokens("tool") + count_tokens("sunny") + count_tokens(
        "functions.get_weather")


@exact_only
def test_content_parts_and_images():
    text_only = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}]
    low = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                         {"type": "image_url", "image_url": {"url": "x", "detail": "low"}}]}]
    high = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                          {"type": "image_url", "image_url": {"url": "x"}}]}]
    assert count_messages(low) - count_messages(text_only) == 85
    assert count_messages(high) - count_messages(text_only) == 765
    assert count_messages(text_only) == count_messages([{"role": "user", "content": "What is this?"}])


@exact_only
def test_tools_add_rendered_definitions():
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "days": {"type": "array", "items": {"type": "integer"}}}, "required": ["city"]}}}]
    msgs = [{"role": "user", "content": "hi"}]
    plain = count_messages(msgs, "gpt-4o")
    with_tools = count_messages(msgs, "gpt-4o", tools=tools)
    from llm_client_sync.tokens._tokenizer import render_tools

    rendered = render_tools(tools)
    assert 'unit?: "c" | "f",' in rendered and "days?: number[]," in rendered and "// City name" in rendered
    assert with_tools - plain == count_tokens(rendered, "gpt-4o")
    # chat/completions on a reasoning model adds the hidden tool preamble
    assert count_messages(msgs, "gpt-5-nano", tools=tools) - count_messages(msgs, "gpt-5-nano") == (
        count_tokens(rendered) + 90)


def test_message_cache_encodes_each_message_once():
    calls = []

    def encode(text):
        calls.append(text)
        return len(text)

    tok = Tokenizer("test-enc", True, False, encode)
    msg = {"role": "user", "content": "a long message " * 100}
    first = message_tokens(msg, tok)
    n = len(calls)
    assert message_tokens(dict(msg), tok) == first  # equal content, a different dict object
    assert len(calls) == n
    changed = {"role": "user", "content": "a different message"}
    message_tokens(changed, tok)
    assert len(calls) > n


def test_estimate_request_tokens_counts_every_part():
    profile = get_profile("gpt-4o")
    msgs = [{"role": "user", "content": "Solve 2 + 2"}]
    base = estimate_request_tokens({"model": "gpt-4o", "messages": msgs}, profile)
    assert base == count_messages(msgs, profile)
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    with_schema = estimate_request_tokens({"model": "gpt-4o", "messages": msgs, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}, profile)
    assert with_schema - base == count_tokens(json.dumps(schema, separators=(",", ":")), profile)
    responses = estimate_request_tokens({"model": "gpt-4o", "input": "Solve 2 + 2"}, profile)
    assert responses == base
    with_instr = estimate_request_tokens({"model": "gpt-4o", "input": "Solve 2 + 2", "instructions": "Be brief"},
                                         profile)
    assert with_instr > responses
    emb = estimate_request_tokens({"model": "text-embedding-3-small", "input": ["hello world", "hi"]},
                                  TextEmbedding3Small)
    assert emb == count_tokens("hello world", TextEmbedding3Small) + count_tokens("hi", TextEmbedding3Small)


def test_responses_function_call_items_are_counted():
    profile = get_profile("gpt-5-nano")
    items = [{"role": "user", "content": "weather?"},
             {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
             {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
             {"type": "reasoning", "encrypted_content": "x" * 1300, "summary": []}]
    full = estimate_request_tokens({"input": items}, profile)
    assert full > estimate_request_tokens({"input": items[:1]}, profile) + 100  # 1300 chars ~ 100 tokens


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["messages", "input", "tools", "instructions", "response_format",
                                        "text", "prompt", "model", "n"]), json_values, max_size=6))
def test_estimate_request_tokens_never_raises(body):
    value = estimate_request_tokens(body, get_profile("gpt-5-nano"))
    assert isinstance(value, int) and value >= 0


@given(st.text(max_size=200))
@settings(max_examples=100, deadline=None)
def test_approx_counter_is_nonnegative_and_monotone_in_concatenation(text):
    a = _encodings.approx_count(text)
    assert a >= 0
    assert _encodings.approx_count(text + " word") >= a


def test_import_is_lazy():
    code = ("import sys, llm_client_sync, llm_client_sync.tokens; "
            "assert 'tiktoken' not in sys.modules, 'tiktoken imported at import time'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
