"""Golden USD table: recorded usage blocks (plain, cached, reasoning, cache writes, batch) priced by
``ModelProfile.cost`` against sums worked out by hand (in the comments)."""

from __future__ import annotations

import json

import pytest

from llm_client_sync.models import GPT5Mini, GPT5Nano, ModelProfile, TextEmbedding3Small
from llm_client_sync.providers._chat import parse_chat_response
from llm_client_sync.types import Usage


def _profile(name: str, inp: float, cached: float | None, out: float, write: float | None = None) -> ModelProfile:
    return ModelProfile(name, name, "chat", 200_000, 8_192, inp, cached, out, cache_write_price=write)


# USD per 1M tokens, stated here so the hand sums below can be checked on paper
GPT4O = _profile("gpt-4o", 2.50, 1.25, 10.0)
GPT35 = _profile("gpt-3.5-turbo", 0.50, None, 1.50)
HAIKU45 = _profile("claude-haiku-4-5", 1.00, 0.10, 5.00, write=1.25)
SONNET4 = _profile("claude-sonnet-4-0", 3.00, 0.30, 15.00, write=3.75)
FLASH25 = _profile("gemini-2.5-flash", 0.30, 0.03, 2.50)


def _load(root, name: str) -> dict:
    return json.loads((root / name).read_text())


def _anthropic_usage(u: dict) -> Usage:
    # input_tokens excludes cache reads and writes; the library's prompt_tokens includes both
    prompt = u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"]
    return Usage(prompt, u["output_tokens"], prompt + u["output_tokens"], cached_tokens=u["cache_read_input_tokens"],
                 cache_write_tokens=u["cache_creation_input_tokens"])


def _gemini_usage(u: dict) -> Usage:
    # thinking tokens are billed as output; cachedContentTokenCount is part of promptTokenCount
    out = u["candidatesTokenCount"] + u.get("thoughtsTokenCount", 0)
    return Usage(u["promptTokenCount"], out, u["totalTokenCount"], reasoning_tokens=u.get("thoughtsTokenCount", 0),
                 cached_tokens=u.get("cachedContentTokenCount", 0))


OPENAI_ROWS = [
    # (exchange, profile, batch, hand-computed USD)
    # plain: 13 in x 0.50 + 31 out x 1.50 = 6.5 + 46.5 = 53 -> 0.000053
    ("chat_plain_text__langchaingo.json", GPT35, False, 0.000053),
    # cached: (1220-1152) x 2.50 + 1152 x 1.25 + 100 x 10 = 170 + 1440 + 1000 = 2610 -> 0.00261
    ("chat_cached_tokens__dd-trace-py.json", GPT4O, False, 0.00261),
    # reasoning (192 of the 228 out): 11 x 0.05 + 228 x 0.40 = 0.55 + 91.2 = 91.75 -> 0.00009175
    ("chat_reasoning_tokens_gpt5nano__openllmetry.json", GPT5Nano, False, 0.00009175),
    # Responses cached: (1515-1390) x 2.50 + 1390 x 1.25 + 8 x 10 = 312.5 + 1737.5 + 80 = 2130 -> 0.00213
    ("responses_cached_tokens__dd-trace-py.json", GPT4O, False, 0.00213),
    # Responses reasoning: 54 x 0.25 + 164 x 2.00 = 13.5 + 328 = 341.5 -> 0.0003415
    ("responses_reasoning_tokens_gpt5mini__dd-trace-py.json", GPT5Mini, False, 0.0003415),
    # embeddings: 2 x 0.02 = 0.04 -> 0.00000004
    ("embeddings_base64__dd-trace-py.json", TextEmbedding3Small, False, 0.00000004),
    # the reasoning call through the Batch API: 91.75 x 0.5 = 45.875 -> 0.000045875
    ("chat_reasoning_tokens_gpt5nano__openllmetry.json", GPT5Nano, True, 0.000045875),
]

OTHER_ROWS = [
    # Anthropic cache write: 10 x 1.00 + 7351 x 1.25 + 4 x 5 = 10 + 9188.75 + 20 = 9218.75 -> 0.00921875
    ("anthropic/messages_cache_write__ruby_llm.json", _anthropic_usage, HAIKU45, 0.00921875),
    # Anthropic cache read: 10 x 1.00 + 7351 x 0.10 + 4 x 5 = 10 + 735.1 + 20 = 765.1 -> 0.0007651
    ("anthropic/messages_cache_read__ruby_llm.json", _anthropic_usage, HAIKU45, 0.0007651),
    # both in one response: 3 x 3 + 598 x 3.75 + 4597 x 0.30 + 350 x 15 = 9 + 2242.5 + 1379.1 + 5250 = 8880.6
    ("anthropic/messages_cache_write_and_read_same_response__mirascope.json", _anthropic_usage, SONNET4, 0.0088806),
    # Gemini implicit cache + thinking: 742 x 0.30 + 3055 x 0.03 + (656+1549) x 2.50
    #   = 222.6 + 91.65 + 5512.5 = 5826.75 -> 0.00582675
    ("gemini/generateContent_implicit_cache_hit__mirascope.json", _gemini_usage, FLASH25, 0.00582675),
]


@pytest.mark.parametrize("name,profile,batch,usd", OPENAI_ROWS, ids=[f"{r[0]}-batch{r[2]}" for r in OPENAI_ROWS])
def test_openai_usage_blocks_cost_what_was_worked_out_by_hand(openai_wire, name, profile, batch, usd):
    usage = Usage.from_api(_load(openai_wire / "exchanges", name)["response_body"]["usage"])
    assert profile.usage_cost(usage, batch=batch) == pytest.approx(usd, rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("name,to_usage,profile,usd", OTHER_ROWS, ids=[r[0] for r in OTHER_ROWS])
def test_other_provider_usage_blocks_cost_what_was_worked_out_by_hand(provider_wire, name, to_usage, profile, usd):
    body = _load(provider_wire, name)["response_body"]
    usage = to_usage(body.get("usage") or body.get("usageMetadata"))
    assert profile.usage_cost(usage) == pytest.approx(usd, rel=1e-9, abs=1e-15)


def test_parsed_result_carries_the_same_cost(openai_wire):
    """``build_result`` prices with the one cost function: the parsed result agrees with the table."""
    data = _load(openai_wire / "exchanges", "chat_cached_tokens__dd-trace-py.json")["response_body"]
    assert parse_chat_response(data, GPT4O).cost == pytest.approx(0.00261, rel=1e-9)
    data = _load(openai_wire / "exchanges", "chat_reasoning_tokens_gpt5nano__openllmetry.json")["response_body"]
    result = parse_chat_response(data, GPT5Nano)
    assert result.usage.reasoning_tokens == 192 and result.cost == pytest.approx(0.00009175, rel=1e-9)
