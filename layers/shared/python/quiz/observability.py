"""Tracing of the Lambda handlers: one TracerProvider per container, one span per invocation.

`traced_handler(name)` wraps an entry point in a SERVER/CONSUMER span carrying `faas.trigger`, the API
Gateway route key, the AWS request id (`faas.invocation_id`) and `faas.coldstart`. Anything the handler
does runs inside that span, so the answer path's outbox row captures its W3C `traceparent`
(`quiz.quizzes.adapters.outbox.trace_headers`) and the Kafka record carries it. For a Kafka batch the span is
linked to every record's producer span (a batch has many parents, so links rather than one parent); when
every record comes from one trace, that trace's producer span is also its parent, so one answer's whole
path is one tree even in Zipkin, which shows no links. The leaderboard push, done inside the handler, is a
child span of the batch (`span()`: the answer transaction, the publish and the push each get one).

The provider is configured from the environment, with the standard OpenTelemetry variables:

    OTEL_TRACES_EXPORTER           otlp | zipkin | console | none (comma-separated). Unset: otlp when an
                                   OTLP endpoint is set, else none (no output: tests stay quiet). `make run`
                                   sets zipkin: the local Zipkin server (local/stack.toml's [zipkin]).
    OTEL_EXPORTER_ZIPKIN_ENDPOINT  e.g. http://127.0.0.1:9411/api/v2/spans (Zipkin's JSON v2 API)
    OTEL_EXPORTER_OTLP_ENDPOINT    e.g. http://127.0.0.1:4318 (OTLP/HTTP; /v1/traces is appended), or
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER ...

Spans are created (and context propagated) even with no exporter, so a trace started elsewhere is never
cut in two here.

On AWS with `Tracing: Active`, Lambda opens an X-Ray segment per invocation and passes its id in
`_X_AMZN_TRACE_ID`; the invocation span becomes its child (a Kafka batch keeps its links to the producers).
To ship the spans, add the AWS Distro for OpenTelemetry (ADOT) collector layer and set
`OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318`: the collector forwards them to X-Ray, which accepts
W3C trace ids. The aws-xray-sdk in the bundle is X-Ray's own SDK: it is not needed for these spans, and
only if one wanted X-Ray subsegments without a collector would it record them (`xray_recorder`), beside
this module rather than through it. When `opentelemetry-sdk-extension-aws` is installed its X-Ray id
generator is used (time-ordered ids, as X-Ray's own).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from quiz import events, logs

log = logging.getLogger("quiz.observability")

Handler = TypeVar("Handler", bound=Callable[..., Any])

TRACER_NAME = "quiz"
ROUTE_KEY = "aws.api_gateway.route_key"
FLUSH_TIMEOUT_MS = 2000  # a frozen Lambda container exports nothing: flush after each invocation, bounded
# MSK; self-managed as AWS sends it today, and as its older sample event (tests/events) spells it.

_provider: TracerProvider | None = None
_provider_lock = threading.Lock()
_cold_start = True


# ---------------------------------------------------------------------------- the provider


def _one_line(span: ReadableSpan) -> str:
    return str(span.to_json(indent=None)) + os.linesep  # one span per log line (CloudWatch, the emulator's log)


def exporters_from_env(env: Mapping[str, str] = os.environ) -> list[tuple[str, SpanExporter]]:
    """The exporters OTEL_TRACES_EXPORTER asks for (default: otlp when an OTLP endpoint is set, else none)."""
    has_endpoint = bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    names = env.get("OTEL_TRACES_EXPORTER") or ("otlp" if has_endpoint else "none")
    chosen: list[tuple[str, SpanExporter]] = []
    for name in (n.strip().lower() for n in names.split(",")):
        if name == "console":
            chosen.append((name, ConsoleSpanExporter(formatter=_one_line)))
        elif name == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            except ImportError:
                log.warning("OTEL_TRACES_EXPORTER=otlp but opentelemetry-exporter-otlp-proto-http is not installed: spans are not exported")
                continue
            chosen.append((name, OTLPSpanExporter()))  # reads the endpoint, headers and timeout from the environment
        elif name == "zipkin":
            try:  # a development dependency: the local trace backend, never in a Lambda bundle
                from opentelemetry.exporter.zipkin.json import ZipkinExporter
            except ImportError:
                log.warning("OTEL_TRACES_EXPORTER=zipkin but opentelemetry-exporter-zipkin-json is not installed: spans are not exported")
                continue
            chosen.append((name, ZipkinExporter()))  # reads OTEL_EXPORTER_ZIPKIN_ENDPOINT
        elif name not in ("none", ""):
            log.warning("unknown OTEL_TRACES_EXPORTER %r ignored (use otlp, zipkin, console or none)", name)
    return chosen


def build_provider(env: Mapping[str, str] = os.environ) -> TracerProvider:
    attributes: dict[str, str] = {"cloud.provider": "aws"}
    if env.get("AWS_REGION"):
        attributes["cloud.region"] = env["AWS_REGION"]
    if env.get("AWS_LAMBDA_FUNCTION_NAME"):
        attributes["faas.name"] = env["AWS_LAMBDA_FUNCTION_NAME"]
        if not env.get("OTEL_SERVICE_NAME"):
            attributes["service.name"] = env["AWS_LAMBDA_FUNCTION_NAME"]
    kwargs: dict[str, Any] = {}
    try:  # optional: only when the bundle carries opentelemetry-sdk-extension-aws
        from opentelemetry.sdk.extension.aws.trace import AwsXRayIdGenerator

        kwargs["id_generator"] = AwsXRayIdGenerator()
    except ImportError:
        pass
    provider = TracerProvider(resource=Resource.create(attributes), **kwargs)
    for name, exporter in exporters_from_env(env):
        provider.add_span_processor(SimpleSpanProcessor(exporter) if name == "console" else BatchSpanProcessor(exporter))
    return provider


def tracer_provider() -> TracerProvider:
    """This container's provider: built once from the environment and made global, or the SDK provider
    something else (ADOT's wrapper, a test) already installed."""
    global _provider
    if _provider is None:
        with _provider_lock:
            if _provider is None:
                existing = trace.get_tracer_provider()
                if isinstance(existing, TracerProvider):
                    _provider = existing
                else:
                    _provider = build_provider()
                    trace.set_tracer_provider(_provider)
    return _provider


# ---------------------------------------------------------------------------- reading the event


_TRIGGERS = {"http": "http", "websocket": "http", "authorizer": "http", "kafka": "pubsub", "schedule": "timer"}


def trigger_of(event: Any) -> str:
    """OpenTelemetry's faas.trigger: http (HTTP and WebSocket APIs, the authorizer), pubsub (Kafka), timer, other."""
    return _TRIGGERS.get(events.kind_of(event), "other")


def kafka_headers(record: Mapping[str, Any]) -> dict[str, str]:
    """A Kafka event record's headers ([{name: [byte ints]}]) as text, for a propagator to read."""
    return events.text_headers(events.record_headers(record))


def producer_links(event: Mapping[str, Any] | events.KafkaEvent) -> list[Link]:
    """One link per distinct producer span found in the batch's record headers (W3C trace context)."""
    links: dict[tuple[int, int], Link] = {}
    for record in events.KafkaEvent.of(event).records():
        if not isinstance(record, events.KafkaRecord):
            continue
        span_context = trace.get_current_span(propagate.extract(record.text_headers())).get_span_context()
        if span_context.is_valid:
            links.setdefault((span_context.trace_id, span_context.span_id), Link(span_context))
    return list(links.values())


def xray_parent(header: str | None) -> SpanContext | None:
    """The Lambda X-Ray segment from `_X_AMZN_TRACE_ID` (Root=1-{8 hex}-{24 hex};Parent={16 hex};Sampled=0|1)."""
    if not header:
        return None
    fields = dict(part.split("=", 1) for part in header.split(";") if "=" in part)
    root, parent = fields.get("Root", "").split("-"), fields.get("Parent", "")
    try:
        if len(root) != 3 or root[0] != "1":
            return None
        span_context = SpanContext(
            trace_id=int(root[1] + root[2], 16),
            span_id=int(parent, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED if fields.get("Sampled") == "1" else TraceFlags.DEFAULT),
        )
    except ValueError:
        return None
    return span_context if span_context.is_valid else None


def batch_parent(links: list[Link]) -> otel_context.Context | None:
    """A batch whose records all come from one trace (one answer's score event, say) continues that trace:
    its first producer span is the parent, so a trace viewer without links (Zipkin) still shows answer ->
    publish -> leaderboard batch -> push as one tree. Records of several traces: links only."""
    traces = {link.context.trace_id for link in links}
    if len(traces) != 1:
        return None
    return trace.set_span_in_context(NonRecordingSpan(links[0].context))


def span(name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None) -> Any:
    """A child span of whatever is current (the invocation's span), for one step of a handler's work:
    `with span("answer transaction", attributes={"db.system": "postgresql"}):`."""
    return _tracer().start_as_current_span(name, kind=kind, attributes=dict(attributes or {}))


@functools.cache
def _tracer() -> trace.Tracer:
    """The container's tracer, got once: `span()` runs on the answer and push paths."""
    return tracer_provider().get_tracer(TRACER_NAME)


def _parent(event: Any, trigger: str, links: list[Link] | None = None) -> otel_context.Context | None:
    xray = xray_parent(os.environ.get("_X_AMZN_TRACE_ID"))
    if xray is not None:
        return trace.set_span_in_context(NonRecordingSpan(xray))
    if trigger == "pubsub" and links:
        return batch_parent(links)
    if trigger == "http" and isinstance(event, Mapping) and isinstance(event.get("headers"), Mapping):
        return propagate.extract(event["headers"])  # a client that sends traceparent joins its own trace
    return None


def _attributes(event: Any, context: Any, trigger: str, cold_start: bool, route_key: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"faas.trigger": trigger, "faas.coldstart": cold_start}
    request_id = getattr(context, "aws_request_id", None)
    if request_id:
        attributes["faas.invocation_id"] = str(request_id)
    if route_key is not None:
        attributes[ROUTE_KEY] = route_key
        method, _, path = route_key.partition(" ")
        if path.startswith("/"):  # an HTTP API route key: "POST /quizzes/{quiz_id}/answers"
            attributes["http.request.method"] = method
            attributes["http.route"] = path
    if trigger == "pubsub" and isinstance(event, Mapping):
        batch = events.KafkaEvent(event)
        topics = batch.topics
        attributes["messaging.system"] = "kafka"
        attributes["messaging.operation.type"] = "process"
        attributes["messaging.batch.message_count"] = batch.record_count
        if len(topics) == 1:
            attributes["messaging.destination.name"] = topics[0]
    return attributes


def _record_result(span: trace.Span, result: Any) -> None:
    if isinstance(result, Mapping) and isinstance(result.get("statusCode"), int):
        status = int(result["statusCode"])
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, f"status {status}"))


