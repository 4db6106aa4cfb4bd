"""count_messages / estimate_request_tokens against the prompt_tokens the API reported.

Margins measured on the recordings in ../shared/openai-wire (o200k_base and cl100k_base):
chat/completions text-only requests: exact (0 tokens off) on all 7; with tools -4..+1 tokens;
structured-output schemas -3..+4; Responses API -2..+1 (unregistered gpt-5.5 is +1 because it is
not known to be a reasoning model). The test allows max(4 tokens, 8%).
"""

from __future__ import annotations

import glob
import json
import os
import re

import pytest

from support import require_service, shared_dir

from llm_client_sync.models import get_profile
from llm_client_sync.tokens import count_messages, estimate_request_tokens
from llm_client_sync.tokens import _encodings

WIRE = os.environ.get("OPENAI_WIRE_DIR") or str(shared_dir() / "openai-wire")
ENC_DIR = os.environ.get("TIKTOKEN_CACHE_DIR") or str(shared_dir() / "tiktoken")
# image tokens depend on the image's pixel size, which the request does not carry
SKIP = {"chat_image_input_reset_minutes__dd-trace-py.json": "image size unknown (see test_image_estimate)",
        "responses_stream_incomplete_max_output_tokens__dd-trace-py.json": "recorded usage is all zeros"}


def _usage(exchange):
    body = exchange["response_body"]
    if isinstance(body, dict):
        return body.get("usage")
    if isinstance(body, str):  # SSE text: the last usage object in it
        found = re.findall(r'"usage":(\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\})', body)
        return json.loads(found[-1]) if found else None
    return None


def _cases():
    for path in sorted(glob.glob(os.path.join(WIRE, "exchanges", "*.json"))):
        with open(path, encoding="utf-8") as fh:
            exchange = json.load(fh)
        body = exchange.get("request_body")
        if exchange.get("status") != 200 or not isinstance(body, dict) or "model" not in body:
            continue
        if "messages" not in body and "input" not in body:
            continue
        usage = _usage(exchange)
        if not usage or "transcri" in exchange.get("endpoint", ""):
            continue
        name = os.path.basename(path)
        marks = [pytest.mark.skip(reason=SKIP[name])] if name in SKIP else []
        reported = usage.get("prompt_tokens", usage.get("input_tokens"))
        yield pytest.param(body, reported, id=name.removesuffix(".json"), marks=marks)


CASES = list(_cases())


@pytest.fixture(autouse=True, scope="module")
def _shared_encodings():
    if not os.path.isdir(ENC_DIR):
        require_service(f"tiktoken encodings not found in {ENC_DIR}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIKTOKEN_CACHE_DIR", ENC_DIR)
        mp.setenv("LLM_CLIENT_SYNC_TIKTOKEN_FETCH_TIMEOUT", "0")
        _encodings.reset()
        yield
    _encodings.reset()


def test_recordings_found():
    if not os.path.isdir(WIRE):
        require_service(f"openai-wire recordings not found in {WIRE}")
    assert len(CASES) >= 15, f"expected the openai-wire recordings under {WIRE}"


@pytest.mark.parametrize("body,reported", CASES)
def test_estimate_matches_reported_prompt_tokens(body, reported):
    profile = get_profile(body["model"])
    estimate = estimate_request_tokens(body, profile)
    assert abs(estimate - reported) <= max(4, 0.08 * reported), (estimate, reported)


@pytest.mark.parametrize("body,reported", [c for c in CASES if "messages" in c.values[0]
                                            and "response_format" not in c.values[0]])
def test_count_messages_matches_reported_prompt_tokens(body, reported):
    counted = count_messages(body["messages"], body["model"], tools=body.get("tools"))
    assert abs(counted - reported) <= max(4, 0.08 * reported), (counted, reported)


@pytest.mark.parametrize("body,reported", [c for c in CASES if "messages" in c.values[0]
                                            and "tools" not in c.values[0] and "response_format" not in c.values[0]])
def test_text_only_chat_is_exact(body, reported):
    assert count_messages(body["messages"], body["model"]) == reported


def test_image_estimate():
    path = os.path.join(WIRE, "exchanges", "chat_image_input_reset_minutes__dd-trace-py.json")
    if not os.path.exists(path):
        pytest.skip("recording missing")
    with open(path, encoding="utf-8") as fh:
        exchange = json.load(fh)
    body = exchange["request_body"]
    text_only = [{"role": "user", "content": body["messages"][0]["content"][0]["text"]}]
    text_tokens = count_messages(text_only, body["model"])
    # the recorded 2560px image cost 1105 tokens (6 high-detail tiles); we assume 1024x1024: 765
    assert _usage(exchange)["prompt_tokens"] - text_tokens == 1105
    assert count_messages(body["messages"], body["model"]) - text_tokens == 765
