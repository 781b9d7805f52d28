"""One builder per AWS event shape, so parity with AWS's published samples is checked in one place per shape.

Every builder is pure: it takes what the emulator observed of a request (an `Observed` record) and
returns the event dict a Lambda function receives on AWS. Shapes follow the samples in tests/events/:
HTTP API payload 2.0 and 1.0, the WebSocket REQUEST authorizer, $connect, MESSAGE and $disconnect, and
the Kafka event of an event source mapping (``aws:kafka`` for MSK, ``SelfManagedKafka``), whose records
the mapping hands over as `KafkaRecord`s rather than an `Observed` request.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl

Event = dict[str, Any]

# Content types API Gateway HTTP APIs pass as text; anything else arrives base64-encoded.
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/graphql")


def new_id() -> str:
    """An id shaped like API Gateway's connection, request and message ids ("BFHPhfCWIAMCKlQ=")."""
    return base64.urlsafe_b64encode(os.urandom(11)).decode()


def request_time(epoch_ms: int) -> str:
    """API Gateway's CLF-style time: 21/Apr/2020:15:08:21 +0000."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


def now_ms() -> int:
    return int(time.time() * 1000)


def canonical_header(name: str) -> str:
    """ASGI lower-cases header names; REST-style payloads show them as clients usually send them."""
    special = {"websocket": "WebSocket", "id": "Id"}
    return "-".join(special.get(part, part.capitalize()) for part in name.split("-"))


def is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+json") or media.endswith("+xml")


@dataclass(frozen=True)
class Observed:
    """What the emulator saw of one request: raw headers in order, the query, the client, the time."""

    method: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]  # lower-case names, wire order, duplicates kept
    source_ip: str
    host_header: str
    server_port: int
    protocol: str = "HTTP/1.1"
    body: bytes = b""
    request_id: str = field(default_factory=new_id)
    epoch_ms: int = field(default_factory=now_ms)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def user_agent(self) -> str | None:
        return self.header("user-agent")

    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)

    def forwarded_headers(self) -> list[tuple[str, str]]:
        """The headers API Gateway adds in front of the function (X-Forwarded-*)."""
        extra = []
        if self.header("x-forwarded-for") is None:
            extra.append(("x-forwarded-for", self.source_ip))
        if self.header("x-forwarded-port") is None:
            extra.append(("x-forwarded-port", str(self.server_port)))
        if self.header("x-forwarded-proto") is None:
            extra.append(("x-forwarded-proto", "http"))
        return [*self.headers, *extra]


@dataclass(frozen=True)
class ApiIdentity:
    """Who the API is: its id, stage, domain, account."""

    api_id: str
    stage: str
    domain_name: str
    account_id: str = "123456789012"

    @property
    def domain_prefix(self) -> str:
        return self.domain_name.split(".", 1)[0]


def _body(observed: Observed) -> tuple[str | None, bool]:
    if not observed.body:
        return None, False
    if is_text(observed.header("content-type")):
        try:
            return observed.body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(observed.body).decode(), True


def _multi(pairs: Sequence[tuple[str, str]], canonical: bool) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(canonical_header(key) if canonical else key, []).append(value)
    return out


# ---------------------------------------------------------------------------- HTTP API


def http_v2_event(observed: Observed, api: ApiIdentity, route_key: str, path_parameters: Mapping[str, str]) -> Event:
    """HTTP API payload format 2.0 (tests/events/http-api-v2.json)."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for key, value in observed.forwarded_headers():
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    query: dict[str, str] = {}
    for key, value in observed.query_pairs():
        query[key] = f"{query[key]},{value}" if key in query else value
    body, is_b64 = _body(observed)
    event: Event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": observed.raw_path,
        "rawQueryString": observed.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["requestContext"] = {
        "accountId": api.account_id,
        "apiId": api.api_id,
        "domainName": api.domain_name,
        "domainPrefix": api.domain_prefix,
        "http": {
            "method": observed.method,
            "path": observed.raw_path,
            "protocol": observed.protocol,
            "sourceIp": observed.source_ip,
            "userAgent": observed.user_agent or "",
        },
        "requestId": observed.request_id,
        "routeKey": route_key,
        "stage": api.stage,
        "time": request_time(observed.epoch_ms),
        "timeEpoch": observed.epoch_ms,
    }
    if body is not None:
        event["body"] = body
    event["isBase64Encoded"] = is_b64
    return event


