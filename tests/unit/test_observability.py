"""quiz.observability: one span per invocation, its attributes, and Kafka records' trace context as links.

Spans go to an in-memory exporter of a provider the test owns; events are AWS's published samples."""

from __future__ import annotations

import ast
import copy
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from quiz import observability
from quiz.observability import exporters_from_env, kafka_headers, traced_handler, xray_parent

LoadEvent = Callable[[str], dict[str, Any]]


class Context:
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


def with_headers(event: dict[str, Any], headers: list[dict[str, str]]) -> dict[str, Any]:
    """The Kafka sample event with one record per header set, headers as Lambda encodes them (byte ints)."""
    event = copy.deepcopy(event)
    (key, (template,)) = next(iter(event["records"].items()))
    event["records"] = {
        key: [
            {**template, "offset": template["offset"] + i, "headers": [{n: list(v.encode()) for n, v in h.items()}]}
            for i, h in enumerate(headers)
        ]
    }
    return event


def test_an_http_invocation_is_one_server_span_with_its_route_and_request_id(
    spans: tuple[TracerProvider, InMemorySpanExporter], aws_event: LoadEvent
) -> None:
    provider, exporter = spans
    event = aws_event("http-api-v2")
    event["routeKey"] = "POST /quizzes/{quiz_id}/answers"

    @traced_handler("AnswersFunction", provider=provider)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert trace.get_current_span().is_recording(), "the handler runs inside its span"
        return {"statusCode": 201, "body": "{}"}

    assert handler(event, Context()) == {"statusCode": 201, "body": "{}"}
    handler(event, Context())
    first, second = finished(exporter)
    assert first.name == "AnswersFunction POST /quizzes/{quiz_id}/answers" and first.kind is SpanKind.SERVER
    attrs = dict(first.attributes or {})
    assert attrs["faas.trigger"] == "http"
    assert attrs["aws.api_gateway.route_key"] == "POST /quizzes/{quiz_id}/answers"
    assert (attrs["http.request.method"], attrs["http.route"]) == ("POST", "/quizzes/{quiz_id}/answers")
    assert attrs["faas.invocation_id"] == Context.aws_request_id
    assert attrs["http.response.status_code"] == 201
    assert isinstance(attrs["faas.coldstart"], bool)
    assert dict(second.attributes or {})["faas.coldstart"] is False, "only a container's first invocation is cold"
    assert first.context.trace_id != second.context.trace_id, "each request starts its own trace"