# ---------------------------------------------------------------------------- the decorator


def traced_handler(name: str, *, trigger: str | None = None, provider: TracerProvider | None = None) -> Callable[[Handler], Handler]:
    """Run a Lambda handler in a span named after the function (and the route key, when there is one).

    `trigger` overrides the faas.trigger read from the event (a schedule's custom Input looks like any
    payload); `provider` is for tests (default: this container's, from the environment).
    """

    logs.setup()  # when the handler module is imported: its init logs as JSON lines too

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            global _cold_start
            cold_start, _cold_start = _cold_start, False
            function = str(getattr(context, "function_name", None) or name)
            request_id = getattr(context, "aws_request_id", None)
            with logs.invocation(function, str(request_id) if request_id else None, cold_start=cold_start):
                return _traced(handler, event, context, cold_start)

        def _traced(handler: Handler, event: Any, context: Any, cold_start: bool) -> Any:
            used = provider or tracer_provider()
            kind_of_trigger = trigger or trigger_of(event)
            links = producer_links(event) if kind_of_trigger == "pubsub" and isinstance(event, Mapping) else []
            route_key = events.route_key_of(event)
            tracer = _tracer() if provider is None else provider.get_tracer(TRACER_NAME)
            try:
                with tracer.start_as_current_span(
                    f"{name} {route_key}" if route_key else name,
                    context=_parent(event, kind_of_trigger, links),
                    kind=SpanKind.CONSUMER if kind_of_trigger == "pubsub" else SpanKind.SERVER,
                    attributes=_attributes(event, context, kind_of_trigger, cold_start, route_key),
                    links=links,
                ) as span:
                    result = handler(event, context)
                    _record_result(span, result)
                    return result
            finally:
                used.force_flush(FLUSH_TIMEOUT_MS)

        return cast(Handler, wrapper)

    return decorate
