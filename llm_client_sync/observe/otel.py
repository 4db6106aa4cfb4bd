"""OpenTelemetry GenAI spans and metrics, as a hooks subscriber (extra ``otel``: opentelemetry-api).

Follows the OpenTelemetry GenAI semantic conventions of semconv **v1.41.0** (the last release
before GenAI moved to its own repository), plus ``gen_ai.client.operation.time_to_first_chunk``
from semantic-conventions-genai v0.1.0:

- a CLIENT span per model call named ``{gen_ai.operation.name} {gen_ai.request.model}``
  (``chat gpt-5-nano``, ``embeddings text-embedding-3-small``);
- an INTERNAL ``invoke_agent {gen_ai.agent.name}`` span per Agent run, parent of its model call
  spans and of its INTERNAL ``execute_tool {gen_ai.tool.name}`` spans (tools run on threads);
- histograms ``gen_ai.client.operation.duration`` (s), ``gen_ai.client.token.usage`` ({token})
  and, for streams, ``gen_ai.client.operation.time_to_first_chunk`` (s), with the convention's
  bucket boundaries.

Message content (``gen_ai.input.messages``, ``gen_ai.output.messages``, tool arguments and
results) is recorded only with ``capture_content=True``, and then redacted.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from .._redact import redact
from .hooks import Call, Event, EventType, subscribe

__all__ = ["DURATION_BUCKETS", "SCHEMA_URL", "SEMCONV_VERSION", "TOKEN_BUCKETS", "instrument", "uninstrument"]

SEMCONV_VERSION = "1.41.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

_REQUEST_ATTRS = {"temperature": "gen_ai.request.temperature", "top_p": "gen_ai.request.top_p",
                  "max_tokens": "gen_ai.request.max_tokens", "max_completion_tokens": "gen_ai.request.max_tokens",
                  "max_output_tokens": "gen_ai.request.max_tokens", "seed": "gen_ai.request.seed",
                  "frequency_penalty": "gen_ai.request.frequency_penalty",
                  "presence_penalty": "gen_ai.request.presence_penalty"}
_MODEL_OPS = frozenset({"chat", "embeddings", "text_completion", "generate_content"})

_lock = threading.Lock()
_installed: "_Instrumentation | None" = None


def instrument(tracer_provider: Any = None, meter_provider: Any = None, capture_content: bool = False,
               ) -> "_Instrumentation":
    """Turn on GenAI spans and metrics for every provider, agent and batch (idempotent: a second
    call replaces the first). ``tracer_provider``/``meter_provider`` default to the global ones.

        >>> import llm_client_sync
        >>> llm_client_sync.instrument()          # doctest: +SKIP

    Raises:
        MissingDependencyError: opentelemetry-api is not installed (``pip install 'llm-client-sync[otel]'``).
    """
    from .._extras import import_extra

    trace = import_extra("opentelemetry.trace", "otel", "instrument()")
    metrics = import_extra("opentelemetry.metrics", "otel", "instrument()")
    from .._version import __version__

    tracer = trace.get_tracer("llm_client_sync", __version__, tracer_provider, schema_url=SCHEMA_URL)
    meter = metrics.get_meter("llm_client_sync", __version__, meter_provider, schema_url=SCHEMA_URL)
    inst = _Instrumentation(tracer, meter, bool(capture_content))
    global _installed
    with _lock:
        old, _installed = _installed, inst
        inst.unsubscribe = subscribe(inst)
    if old is not None:
        old.unsubscribe()
    return inst


def uninstrument() -> None:
    """Stop emitting spans and metrics."""
    global _installed
    with _lock:
        old, _installed = _installed, None
    if old is not None:
        old.unsubscribe()


class _Instrumentation:
    """The subscriber: one span per observed call, kept in ``call.state[self]``."""

    def __init__(self, tracer: Any, meter: Any, capture_content: bool) -> None:
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        self._trace = trace
        self._context = otel_context
        self.tracer = tracer
        self.capture_content = capture_content
        self.unsubscribe: Callable[[], None] = lambda: None
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(TOKEN_BUCKETS))
        self.ttfc = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk", unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS))
        self._handlers: dict[str, Callable[[Event], None]] = {
            EventType.REQUEST_START: self._start, EventType.TOOL_START: self._start,
            EventType.AGENT_START: self._start, EventType.REQUEST_END: self._end, EventType.TOOL_END: self._end,
            EventType.AGENT_END: self._end, EventType.RETRY: self._span_event,
            EventType.FAILOVER: self._span_event, EventType.CACHE_HIT: self._cache,
            EventType.FIRST_CHUNK: self._first_chunk}

    def __call__(self, event: Event) -> None:
        handler = self._handlers.get(event.type)
        if handler is not None and (event.call is not None or handler == self._span_event):
            handler(event)

    # -- spans ------------------------------------------------------------------------------
    def _parent_context(self, call: Call) -> Any:
        parent = call.parent
        while parent is not None:
            span = parent.state.get(self)
            if span is not None:
                return self._trace.set_span_in_context(span[0])
            parent = parent.parent
        return None  # the current OpenTelemetry context: the caller's own span, if any

    def _start(self, event: Event) -> None:
        call = event.call
        assert call is not None
        op = call.operation
        attrs = _call_attrs(call)
        data = event.data
        if op in _MODEL_OPS:
            kind = self._trace.SpanKind.CLIENT
            name = f"{op} {call.model}" if call.model else op
            request = data.get("request") or {}
            for key, attr in _REQUEST_ATTRS.items():
                value = request.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    attrs[attr] = value
            if isinstance(request.get("stop"), (str, list, tuple)):
                stop = request["stop"]
                attrs["gen_ai.request.stop_sequences"] = [stop] if isinstance(stop, str) else [str(s) for s in stop]
            if isinstance(request.get("n"), int) and request["n"] != 1:
                attrs["gen_ai.request.choice.count"] = request["n"]
            if self.capture_content and op != "embeddings" and data.get("prompt") is not None:
                attrs["gen_ai.input.messages"] = _redacted_json(_input_messages(data["prompt"]))
        elif op == "execute_tool":
            kind = self._trace.SpanKind.INTERNAL
            name = f"execute_tool {call.name}"
            attrs.update({"gen_ai.tool.name": call.name or "", "gen_ai.tool.type": "function"})
            if data.get("tool_call_id"):
                attrs["gen_ai.tool.call.id"] = data["tool_call_id"]
            if data.get("description"):
                attrs["gen_ai.tool.description"] = data["description"]
            if self.capture_content and data.get("arguments") is not None:
                attrs["gen_ai.tool.call.arguments"] = redact(str(data["arguments"]))
        else:  # invoke_agent
            kind = self._trace.SpanKind.INTERNAL
            name = f"invoke_agent {call.name}" if call.name else "invoke_agent"
            if call.name:
                attrs["gen_ai.agent.name"] = call.name
        span = self.tracer.start_span(name, context=self._parent_context(call), kind=kind, attributes=attrs)
        token = None
        if op == "execute_tool" or (op in _MODEL_OPS and not data.get("stream")):
            # made current where start and end happen in one frame, so user spans (and HTTP
            # instrumentation) inside a tool or a blocking call nest under it
            token = self._context.attach(self._trace.set_span_in_context(span))
        call.state[self] = (span, token)

    def _end(self, event: Event) -> None:
        call = event.call
        assert call is not None
        held = call.state.pop(self, None)
        if held is None:
            return
        span, token = held
        if token is not None:
            try:
                self._context.detach(token)
            except Exception:  # ended in another context than it started: nothing to restore
                pass
        op = call.operation
        data = event.data
        attrs: dict[str, Any] = {}
        if op in _MODEL_OPS:
            if event.response_model:
                attrs["gen_ai.response.model"] = event.response_model
            if data.get("response_id"):
                attrs["gen_ai.response.id"] = data["response_id"]
            if data.get("finish_reason"):
                attrs["gen_ai.response.finish_reasons"] = (str(data["finish_reason"]),)
            if call.attempts > 1:
                attrs["http.request.resend_count"] = call.attempts - 1
            if data.get("cached"):
                attrs["llm_client_sync.cache_hit"] = True
            if "ttfc" in call.data:
                attrs["gen_ai.response.time_to_first_chunk"] = call.data["ttfc"]
            if self.capture_content and data.get("content") is not None:
                attrs["gen_ai.output.messages"] = _redacted_json(_output_messages(data))
        elif op == "execute_tool" and self.capture_content and data.get("content") is not None:
            attrs["gen_ai.tool.call.result"] = redact(str(data["content"]))
        usage = event.usage
        if usage is not None and (usage.total_tokens or usage.prompt_tokens or usage.completion_tokens):
            attrs["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attrs["gen_ai.usage.output_tokens"] = usage.completion_tokens
            if usage.cached_tokens:
                attrs["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
            if usage.cache_write_tokens:
                attrs["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
            if usage.reasoning_tokens:
                attrs["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
        error_type = None
        if event.error is not None:
            error_type = type(event.error).__name__
            attrs["error.type"] = error_type
        elif op == "execute_tool" and data.get("is_error"):
            error_type = str(data.get("error_kind") or "tool_error")
            attrs["error.type"] = error_type
        span.set_attributes(attrs)
        if error_type is not None:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, error_type))
        span.end()
        if op in _MODEL_OPS:
            self._record_metrics(call, event, error_type)

    def _record_metrics(self, call: Call, event: Event, error_type: str | None) -> None:
        attrs = _call_attrs(call)
        if event.response_model:
            attrs["gen_ai.response.model"] = event.response_model
        if event.duration is not None:
            self.duration.record(event.duration, {**attrs, "error.type": error_type} if error_type else attrs)
        usage = event.usage
        if usage is not None and (usage.prompt_tokens or usage.completion_tokens) and not event.data.get("cached"):
            self.tokens.record(usage.prompt_tokens, {**attrs, "gen_ai.token.type": "input"})
            if call.operation != "embeddings":
                self.tokens.record(usage.completion_tokens, {**attrs, "gen_ai.token.type": "output"})
        if "ttfc" in call.data:
            self.ttfc.record(call.data["ttfc"], attrs)

    def _span_event(self, event: Event) -> None:
        """Retries and fail-overs: an event on the call's span, or on the caller's current span."""
        held = event.call.state.get(self) if event.call is not None else None
        span = held[0] if held is not None else self._trace.get_current_span()
        if span.is_recording():
            span.add_event(f"llm_client_sync.{event.type}",
                           {k: v for k, v in event.data.items() if isinstance(v, (str, int, float, bool))})

    def _cache(self, event: Event) -> None:
        held = event.call.state.get(self) if event.call is not None else None
        if held is not None:
            held[0].set_attribute("llm_client_sync.cache_hit", True)

    def _first_chunk(self, event: Event) -> None:
        held = event.call.state.get(self) if event.call is not None else None
        if held is not None and event.duration is not None:
            held[0].add_event("gen_ai.content.first_chunk", {"gen_ai.response.time_to_first_chunk": event.duration})


def _call_attrs(call: Call) -> dict[str, Any]:
    """What spans and metrics of a call share: operation, provider, requested model, server."""
    attrs: dict[str, Any] = {"gen_ai.operation.name": call.operation}
    if call.provider:
        attrs["gen_ai.provider.name"] = call.provider
    if call.model:
        attrs["gen_ai.request.model"] = call.model
    attrs.update(_server(call.data.get("server")))
    return attrs


def _server(url: Any) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        return {}
    parts = urlsplit(url)
    if not parts.hostname:
        return {}
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return {"server.address": parts.hostname, "server.port": port}


def _redacted_json(value: Any) -> str:
    return redact(json.dumps(value, default=str, ensure_ascii=False))


def _input_messages(prompt: Any) -> list[dict[str, Any]]:
    """The prompt as semconv ``gen_ai.input.messages``: [{role, parts: [{type, content}]}]."""
    if isinstance(prompt, str):
        return [{"role": "user", "parts": [{"type": "text", "content": prompt}]}]
    messages = getattr(prompt, "messages", prompt)
    out = []
    for m in messages if isinstance(messages, (list, tuple)) else ():
        if not isinstance(m, Mapping):
            continue
        parts: list[dict[str, Any]] = []
        content = m.get("content")
        if isinstance(content, str):
            parts.append({"type": "text", "content": content})
        elif isinstance(content, (list, tuple)):
            parts.extend({"type": "text", "content": p.get("text")} for p in content
                         if isinstance(p, Mapping) and p.get("type") in ("text", "input_text"))
        for tc in m.get("tool_calls") or ():
            fn = tc.get("function") or {}
            parts.append({"type": "tool_call", "id": tc.get("id"), "name": fn.get("name"),
                          "arguments": fn.get("arguments")})
        if m.get("role") == "tool":
            parts = [{"type": "tool_call_response", "id": m.get("tool_call_id"), "response": content}]
        out.append({"role": m.get("role"), "parts": parts})
    return out


def _output_messages(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if data.get("content"):
        parts.append({"type": "text", "content": data["content"]})
    for tc in data.get("tool_calls") or ():
        parts.append({"type": "tool_call", "id": getattr(tc, "id", None), "name": getattr(tc, "name", None),
                      "arguments": getattr(tc, "raw_arguments", None)})
    return [{"role": "assistant", "parts": parts, "finish_reason": data.get("finish_reason")}]
