"""Cache keys: every field that changes the answer changes the key; nothing else does."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_client_sync.cache import ResponseCache, cache_key
from llm_client_sync.cache._key import canonical_json, prompt_text, semantic_scope
from llm_client_sync.errors import CacheError

CHAT = "/v1/chat/completions"
BASE = {
    "model": "gpt-5-nano",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Tokyo?"}],
}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}}}

# One change per entry: each must give a key different from BASE and from every other entry.
VARIANTS: dict[str, dict] = {
    "model": {"model": "gpt-5-mini"},
    "user message text": {"messages": [BASE["messages"][0], {"role": "user", "content": "Weather in Osaka?"}]},
    "system message text": {"messages": [{"role": "system", "content": "Be long."}, BASE["messages"][1]]},
    "message role": {"messages": [{"role": "developer", "content": "Be brief."}, BASE["messages"][1]]},
    "message order": {"messages": list(reversed(BASE["messages"]))},
    "message name": {"messages": [BASE["messages"][0], {**BASE["messages"][1], "name": "ann"}]},
    "extra message": {"messages": BASE["messages"] + [{"role": "user", "content": "Thanks"}]},
    "trailing space": {"messages": [BASE["messages"][0], {"role": "user", "content": "Weather in Tokyo? "}]},
    "content parts": {"messages": [BASE["messages"][0], {"role": "user", "content": [
        {"type": "text", "text": "Weather in Tokyo?"}]}]},
    "tools": {"tools": [TOOL]},
    "tool schema": {"tools": [{**TOOL, "function": {**TOOL["function"], "description": "Weather."}}]},
    "tool_choice": {"tools": [TOOL], "tool_choice": "required"},
    "parallel_tool_calls": {"tools": [TOOL], "parallel_tool_calls": False},
    "response_format": {"response_format": {"type": "json_object"}},
    "temperature": {"temperature": 0.2},
    "temperature explicit default": {"temperature": 1},
    "top_p": {"top_p": 0.5},
    "seed": {"seed": 42},
    "other seed": {"seed": 43},
    "max_completion_tokens": {"max_completion_tokens": 100},
    "max_tokens": {"max_tokens": 100},
    "reasoning_effort": {"reasoning_effort": "minimal"},
    "n": {"n": 2},
    "n explicit default": {"n": 1},
    "stop": {"stop": ["\n"]},
    "stop as string": {"stop": "\n"},
    "user": {"user": "u-1"},
    "metadata": {"metadata": {"tenant": "a"}},
    "frequency_penalty": {"frequency_penalty": 0.5},
    "presence_penalty": {"presence_penalty": 0.5},
    "logit_bias": {"logit_bias": {"50256": -100}},
    "logprobs": {"logprobs": True},
    "top_logprobs": {"logprobs": True, "top_logprobs": 2},
    "service_tier": {"service_tier": "flex"},
    "store": {"store": False},
    "verbosity": {"verbosity": "low"},
    "modalities": {"modalities": ["text"]},
    "prediction": {"prediction": {"type": "content", "content": "Sunny"}},
    "extra param": {"some_future_param": True},
    "extra param null": {"some_future_param": None},
}


def _key(changes: dict, endpoint: str = CHAT, namespace: str | None = None) -> str:
    return cache_key(endpoint, {**BASE, **changes}, namespace)


def test_at_least_25_fields_each_change_the_key_and_no_two_collide() -> None:
    assert len(VARIANTS) >= 25
    keys = {name: _key(change) for name, change in VARIANTS.items()}
    base = _key({})
    unchanged = [name for name, key in keys.items() if key == base]
    assert unchanged == [], f"these changes did not change the key: {unchanged}"
    assert len(set(keys.values())) == len(keys)


def test_omitted_param_and_its_explicit_default_are_different_keys() -> None:
    assert _key({}) != _key({"n": 1})
    assert _key({}) != _key({"temperature": 1})
    assert _key({}) != _key({"some_future_param": None})


def test_endpoint_and_namespace_change_the_key() -> None:
    keys = {_key({}), _key({}, endpoint="/v1/responses"), _key({}, namespace="tenant-a"),
            _key({}, namespace="tenant-b"), _key({}, namespace="")}
    assert len(keys) == 5


def test_dict_order_does_not_change_the_key() -> None:
    reordered = dict(reversed(list({**BASE, "temperature": 1, "seed": 3}.items())))
    assert cache_key(CHAT, reordered) == _key({"temperature": 1, "seed": 3})
    assert _key({"metadata": {"a": "1", "b": "2"}}) == _key({"metadata": {"b": "2", "a": "1"}})


def test_int_and_float_stay_apart_and_tuples_equal_lists() -> None:
    # stricter is safe (a miss); looser would risk a wrong answer
    assert _key({"temperature": 1}) != _key({"temperature": 1.0})
    assert _key({"stop": ("a", "b")}) == _key({"stop": ["a", "b"]})
    assert _key({"seed": True}) != _key({"seed": 1})


def test_key_is_hex_sha256_and_pinned_across_processes() -> None:
    key = _key({})
    assert len(key) == 64 and int(key, 16) >= 0
    code = f"import json; from llm_client_sync.cache import cache_key; print(cache_key({CHAT!r}, json.loads({json.dumps(BASE)!r})))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": "123", "LLM_CLIENT_SYNC_NO_DOTENV": "1"}, timeout=60)
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == key


def test_api_key_is_never_part_of_the_key() -> None:
    cache = ResponseCache(backend=None)  # key() never touches the backend
    key = cache.key(CHAT, BASE)
    assert key == cache_key(CHAT, BASE)
    assert "sk-" not in canonical_json({"v": 1, "body": BASE})


def test_body_json_cannot_represent_is_a_cache_error() -> None:
    with pytest.raises(CacheError, match="canonical JSON"):
        cache_key(CHAT, {**BASE, "temperature": float("nan")})
    with pytest.raises(CacheError):
        cache_key(CHAT, {**BASE, "x": object()})
    with pytest.raises(CacheError):
        cache_key("", BASE)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
bodies = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@settings(max_examples=200, deadline=None)
@given(bodies, bodies)
def test_keys_equal_exactly_when_canonical_bodies_are_equal(a: dict, b: dict) -> None:
    same = canonical_json(a) == canonical_json(b)
    assert (cache_key(CHAT, a) == cache_key(CHAT, b)) == same


@settings(max_examples=100, deadline=None)
@given(bodies)
def test_key_ignores_insertion_order(body: dict) -> None:
    shuffled = dict(reversed(list(body.items())))
    assert cache_key(CHAT, shuffled) == cache_key(CHAT, body)


def test_prompt_text_covers_roles_and_text_and_refuses_non_text() -> None:
    assert prompt_text(BASE) == "system: Be brief.\nuser: Weather in Tokyo?"
    assert prompt_text({"input": "hello", "instructions": "be nice"}) == "instructions: be nice\nuser: hello"
    image = {"messages": [{"role": "user", "content": [{"type": "text", "text": "what is it"},
                                                       {"type": "image_url", "image_url": {"url": "x"}}]}]}
    assert prompt_text(image) is None
    assert prompt_text({"input": [{"type": "function_call_output", "call_id": "c", "output": "1"}]}) is None
    assert prompt_text({"model": "m"}) is None


def test_semantic_scope_ignores_prompt_only() -> None:
    other_prompt = {**BASE, "messages": [{"role": "user", "content": "Tokyo weather?"}]}
    assert semantic_scope(BASE) == semantic_scope(other_prompt)
    for change in ({"model": "gpt-5"}, {"temperature": 1}, {"tools": [TOOL]}):
        assert semantic_scope({**BASE, **change}) != semantic_scope(BASE)
    assert semantic_scope(BASE, "a") != semantic_scope(BASE, "b")
    responses_body = {"model": BASE["model"], "input": "Weather in Tokyo?"}
    assert semantic_scope(responses_body) != semantic_scope({"model": BASE["model"], "messages": []})


@pytest.mark.parametrize("a,b", list(itertools.combinations(["x", "x ", "X", "x\u0301", "\u00ed"], 2)))
def test_unicode_variants_are_different_keys(a: str, b: str) -> None:
    assert _key({"user": a}) != _key({"user": b})


def test_key_recipe_is_pinned() -> None:
    # changing the recipe must bump KEY_VERSION, or old entries could answer new requests
    body = {"model": "gpt-5-nano", "messages": [{"role": "user", "content": "hi"}]}
    assert cache_key(CHAT, body) == "e4c095a6b80d93fa8be530fa7073c2fd8874fc08931c91701e4d1f70332a2b9a"
