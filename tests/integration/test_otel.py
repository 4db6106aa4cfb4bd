"""instrument(): GenAI spans and metrics read back from the OpenTelemetry SDK's in-memory exporters,
over the local MockOpenAIServer (real sockets)."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra (opentelemetry-sdk in dev) is not installed")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402

from llm_client_sync import Agent, OpenAIProvider, instrument, tool, uninstrument  # noqa: E402
from llm_client_sync.observe import hooks  # noqa: E402
from llm_client_sync.observe.otel import DURATION_BUCKETS, TOKEN_BUCKETS  # noqa: E402
from llm_client_sync.testing import MockOpenAIServer  # noqa: E402

KEY = "sk-test-DO-NOT-LEAK-4f9a2c"
USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
         "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}}


class Telemetry:
    def __init__(self, capture_content: bool = False) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        instrument(self.tracer_provider, self.meter_provider, capture_content=capture_content)

    def finished(self):
        return list(self.spans.get_finished_spans())

    def metrics(self) -> dict:
        out: dict = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).extend(m.data.data_points)
        return out


@pytest.fixture
def telemetry():
    t = Telemetry()
    yield t
    uninstrument()
    assert not hooks.active


@pytest.fixture
def server():
    with MockOpenAIServer() as s:
        yield s


def _provider(server: MockOpenAIServer, **kw) -> OpenAIProvider:
    return OpenAIProvider("gpt-5-nano", api_key=KEY, base_url=server.base_url, **kw)


def _server_attrs(server: MockOpenAIServer) -> dict:
    host, port = server.base_url.split("//")[1].split("/")[0].split(":")
    return {"server.address": host, "server.port": int(port)}


def test_streaming_chat_span_attributes_and_metric_buckets(telemetry, server):
    server.add_text("Hello there friend", usage=USAGE)
    with _provider(server) as p, p.stream("Hi", temperature=1, max_completion_tokens=50) as stream:
        for _ in stream:
            pass
        result = stream.result()
    (span,) = telemetry.finished()
    assert span.name == "chat gpt-5-nano" and span.kind is SpanKind.CLIENT and span.parent is None
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes)
    ttfc = attrs.pop("gen_ai.response.time_to_first_chunk")
    assert 0 < ttfc < 5
    assert attrs == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-5-nano",
        **_server_attrs(server), "gen_ai.request.temperature": 1, "gen_ai.request.max_tokens": 50,
        "gen_ai.response.model": "gpt-5-nano", "gen_ai.response.id": result.response_id,
        "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5, "gen_ai.usage.cache_read.input_tokens": 4,
        "gen_ai.usage.reasoning.output_tokens": 2}
    assert [e.name for e in span.events] == ["gen_ai.content.first_chunk"]

    metrics = telemetry.metrics()
    base = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-5-nano",
            "gen_ai.response.model": "gpt-5-nano", **_server_attrs(server)}
    (duration,) = metrics["gen_ai.client.operation.duration"]
    assert dict(duration.attributes) == base and duration.count == 1
    assert tuple(duration.explicit_bounds) == DURATION_BUCKETS
    tokens = {dp.attributes["gen_ai.token.type"]: dp for dp in metrics["gen_ai.client.token.usage"]}
    assert set(tokens) == {"input", "output"} and tuple(tokens["input"].explicit_bounds) == TOKEN_BUCKETS
    # 12 lands in the (4, 16] bucket (index 2), 5 in (4, 16] too
    assert tokens["input"].sum == 12 and list(tokens["input"].bucket_counts).index(1) == 2
    assert tokens["output"].sum == 5 and list(tokens["output"].bucket_counts).index(1) == 2
    (first,) = metrics["gen_ai.client.operation.time_to_first_chunk"]
    assert first.count == 1 and first.sum == pytest.approx(ttfc) and tuple(first.explicit_bounds) == DURATION_BUCKETS


def test_three_parallel_tools_get_spans_under_the_agent_span_despite_the_thread_pool(telemetry, server):
    barrier = threading.Barrier(3, timeout=10)  # all three must be running at once
    threads: dict[str, str] = {}

    def make(name: str):
        @tool(name=name)
        def probe(city: str) -> str:
            """Probe a city."""
            threads[name] = threading.current_thread().name
            barrier.wait()
            return f"{name}:{city}"

        return probe

    server.add_tool_calls([("alpha", {"city": "A"}), ("beta", {"city": "B"}), ("gamma", {"city": "C"})],
                          usage={"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39})
    server.add_text("All done.", usage={"prompt_tokens": 60, "completion_tokens": 3, "total_tokens": 63})
    with _provider(server) as p:
        result = Agent(p, tools=[make("alpha"), make("beta"), make("gamma")], name="weather").run("Probe A, B, C")
    assert result.status == "completed" and len(set(threads.values())) == 3

    spans = telemetry.finished()
    by_name: dict = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)
    (agent,) = by_name["invoke_agent weather"]
    assert agent.kind is SpanKind.INTERNAL and agent.parent is None
    assert dict(agent.attributes)["gen_ai.agent.name"] == "weather"
    assert dict(agent.attributes)["gen_ai.usage.input_tokens"] == 90
    chats = by_name["chat gpt-5-nano"]
    tools = [s for s in spans if s.name.startswith("execute_tool ")]
    assert len(chats) == 2 and sorted(s.name for s in tools) == \
        ["execute_tool alpha", "execute_tool beta", "execute_tool gamma"]
    for child in chats + tools:
        assert child.parent is not None and child.parent.span_id == agent.context.span_id
        assert child.context.trace_id == agent.context.trace_id
    for s in tools:
        attrs = dict(s.attributes)
        name = s.name.split(" ", 1)[1]
        assert s.kind is SpanKind.INTERNAL
        assert attrs["gen_ai.operation.name"] == "execute_tool" and attrs["gen_ai.tool.name"] == name
        assert attrs["gen_ai.tool.type"] == "function" and attrs["gen_ai.tool.call.id"]
        assert "gen_ai.tool.call.arguments" not in attrs and "gen_ai.tool.call.result" not in attrs
    # the three tools overlapped in time (they waited on one barrier)
    assert max(s.start_time for s in tools) < min(s.end_time for s in tools)


def test_a_retried_429_is_one_span_with_the_resend_count(telemetry, server):
    server.add_error(429, headers={"retry-after-ms": "1"}, message="slow down")
    server.add_text("ok", usage={"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4})
    with _provider(server, sleep=lambda s: None) as p:
        assert p.complete("Hi").content == "ok"
    (span,) = telemetry.finished()
    attrs = dict(span.attributes)
    assert span.name == "chat gpt-5-nano" and attrs["http.request.resend_count"] == 1
    assert "error.type" not in attrs and span.status.status_code is StatusCode.UNSET
    (retry,) = span.events
    assert retry.name == "llm_client_sync.retry" and dict(retry.attributes) == {"attempt": 1, "delay": 0.001,
                                                                                "status": 429}
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.count == 1 and "error.type" not in duration.attributes


def test_a_failed_call_sets_error_type_on_span_and_duration(telemetry, server):
    server.add_error(400, message="bad request")
    with _provider(server) as p, pytest.raises(Exception):
        p.complete("Hi")
    (span,) = telemetry.finished()
    assert dict(span.attributes)["error.type"] == "BadRequestError"
    assert span.status.status_code is StatusCode.ERROR
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.attributes["error.type"] == "BadRequestError"


def test_embeddings_span(telemetry, server):
    with _provider(server) as p:
        p.embed(["a", "b"])
    (span,) = telemetry.finished()
    assert span.name == "embeddings text-embedding-3-small" and span.kind is SpanKind.CLIENT
    assert dict(span.attributes)["gen_ai.operation.name"] == "embeddings"


def test_spans_nest_under_the_callers_span(telemetry, server):
    tracer = telemetry.tracer_provider.get_tracer("app")
    with _provider(server) as p, tracer.start_as_current_span("request /chat") as outer:
        p.complete("Hi")
    chat = [s for s in telemetry.finished() if s.name.startswith("chat ")][0]
    assert chat.parent.span_id == outer.get_span_context().span_id


def _everything(t: Telemetry) -> str:
    text = "".join(s.to_json() for s in t.finished())
    return text + repr(t.metrics())


def test_no_key_and_no_content_with_capture_off(telemetry, server):
    secret_prompt = "my diary entry 7c1e"
    server.add_text("the reply 93bd")
    with _provider(server) as p:
        p.complete(secret_prompt)
        with p.stream(secret_prompt) as s:
            s.result()
    dump = _everything(telemetry)
    assert "chat gpt-5-nano" in dump
    for needle in (KEY, secret_prompt, "the reply 93bd", "Bearer"):
        assert needle not in dump


def test_content_only_when_asked_and_redacted(server):
    t = Telemetry(capture_content=True)
    try:
        server.add_text("stored at postgresql://bob:hunter2@db:5432/app")
        with _provider(server) as p:
            p.complete("connect to redis://:s3cret@cache:6379/0 please")
    finally:
        uninstrument()
    (span,) = t.finished()
    attrs = dict(span.attributes)
    assert '"role": "user"' in attrs["gen_ai.input.messages"] and "connect to" in attrs["gen_ai.input.messages"]
    assert "stored at" in attrs["gen_ai.output.messages"]
    dump = _everything(t)
    for needle in (KEY, "hunter2", "s3cret"):
        assert needle not in dump


def test_uninstrument_stops_spans(server):
    t = Telemetry()
    uninstrument()
    with _provider(server) as p:
        p.complete("Hi")
    assert t.finished() == [] and not hooks.active


def test_a_fail_over_is_two_chat_spans_and_an_event_on_the_callers_span(telemetry, server):
    from llm_client_sync import FallbackProvider

    server.add_error(500, message="upstream down")
    server.add_text("from the second", usage={"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6})
    chain = FallbackProvider([OpenAIProvider("gpt-5-nano", api_key=KEY, base_url=server.base_url, max_retries=0),
                              OpenAIProvider("gpt-5-mini", api_key=KEY, base_url=server.base_url, max_retries=0)])
    tracer = telemetry.tracer_provider.get_tracer("app")
    with chain, tracer.start_as_current_span("job") as job:
        assert chain.complete("Hi").content == "from the second"
    spans = {s.name: s for s in telemetry.finished()}
    failed, answered, outer = spans["chat gpt-5-nano"], spans["chat gpt-5-mini"], spans["job"]
    assert failed.status.status_code is StatusCode.ERROR
    assert dict(failed.attributes)["error.type"] == "InternalServerError"
    assert answered.status.status_code is StatusCode.UNSET and "error.type" not in answered.attributes
    for s in (failed, answered):
        assert s.kind is SpanKind.CLIENT and s.parent.span_id == job.get_span_context().span_id
    (event,) = outer.events
    assert event.name == "llm_client_sync.failover"
    assert dict(event.attributes) == {"from": "openai:gpt-5-nano", "model": "gpt-5-nano",
                                      "error": "InternalServerError", "kind": "next"}
    durations = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert sorted((dp.attributes["gen_ai.request.model"], dp.attributes.get("error.type")) for dp in durations) == \
        [("gpt-5-mini", None), ("gpt-5-nano", "InternalServerError")]


def test_a_stream_closed_early_still_ends_its_span(telemetry, server):
    server.add_text("one two three four five six seven eight", usage=USAGE)
    with _provider(server) as p:
        stream = p.stream("Hi")
        next(iter(stream))
        stream.close()
    (span,) = telemetry.finished()
    assert span.name == "chat gpt-5-nano" and span.end_time is not None
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.count == 1


def test_a_batch_of_10_gives_10_chat_spans_under_the_callers_span_from_the_workers(telemetry, server):
    from llm_client_sync import BatchRunner
    from llm_client_sync.observe import subscribe

    items = [f"question {i}" for i in range(10)]
    finished: list = []
    unsubscribe = subscribe(finished.append, events={"batch_item"})
    tracer = telemetry.tracer_provider.get_tracer("app")
    try:
        with _provider(server) as p, tracer.start_as_current_span("nightly batch") as job:
            results = BatchRunner(p, max_workers=4).run(items)
    finally:
        unsubscribe()
    assert all(r.ok for r in results)
    chats = [s for s in telemetry.finished() if s.name == "chat gpt-5-nano"]
    assert len(chats) == 10
    for s in chats:
        assert s.kind is SpanKind.CLIENT and s.parent.span_id == job.get_span_context().span_id
        assert s.context.trace_id == job.get_span_context().trace_id
    assert sorted(e.data["index"] for e in finished) == list(range(10)) and all(e.data["ok"] for e in finished)
    (duration,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert duration.count == 10


def test_instrument_twice_replaces_the_first(server):
    first = Telemetry()
    second = Telemetry()  # instrument() again: the first stops hearing calls
    try:
        with _provider(server) as p:
            p.complete("Hi")
    finally:
        uninstrument()
    assert first.finished() == [] and [s.name for s in second.finished()] == ["chat gpt-5-nano"]
