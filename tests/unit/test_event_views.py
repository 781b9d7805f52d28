"""The typed event views against AWS's published sample events (tests/events, copied from ../shared/aws-events)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from quiz.events import AuthorizerEvent, HttpEvent, KafkaEvent, KafkaRecord, UnreadableRecord, WebSocketEvent, kind_of, route_key_of

EVENTS = Path(__file__).resolve().parents[1] / "events"


def sample(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / f"{name}.json").read_text()))


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("http-api-v2", "http"),
        ("rest-api-v1", "http"),
        ("ws-connect", "websocket"),
        ("ws-disconnect", "websocket"),
        ("ws-message", "websocket"),
        ("ws-message-default", "websocket"),
        ("ws-authorizer-request", "authorizer"),
        ("kafka-self-managed", "kafka"),
        ("kafka-msk", "kafka"),
    ],
)
def test_each_sample_event_is_recognised_as_its_kind(name: str, kind: str) -> None:
    assert kind_of(sample(name)) == kind


def test_other_inputs_are_other_kinds() -> None:
    assert kind_of({"source": "aws.events", "detail-type": "Scheduled Event"}) == "schedule"
    assert kind_of({"older_than_s": 2}) == "other"
    assert kind_of("not an event") == "other"


def test_an_http_api_request() -> None:
    event = HttpEvent(sample("http-api-v2"))
    assert event.route_key == "$default" == route_key_of(event.raw)
    assert event.request_id == "LV7fzho-PHcEJPw="
    assert event.source_ip == "1.2.3.4"
    assert event.header("User-Agent") == "curl/7.58.0"  # any case
    assert event.header("x-missing") is None
    assert event.received_at == datetime(2020, 4, 21, 15, 8, 21, 67000, tzinfo=UTC)
    assert event.body is None and not event.is_base64_encoded
    assert event.path_parameters == {} and event.query == {}


def test_a_websocket_message_and_its_authorizer_context() -> None:
    raw = sample("ws-message")
    raw["requestContext"]["authorizer"] = {"principalId": "u-1", "role": "player"}
    event = WebSocketEvent(raw)
    assert (event.route_key, event.event_type, event.connection_id) == ("chat", "MESSAGE", "BFaT_fALIAMCKug=")
    assert json.loads(event.body or "")["action"] == "chat"
    assert event.authorizer["principalId"] == "u-1"
    assert event.source_ip == "166.90.225.1"
    assert event.received_at == datetime(2024, 11, 11, 13, 45, 46, 514000, tzinfo=UTC)


def test_a_websocket_connect_reads_headers_in_any_case() -> None:
    event = WebSocketEvent(sample("ws-connect"))
    assert event.route_key == "$connect" and event.event_type == "CONNECT"
    assert event.header("x-forwarded-proto") == "https"  # sent as X-Forwarded-Proto


def test_the_authorizer_request() -> None:
    event = AuthorizerEvent(sample("ws-authorizer-request"))
    assert event.method_arn.endswith("/production/$connect")
    assert event.header("authorization") == "Leo"


def test_kafka_records_are_decoded_with_their_headers() -> None:
    event = KafkaEvent(sample("kafka-self-managed"))
    assert event.event_source == "aws:SelfManagedKafka"
    assert event.record_count == 1 and event.topics == ["mytopic"]
    (record,) = list(event.records())
    assert isinstance(record, KafkaRecord)
    assert (record.topic, record.partition, record.offset, record.timestamp_ms) == ("mytopic", 0, 15, 1545084650987)
    assert record.key == b"recordKey" and json.loads(record.value) == {"key": "value"}
    assert record.headers == (("headerKey", b"headerValue"),)
    assert record.text_headers() == {"headerKey": "headerValue"}
    assert record.where == "mytopic-0@15"


def test_an_undecodable_record_is_given_in_its_place_not_raised() -> None:
    good = {"topic": "t", "partition": 1, "offset": 7, "value": base64.b64encode(b"{}").decode(), "headers": [{"bin": [255, 254]}]}
    event = KafkaEvent(
        {"eventSource": "aws:kafka", "records": {"t-1": [{"topic": "t", "partition": 1, "offset": 6, "value": "%%%"}, good]}}
    )
    bad, fine = list(event.records())
    assert isinstance(bad, UnreadableRecord) and bad.where == "t-1@6"
    assert isinstance(fine, KafkaRecord) and fine.value == b"{}"
    assert fine.text_headers() == {}  # not UTF-8: no text header


def test_views_of_malformed_events_answer_empty_instead_of_raising() -> None:
    for view in (HttpEvent({"requestContext": "x", "headers": None}), WebSocketEvent({}), AuthorizerEvent({})):
        assert view.request_id is None and view.header("a") is None and view.query == {}
    assert HttpEvent({}).received_at is None and WebSocketEvent({"requestContext": {"requestTimeEpoch": 17}}).received_at is None
    assert list(KafkaEvent({"records": {"t-0": "nope"}}).records()) == []
