"""Recorded chat, stream, embedding and error exchanges replayed through the parser and the
transport; request bodies the provider builds validated against the official OpenAPI spec."""

from __future__ import annotations

import dataclasses
import json

import pytest
from support import require_service, shared_dir

from llm_client_sync import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    OpenAIProvider,
    RateLimitError,
    StreamEventType as E,
    get_profile,
)
from llm_client_sync._sse import SSEDecoder
from llm_client_sync.providers._chat import ChatAccumulator, parse_chat_response
from llm_client_sync.testing import ErrorReply, MockOpenAIServer

WIRE = shared_dir() / "openai-wire"
EX = WIRE / "exchanges"
if not EX.exists():
    require_service(f"recorded exchanges not found at {EX}", module=True)


def _load(prefix: str) -> list[tuple[str, dict]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted(EX.glob(prefix + "*.json"))]


CHAT = [(n, d) for n, d in _load("chat_") if not d["stream"]]
STREAMS = [(n, d) for n, d in _load("chat_") if d["stream"]]
ERRORS = [(n, d) for n, d in _load("error_")]
EMBEDS = _load("embeddings_")


@pytest.mark.parametrize("name,ex", CHAT, ids=[n for n, _ in CHAT])
def test_recorded_chat_response_parses(name, ex):
    body = ex["response_body"]
    res = parse_chat_response(body, get_profile(ex["request_body"]["model"]), "req_x")
    msg = body["choices"][0]["message"]
    assert res.content == msg.get("content")
    assert res.refusal == msg.get("refusal")
    assert res.finish_reason == body["choices"][0].get("finish_reason")
    assert [tc.id for tc in res.tool_calls] == [tc["id"] for tc in msg.get("tool_calls") or []]
    for tc, raw in zip(res.tool_calls, msg.get("tool_calls") or []):
        assert dict(tc.arguments) == json.loads(raw["function"]["arguments"])
    u = body["usage"]
    assert res.usage.prompt_tokens == u["prompt_tokens"] and res.usage.total_tokens == u["total_tokens"]
    assert res.usage.reasoning_tokens == (u.get("completion_tokens_details") or {}).get("reasoning_tokens", 0)
    assert res.usage.cached_tokens == (u.get("prompt_tokens_details") or {}).get("cached_tokens", 0)


def _replay(text: str, profile, split: int | None = None):
    acc = ChatAccumulator(profile, "req_x")
    dec = SSEDecoder()
    data = text.encode()
    step = split or len(data)
    events = []
    for i in range(0, len(data), step):
        for sse in dec.feed(data[i:i + step]):
            events.extend(acc.feed(sse))
    return acc, events


@pytest.mark.parametrize("name,ex", STREAMS, ids=[n for n, _ in STREAMS])
@pytest.mark.parametrize("split", [None, 1, 7])
def test_recorded_stream_assembles_the_same_at_every_split(name, ex, split):
    profile = get_profile(ex["request_body"]["model"])
    acc, events = _replay(ex["response_body"], profile, split)
    assert acc.finished
    # expected values straight from the raw chunks
    texts, args = {}, {}
    usage = None
    for line in ex["response_body"].splitlines():
        if not line.startswith("data: {"):
            continue
        chunk = json.loads(line[6:])
        usage = chunk.get("usage") or usage
        for c in chunk.get("choices") or []:
            d = c.get("delta") or {}
            texts[c["index"]] = texts.get(c["index"], "") + (d.get("content") or "")
            for tc in d.get("tool_calls") or []:
                key = (c["index"], tc["index"])
                args[key] = args.get(key, "") + ((tc.get("function") or {}).get("arguments") or "")
    res = acc.result()
    by_choice = {c.index: c for c in res.choices}
    for idx, text in texts.items():
        assert (by_choice[idx].content or "") == text
    ends = [e.data for e in events if e.type is E.TOOL_CALL_END]
    assert len(ends) == len(args)
    for (ci, ti), raw in args.items():
        assert by_choice[ci].tool_calls[ti].raw_arguments == raw
        assert dict(by_choice[ci].tool_calls[ti].arguments) == json.loads(raw)
    token_text = "".join(e.data for e in events if e.type is E.TOKEN and e.choice == 0)
    assert token_text == texts.get(0, "")
    if usage:
        assert res.usage.total_tokens == usage["total_tokens"]
        assert any(e.type is E.USAGE for e in events)


@pytest.mark.parametrize("name,ex", STREAMS[:3], ids=[n for n, _ in STREAMS[:3]])
def test_recorded_stream_through_real_socket(name, ex):
    with MockOpenAIServer() as server:
        server.add_raw(ex["response_body"], stream=True, split_writes=5)
        p = OpenAIProvider(model=ex["request_body"]["model"], api_key="sk-test", base_url=server.base_url)
        with p.stream("hi") as st:
            events = list(st)
        assert events[-1].type is E.DONE and events[0].type is E.META
        assert st.result() is events[-1].data


