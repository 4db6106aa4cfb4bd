"""Contract suite of shapes OpenAI-compatible servers send (Ollama, vLLM, llama.cpp, LiteLLM,
Gemini/Vertex, OpenRouter, TGI, ...), built from their public issue reports and docs: each fixture in
tests/fixtures/compat names its source. Every fixture is replayed through the pure parser or stream
accumulator (at several split points) and through complete/stream over a real socket.

The second half replays the foreign VCR cassettes in ../shared/openai-wire/cassettes (Responses
streams with built-in tools, Gemini and OpenRouter compat) through the same parsers.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from llm_client_sync import APIResponseValidationError, OpenAIProvider, StreamError, StreamEventType as E, get_profile
from llm_client_sync._sse import SSEDecoder
from llm_client_sync.providers._chat import ChatAccumulator, parse_chat_response
from llm_client_sync.providers._responses import ResponsesAccumulator, parse_responses_response
from llm_client_sync.testing import MockOpenAIServer, RawReply

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "compat"
CASES = [(p.stem, json.loads(p.read_text())) for p in sorted(FIXTURES.glob("*.json"))]
PROFILE = get_profile("gpt-5-nano")
SYNTH = re.compile(r"^call_\d+_[0-9a-f]{8}$")


def test_every_fixture_says_where_its_shape_comes_from():
    assert len(CASES) >= 12
    for name, case in CASES:
        assert case["source"].strip() and case["server"] and case["shape"], name
        assert case["kind"] in ("stream", "json") and case["endpoint"] in ("chat", "responses"), name


def _sse_text(case) -> str:
    out = case.get("raw_prefix", "")
    for ev in case["events"]:
        out += "data: " + (ev if isinstance(ev, str) else json.dumps(ev)) + "\n\n"
    return out


def _accumulate(case, split):
    acc = (ResponsesAccumulator if case["endpoint"] == "responses" else ChatAccumulator)(PROFILE, "req_c")
    data = _sse_text(case).encode()
    step = split or len(data)
    dec = SSEDecoder()
    events = []
    for i in range(0, len(data), step):
        for sse in dec.feed(data[i:i + step]):
            events.extend(acc.feed(sse))
    return acc, events


def _check_result(res, expect):
    for key in ("content", "reasoning", "finish_reason"):
        if key in expect:
            assert getattr(res, key) == expect[key], key
    if "usage_total" in expect:
        assert res.usage.total_tokens == expect["usage_total"]
    calls = expect.get("tool_calls")
    if calls is None:
        return
    assert [c.name for c in res.tool_calls] == [c["name"] for c in calls]
    assert [dict(c.arguments) for c in res.tool_calls] == [c["arguments"] for c in calls]
    assert all(c.arguments_error is None for c in res.tool_calls)
    ids = [c.id for c in res.tool_calls]
    assert len(set(ids)) == len(ids) and all(ids)
    for got, want in zip(res.tool_calls, calls):
        assert SYNTH.match(got.id) if want["id"] == "synthetic" else got.id == want["id"]
        assert got.extra_content == want.get("extra_content")
    sent = res.to_message().get("tool_calls") or []
    assert [t["id"] for t in sent] == ids
    assert [t.get("extra_content") for t in sent] == [c.get("extra_content") for c in calls]


STREAMS = [(n, c) for n, c in CASES if c["kind"] == "stream"]
JSONS = [(n, c) for n, c in CASES if c["kind"] == "json"]


@pytest.mark.parametrize("split", [None, 1, 7])
@pytest.mark.parametrize("name,case", STREAMS, ids=[n for n, _ in STREAMS])
def test_compat_stream_through_the_accumulator(name, case, split):
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(StreamError) as info:
            _accumulate(case, split)
        assert expect["message"] in str(info.value)
        assert info.value.partial.content == expect["partial_content"]
        return
    acc, events = _accumulate(case, split)
    assert acc.finished or acc.complete_without_done
    assert acc.finished is not expect.get("ends_without_done", False)
    res = acc.result()
    _check_result(res, expect)
    ends = [e.data for e in events if e.type is E.TOOL_CALL_END]
    assert [c.id for c in ends] == [c.id for c in res.tool_calls]
    if expect.get("reasoning"):
        assert "".join(e.data for e in events if e.type is E.REASONING) == expect["reasoning"]


@pytest.fixture(scope="module")
def server():
    with MockOpenAIServer() as s:
        yield s


@pytest.mark.parametrize("name,case", STREAMS, ids=[n for n, _ in STREAMS])
def test_compat_stream_over_a_socket(server, name, case):
    server.add(RawReply(body=_sse_text(case).encode(), content_type="text/event-stream"))
    provider = OpenAIProvider(model="gpt-5-nano", api_key="sk-test", base_url=server.base_url,
                              api=case["endpoint"], max_retries=0)
    expect = case["expect"]
    events = []
    if "error" in expect:
        with pytest.raises(StreamError) as info:
            for ev in provider.stream("hi"):
                events.append(ev)
        assert events[-1].type is E.ERROR and info.value.partial.content == expect["partial_content"]
        return
    with provider.stream("hi") as st:
        events = list(st)
    assert events[-1].type is E.DONE
    _check_result(st.result(), expect)


@pytest.mark.parametrize("name,case", JSONS, ids=[n for n, _ in JSONS])
def test_compat_body_through_the_parser_and_complete(server, name, case):
    parse = parse_responses_response if case["endpoint"] == "responses" else parse_chat_response
    _check_result(parse(case["body"], PROFILE), case["expect"])
    server.add(RawReply(body=json.dumps(case["body"]).encode()))
    provider = OpenAIProvider(model="gpt-5-nano", api_key="sk-test", base_url=server.base_url,
                              api=case["endpoint"], max_retries=0)
    _check_result(provider.complete("hi"), case["expect"])


# -- foreign cassettes ---------------------------------------------------------------------------
def _cassette_interactions(openai_wire):
    yaml = pytest.importorskip("yaml")
    root = openai_wire / "cassettes"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    out = {}
    for path in sorted(root.glob("*/*.yaml")):
        for i, it in enumerate(yaml.safe_load(path.read_text())["interactions"]):
            uri, resp = it["request"]["uri"], it["response"]
            if not uri.endswith(("/chat/completions", "/responses")) or resp["status"]["code"] != 200:
                continue
            headers = {k.lower(): v for k, v in (resp.get("headers") or {}).items()}
            if "parsed_body" in resp:
                body, stream = resp["parsed_body"], False
            else:
                raw = resp["body"]["string"]
                if isinstance(raw, bytes):
                    raw = (gzip.decompress(raw) if "gzip" in str(headers.get("content-encoding")) else raw).decode()
                stream = "event-stream" in str(headers.get("content-type"))
                body = raw if stream else json.loads(raw)
            out[f"{path.stem}#{i}"] = (uri.endswith("/responses"), stream, body)
    return out


def _replay(responses, stream, body):
    if not stream:
        return (parse_responses_response if responses else parse_chat_response)(body, PROFILE), []
    acc = (ResponsesAccumulator if responses else ChatAccumulator)(PROFILE)
    events = []
    for sse in SSEDecoder().feed(body.encode()):
        events.extend(acc.feed(sse))
        if acc.finished:
            break
    assert acc.finished or acc.complete_without_done
    return acc.result(), events


def test_foreign_cassettes_all_parse_and_keep_what_they_carry(openai_wire):
    cases = _cassette_interactions(openai_wire)
    assert len(cases) >= 30
    seen = {}
    for key, (responses, stream, body) in cases.items():
        if "test_invalid_response" in key:
            with pytest.raises(APIResponseValidationError, match="base_url"):
                _replay(responses, stream, body)
            continue
        res, events = _replay(responses, stream, body)
        assert res.content or res.tool_calls, key  # never an empty answer
        assert all(tc.arguments_error is None for tc in res.tool_calls), key
        assert len({tc.id for tc in res.tool_calls}) == len(res.tool_calls), key
        seen[key] = (res, events)

    def find(fragment):
        return [v for k, v in seen.items() if fragment in k]

    gemini, _ = find("compatible_api_with_tool_calls_without_id#0")[0]
    assert SYNTH.match(gemini.tool_calls[0].id)
    assert gemini.to_message()["tool_calls"][0]["extra_content"]["google"]["thought_signature"]

    for fragment, kind in [("web_search_tool_stream#0", "web_search_call"), ("file_search_tool_stream#3", "file_search_call"),
                           ("mcp_server_tool_stream#0", "mcp_call"), ("code_execution_tool_stream#0", "code_interpreter_call")]:
        res, events = find(fragment)[0]
        assert kind in [i["type"] for i in res.output_items], fragment
        metas = [e.data for e in events if e.type is E.META and e.data.get("event") == "output_item"]
        assert kind in [m["item"]["type"] for m in metas], fragment
        assert res.raw is not None and res.raw["output"], fragment  # the final response object is kept

    res, events = find("file_search_tool_stream#3")[0]
    assert res.annotations and res.annotations[0]["type"] == "file_citation"
    assert any(e.type is E.META and e.data.get("event") == "annotation" for e in events)

    res, events = find("raw_cot_stream_openrouter#0")[0]
    assert res.reasoning and "".join(e.data for e in events if e.type is E.REASONING) == res.reasoning

    res, _ = find("cerebras_provider_harmony#0")[0]
    assert res.reasoning

    for variant in "abcd":
        res, _ = find(f"tools_streaming_variant_{variant}#0")[0]
        assert [tc.name for tc in res.tool_calls] == ["llm_version"], variant