def http_v1_event(observed: Observed, api: ApiIdentity, resource: str, path_parameters: Mapping[str, str]) -> Event:
    """HTTP API payload format 1.0, the REST API proxy shape (tests/events/rest-api-v1.json) plus "version"."""
    pairs = observed.forwarded_headers()
    multi_headers = _multi(pairs, canonical=True)
    multi_query = _multi(observed.query_pairs(), canonical=False)
    body, is_b64 = _body(observed)
    return {
        "version": "1.0",
        "resource": resource,
        "path": observed.raw_path,
        "httpMethod": observed.method,
        "headers": {k: v[-1] for k, v in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(path_parameters) or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": api.account_id,
            "apiId": api.api_id,
            "domainName": api.domain_name,
            "domainPrefix": api.domain_prefix,
            "extendedRequestId": observed.request_id,
            "httpMethod": observed.method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": observed.source_ip,
                "user": None,
                "userAgent": observed.user_agent or "",
                "userArn": None,
            },
            "path": observed.raw_path,
            "protocol": observed.protocol,
            "requestId": observed.request_id,
            "requestTime": request_time(observed.epoch_ms),
            "requestTimeEpoch": observed.epoch_ms,
            "resourceId": resource if resource == "$default" else f"{observed.method} {resource}",
            "resourcePath": resource,
            "stage": api.stage,
        },
        "body": body,
        "isBase64Encoded": is_b64,
    }


# ---------------------------------------------------------------------------- WebSocket API


@dataclass(frozen=True)
class WsConnection:
    """What every WebSocket event repeats about its connection."""

    connection_id: str
    connected_at_ms: int
    source_ip: str
    user_agent: str | None


def _ws_context(conn: WsConnection, api: ApiIdentity, route_key: str, event_type: str, request_id: str, epoch_ms: int) -> dict[str, Any]:
    identity: dict[str, str] = {"sourceIp": conn.source_ip}
    if conn.user_agent:
        identity["userAgent"] = conn.user_agent
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(epoch_ms),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": conn.connected_at_ms,
        "requestTimeEpoch": epoch_ms,
        "identity": identity,
        "requestId": request_id,
        "domainName": api.domain_name,
        "connectionId": conn.connection_id,
        "apiId": api.api_id,
    }


def _ws_handshake_headers(observed: Observed) -> tuple[dict[str, str], dict[str, list[str]]]:
    multi = _multi(observed.forwarded_headers(), canonical=True)
    return {k: ",".join(v) for k, v in multi.items()}, multi


def ws_authorizer_event(observed: Observed, api: ApiIdentity, conn: WsConnection, method_arn: str) -> Event:
    """The REQUEST authorizer's event on $connect (tests/events/ws-authorizer-request.json)."""
    headers, multi = _ws_handshake_headers(observed)
    multi_query = _multi(observed.query_pairs(), canonical=False)
    context = _ws_context(conn, api, "$connect", "CONNECT", observed.request_id, observed.epoch_ms)
    return {
        "type": "REQUEST",
        "methodArn": method_arn,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()},
        "multiValueQueryStringParameters": multi_query,
        "stageVariables": {},
        "requestContext": context,
    }


def ws_connect_event(observed: Observed, api: ApiIdentity, conn: WsConnection, authorizer: Mapping[str, Any] | None) -> Event:
    """$connect (tests/events/ws-connect.json); query parameters only when the URL has a query."""
    headers, multi = _ws_handshake_headers(observed)
    event: Event = {"headers": headers, "multiValueHeaders": multi}
    multi_query = _multi(observed.query_pairs(), canonical=False)
    if multi_query:
        event["queryStringParameters"] = {k: v[-1] for k, v in multi_query.items()}
        event["multiValueQueryStringParameters"] = multi_query
    context = _ws_context(conn, api, "$connect", "CONNECT", observed.request_id, observed.epoch_ms)
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    event["requestContext"] = context
    event["isBase64Encoded"] = False
    return event


def ws_message_event(
    conn: WsConnection,
    api: ApiIdentity,
    route_key: str,
    body: str | bytes,
    authorizer: Mapping[str, Any] | None,
) -> Event:
    """A MESSAGE on a route or $default (tests/events/ws-message.json); no headers, as on AWS."""
    request_id, epoch_ms = new_id(), now_ms()
    context = _ws_context(conn, api, route_key, "MESSAGE", request_id, epoch_ms)
    context = {"routeKey": route_key, "messageId": new_id(), **{k: v for k, v in context.items() if k != "routeKey"}}
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    is_b64 = isinstance(body, bytes)
    return {
        "requestContext": context,
        "body": base64.b64encode(body).decode() if isinstance(body, bytes) else body,
        "isBase64Encoded": is_b64,
    }