_ERROR_CLASSES = {400: BadRequestError, 401: AuthenticationError, 404: NotFoundError, 429: RateLimitError,
                  500: InternalServerError}


@pytest.mark.parametrize("name,ex", ERRORS, ids=[n for n, _ in ERRORS])
def test_recorded_errors_become_typed_errors(name, ex):
    body = ex["response_body"]
    headers = {k: v for k, v in ex["response_headers"].items()
               if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding",
                                    "date", "server")}
    with MockOpenAIServer() as server:
        for _ in range(3):  # retried statuses see the same answer each time
            server.add(ErrorReply(status=ex["status"], body=body, headers=headers))
        p = OpenAIProvider(model="gpt-5-nano", api_key="sk-secret-123", base_url=server.base_url,
                           retry=__import__("llm_client_sync").RetryPolicy(max_retries=2, base=0.001, cap=0.001))
        with pytest.raises(APIStatusError) as info:
            p.complete("hi")
    err = info.value
    assert isinstance(err, _ERROR_CLASSES[ex["status"]])
    assert err.status_code == ex["status"]
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        assert err.code == body["error"].get("code")
        assert body["error"]["message"] in str(err)
    assert "sk-secret-123" not in str(err) and "sk-secret-123" not in repr(err.headers)
    quota = isinstance(body, dict) and (body.get("error") or {}).get("code") == "insufficient_quota"
    expected_attempts = 3 if ex["status"] >= 500 or (ex["status"] == 429 and not quota) else 1
    assert len(server.requests) == expected_attempts


@pytest.mark.parametrize("name,ex", EMBEDS, ids=[n for n, _ in EMBEDS])
def test_recorded_embeddings_decode(name, ex):
    with MockOpenAIServer() as server:
        server.add_raw(json.dumps(ex["response_body"]))
        p = OpenAIProvider(model="text-embedding-3-small", api_key="k", base_url=server.base_url)
        res = p.embed(ex["request_body"]["input"], dimensions=ex["request_body"].get("dimensions"))
    rows = ex["response_body"]["data"]
    assert len(res.vectors) == len(rows)
    dims = ex["request_body"].get("dimensions")
    assert all(len(v) == dims for v in res.vectors)
    if isinstance(rows[0]["embedding"], list):
        assert res.vectors[0] == pytest.approx(rows[0]["embedding"])
    assert all(isinstance(x, float) for x in res.vectors[0][:5])
    assert res.usage.prompt_tokens == ex["response_body"]["usage"]["prompt_tokens"]


# -- request bodies against the official spec ------------------------------------------------
jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")


@pytest.fixture(scope="module")
def validator():
    with (WIRE / "openapi" / "openapi.yaml").open() as fh:
        spec = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))

    def make(name):
        return jsonschema.Draft202012Validator({"$ref": f"#/components/schemas/{name}",
                                                "components": spec["components"]})
    return make


@dataclasses.dataclass
class Answer:
    city: str
    temperature: float
    tags: list[str]


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                           "required": ["city"]}}}
BODIES = {
    "plain": ("Hi", {}),
    "tools": ([{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Weather in Tokyo?"}],
              {"tools": [WEATHER], "tool_choice": "auto", "parallel_tool_calls": True}),
    "reasoning": ("Hi", {"reasoning_effort": "low", "max_completion_tokens": 100, "seed": 1, "n": 2,
                         "stop": ["\n"], "user": "u1", "metadata": {"a": "b"}}),
    "structured": ("Hi", {"response_format": Answer}),
    "tool_followup": ([{"role": "user", "content": "w?"},
                       {"role": "assistant", "content": None, "tool_calls": [
                           {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
                       {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}], {"tools": [WEATHER]}),
}


@pytest.mark.parametrize("case", sorted(BODIES))
def test_built_bodies_are_valid_per_spec(validator, case):
    prompt, params = BODIES[case]
    p = OpenAIProvider(model="gpt-5-nano", api_key="k", base_url="http://127.0.0.1:9/v1")
    body = p.build_body(prompt, **params)
    errors = list(validator("CreateChatCompletionRequest").iter_errors(body))
    assert not errors, errors[0].message
    stream_body = p._protocol.stream_body(body)
    assert not list(validator("CreateChatCompletionRequest").iter_errors(stream_body))


def test_spec_validation_can_fail(validator):
    assert list(validator("CreateChatCompletionRequest").iter_errors({"model": "m", "messages": [{"role": "nope"}]}))


def test_embedding_body_is_valid_per_spec(validator):
    body = {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 8}
    assert not list(validator("CreateEmbeddingRequest").iter_errors(body))