def test_the_first_invocation_of_a_container_is_a_cold_start(
    spans: tuple[TracerProvider, InMemorySpanExporter], aws_event: LoadEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, exporter = spans
    monkeypatch.setattr(observability, "_cold_start", True)
    handler = traced_handler("WsConnectFunction", provider=provider)(lambda e, c: {"statusCode": 200})
    handler(aws_event("ws-message"), Context())
    handler(aws_event("ws-message"), Context())
    assert [dict(s.attributes or {})["faas.coldstart"] for s in finished(exporter)] == [True, False]
    assert finished(exporter)[0].name == "WsConnectFunction chat"


def test_a_raising_handler_records_the_error_and_still_raises(
    spans: tuple[TracerProvider, InMemorySpanExporter], aws_event: LoadEvent
) -> None:
    provider, exporter = spans

    @traced_handler("WsAuthorizerFunction", provider=provider)
    def handler(event: dict[str, Any], context: Any) -> Any:
        raise Exception("Unauthorized")

    with pytest.raises(Exception, match="Unauthorized"):
        handler(aws_event("ws-authorizer-request"), Context())
    (span,) = finished(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_a_500_response_marks_the_span_as_an_error(spans: tuple[TracerProvider, InMemorySpanExporter], aws_event: LoadEvent) -> None:
    provider, exporter = spans
    traced_handler("AuthFunction", provider=provider)(lambda e, c: {"statusCode": 500, "body": "{}"})(aws_event("http-api-v2"), Context())
    (span,) = finished(exporter)
    assert span.status.status_code is StatusCode.ERROR


def test_a_kafka_batch_span_links_every_producer_and_the_push_runs_inside_it(
    spans: tuple[TracerProvider, InMemorySpanExporter], aws_event: LoadEvent
) -> None:
    provider, exporter = spans
    tracer = provider.get_tracer("producer")
    carriers: list[dict[str, str]] = []
    for name in ("answer-1", "answer-2"):
        with tracer.start_as_current_span(name):
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            carriers.append(carrier)
    producers = {(s.context.trace_id, s.context.span_id) for s in finished(exporter)}
    exporter.clear()
    # two records of one producer span, one of another, one with no trace context at all
    event = with_headers(aws_event("kafka-self-managed"), [carriers[0], carriers[0], carriers[1], {"event_id": "e-4"}])
    seen: list[trace.SpanContext] = []

    @traced_handler("LeaderboardFunction", provider=provider)
    def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
        seen.append(trace.get_current_span().get_span_context())  # where the push would happen
        return {"frames": 1}

    handler(event, Context())
    (batch,) = finished(exporter)
    assert batch.kind is SpanKind.CONSUMER and batch.name == "LeaderboardFunction"
    assert {(link.context.trace_id, link.context.span_id) for link in batch.links} == producers
    attrs = dict(batch.attributes or {})
    assert (attrs["faas.trigger"], attrs["messaging.system"], attrs["messaging.batch.message_count"]) == ("pubsub", "kafka", 4)
    assert attrs["messaging.destination.name"] == "mytopic"
    assert seen == [batch.context]


def test_kafka_headers_are_read_from_lambdas_byte_arrays(aws_event: LoadEvent) -> None:
    record = next(iter(aws_event("kafka-self-managed")["records"].values()))[0]
    assert kafka_headers(record) == {"headerKey": "headerValue"}
    assert kafka_headers({"headers": [{"bin": [255, 254]}, {"empty": []}]}) == {"empty": ""}


def test_a_lambda_xray_segment_becomes_the_parent(
    spans: tuple[TracerProvider, InMemorySpanExporter], aws_event: LoadEvent, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, exporter = spans
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    traced_handler("AnswersFunction", provider=provider)(lambda e, c: {"statusCode": 200})(aws_event("http-api-v2"), Context())
    (span,) = finished(exporter)
    assert span.context.trace_id == 0x5759E988BD862E3FE1BE46A994272793
    assert span.parent is not None and span.parent.span_id == 0x53995C3F42CD8AD8
    assert xray_parent("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1") is None, "no parent id: no parent"
    assert xray_parent("garbage") is None and xray_parent(None) is None


def test_exporters_follow_the_otel_environment() -> None:
    assert exporters_from_env({}) == [], "nothing is exported by default: tests and local runs stay quiet"
    assert [n for n, _ in exporters_from_env({"OTEL_TRACES_EXPORTER": "console"})] == ["console"]
    assert [n for n, _ in exporters_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})] == ["otlp"]
    assert [
        n for n, _ in exporters_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"})
    ] == []
    assert [n for n, _ in exporters_from_env({"OTEL_TRACES_EXPORTER": "console,otlp"})] == ["console", "otlp"]


# ---------------------------------------------------------------------------- wiring and configuration files

REPO = Path(__file__).resolve().parents[2]


def test_every_function_of_the_template_is_traced_under_its_logical_id() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=Loader)
    functions = {lid: res["Properties"] for lid, res in template["Resources"].items() if res["Type"] == "AWS::Serverless::Function"}
    assert len(functions) >= 8
    for logical_id, props in functions.items():
        module, _, name = props["Handler"].rpartition(".")
        source = (REPO / props["CodeUri"] / module.replace(".", "/")).with_suffix(".py")
        tree = ast.parse(source.read_text())
        (handler,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
        outermost = handler.decorator_list[0] if handler.decorator_list else None
        assert isinstance(outermost, ast.Call) and ast.unparse(outermost.func) == "traced_handler", f"{logical_id}: {name} is not traced"
        assert ast.literal_eval(outermost.args[0]) == logical_id, f"{logical_id}: its span is named {ast.unparse(outermost.args[0])}"


def test_native_and_compose_prometheus_scrape_the_same_job() -> None:
    native = yaml.safe_load((REPO / "local/observability/prometheus.yml").read_text())
    compose = yaml.safe_load((REPO / "local/observability/prometheus-compose.yml").read_text())
    zookeeper = tomllib.loads((REPO / "local/stack.toml").read_text())["zookeeper"]
    for doc, servers in ((native, f"{zookeeper['host']}:{zookeeper['port']}"), (compose, f"zookeeper:{zookeeper['port']}")):
        (job,) = doc["scrape_configs"]
        assert (job["job_name"], job["metrics_path"]) == ("quiz-emulator", "/metrics")
        # Discovered from the znodes every emulator node registers (local/emulator/discovery.py), never a static list.
        assert job["nerve_sd_configs"] == [{"servers": [servers], "paths": ["/quiz/emulator/metrics"], "timeout": "10s"}]
        assert "static_configs" not in job
    assert native["global"] == compose["global"]
    assert native["scrape_configs"][0]["relabel_configs"] == compose["scrape_configs"][0]["relabel_configs"]
    assert [Path(f).name for f in native["rule_files"]] == [Path(f).name for f in compose["rule_files"]] == ["alerts.yml"]


def test_a_batch_of_one_trace_continues_it_and_a_mixed_batch_only_links() -> None:
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanContext, TraceFlags

    from quiz.observability import batch_parent

    def link(trace_id: int, span_id: int) -> Link:
        return Link(SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)))

    one = batch_parent([link(7, 1), link(7, 2)])
    assert one is not None and trace.get_current_span(one).get_span_context().span_id == 1
    assert batch_parent([link(7, 1), link(8, 2)]) is None
    assert batch_parent([]) is None