def ws_disconnect_event(
    conn: WsConnection,
    api: ApiIdentity,
    status_code: int,
    reason: str,
    authorizer: Mapping[str, Any] | None,
) -> Event:
    """$disconnect after the socket closed (tests/events/ws-disconnect.json), with the close code and reason."""
    request_id, epoch_ms = new_id(), now_ms()
    headers = {"Host": api.domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    base = _ws_context(conn, api, "$disconnect", "DISCONNECT", request_id, epoch_ms)
    context: dict[str, Any] = {"routeKey": "$disconnect", "disconnectStatusCode": status_code}
    for key, value in base.items():
        if key == "routeKey":
            continue
        context[key] = value
        if key == "messageDirection":
            context["disconnectReason"] = reason
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    return {
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


# ---------------------------------------------------------------------------- Kafka event source mapping

KafkaEventType = Literal["MSK", "SelfManagedKafka"]

# AWS documents "aws:kafka" for MSK and "SelfManagedKafka" (no "aws:" prefix) for self-managed clusters
# (https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html, .../with-kafka.html#smaa-sample-event);
# older copies of the self-managed sample, like tests/events/kafka-self-managed.json, still say "aws:SelfManagedKafka".
KAFKA_EVENT_SOURCES: dict[KafkaEventType, str] = {"MSK": "aws:kafka", "SelfManagedKafka": "SelfManagedKafka"}
_TIMESTAMP_TYPES = {0: "CREATE_TIME", 1: "LOG_APPEND_TIME"}


class KafkaSource(Protocol):
    """What the event envelope says about the mapping's source (the mapping's `MappingConfig` is one)."""

    @property
    def event_type(self) -> KafkaEventType: ...

    @property
    def event_source_arn(self) -> str | None: ...

    @property
    def event_bootstrap_servers(self) -> str: ...


@dataclass(frozen=True)
class KafkaRecord:
    """One consumed record, independent of the client library."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    leader_epoch: int = -1

    @classmethod
    def from_consumer_record(cls, record: Any) -> KafkaRecord:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=record.timestamp,
            timestamp_type=_TIMESTAMP_TYPES.get(record.timestamp_type, "CREATE_TIME"),
            key=record.key,
            value=record.value,
            headers=tuple((k, v) for k, v in (record.headers or [])),
            leader_epoch=record.leader_epoch if record.leader_epoch is not None else -1,
        )

    @property
    def partition_key(self) -> str:
        return f"{self.topic}-{self.partition}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def kafka_event_record(record: KafkaRecord) -> Event:
    """The record as Lambda puts it in the event. A null key or value is left out, as Lambda does."""
    out: Event = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp,
        "timestampType": record.timestamp_type,
    }
    if record.key is not None:
        out["key"] = _b64(record.key)
    if record.value is not None:
        out["value"] = _b64(record.value)
    out["headers"] = [{name: list(value or b"")} for name, value in record.headers]
    return out


def group_kafka_records(records: Iterable[KafkaRecord]) -> dict[str, list[KafkaRecord]]:
    """Records under their ``topic-partition`` key, each partition in offset order."""
    grouped: dict[str, list[KafkaRecord]] = {}
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        grouped.setdefault(record.partition_key, []).append(record)
    return grouped


def kafka_event_envelope(source: KafkaSource) -> Event:
    """The event without its records."""
    envelope: Event = {"eventSource": KAFKA_EVENT_SOURCES[source.event_type]}
    if source.event_source_arn is not None:
        envelope["eventSourceArn"] = source.event_source_arn
    envelope["bootstrapServers"] = source.event_bootstrap_servers
    return envelope


def kafka_event(source: KafkaSource, records: Iterable[KafkaRecord]) -> Event:
    """The ``aws:kafka`` / ``SelfManagedKafka`` invocation event for a batch (tests/events/kafka-msk.json)."""
    event = kafka_event_envelope(source)
    event["records"] = {key: [kafka_event_record(r) for r in recs] for key, recs in group_kafka_records(records).items()}
    return event
