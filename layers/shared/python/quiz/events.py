"""Typed views of the events Lambda hands the handlers: one per kind, read-only, over the event as given.

- `HttpEvent`: API Gateway HTTP API, payload format 2.0 (`routeKey`, `requestContext.http`, `timeEpoch`);
- `WebSocketEvent`: API Gateway WebSocket API, `$connect`, `$disconnect` and message routes
  (`requestContext.connectionId`, `eventType`, `requestTimeEpoch`, the authorizer's context);
- `AuthorizerEvent`: the WebSocket API's REQUEST authorizer (`methodArn`, headers, query string);
- `KafkaEvent`: the Kafka event source mapping (`aws:SelfManagedKafka` / `aws:kafka`), its records with
  key, value and headers decoded to bytes.

`kind_of(event)` says which of them an event is (the tracing code's faas.trigger). A view never raises
on a missing or malformed field: it answers None or empty, and the code that needs the field says what
is wrong with the request (`quiz.http`). aws-lambda-powertools' event data classes are the model; these
are the few properties this project reads, in one small module instead of a dependency.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Self

Kind = Literal["http", "websocket", "authorizer", "kafka", "schedule", "other"]

KAFKA_SOURCES = frozenset({"aws:kafka", "aws:SelfManagedKafka", "SelfManagedKafka"})
# A plausible epoch in milliseconds: 2001-09-09 .. 2286-11-20. Anything else (seconds, garbage) is not a gateway stamp.
_EPOCH_MS = (1_000_000_000_000, 10_000_000_000_000)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and _EPOCH_MS[0] <= value < _EPOCH_MS[1]:
        seconds, ms = divmod(value, 1000)
        return datetime.fromtimestamp(seconds, UTC).replace(microsecond=ms * 1000)
    return None


def _whole(value: Any) -> int:
    """An integer field of a record (0 when absent or not a whole number)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.lstrip("-").isdigit() else 0


def kind_of(event: Any) -> Kind:
    if not isinstance(event, Mapping):
        return "other"
    if event.get("eventSource") in KAFKA_SOURCES:
        return "kafka"
    if event.get("source") == "aws.events" or event.get("source") == "aws.scheduler":
        return "schedule"
    if "methodArn" in event:
        return "authorizer"
    context = event.get("requestContext")
    if isinstance(context, Mapping):
        return "websocket" if "connectionId" in context else "http"
    if "routeKey" in event:
        return "http"
    return "other"


class _View:
    """The event as given (`raw`), with the properties the handlers read."""

    __slots__ = ("raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw if isinstance(raw, Mapping) else {}

    @classmethod
    def of(cls, event: Any) -> Self:
        """The view of an event: itself when it is one already, else a view over the event as given."""
        return event if isinstance(event, cls) else cls(event)

    @property
    def request_context(self) -> Mapping[str, Any]:
        return _mapping(self.raw.get("requestContext"))

    @property
    def headers(self) -> Mapping[str, str]:
        return _mapping(self.raw.get("headers"))

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name (HTTP API 2.0 lower-cases them, WebSocket events do not)."""
        headers = self.headers
        value = headers.get(name.lower(), headers.get(name))
        if value is not None:
            return str(value)
        wanted = name.lower()
        return next((str(v) for k, v in headers.items() if str(k).lower() == wanted), None)

    @property
    def query(self) -> Mapping[str, str]:
        return _mapping(self.raw.get("queryStringParameters"))

    @property
    def request_id(self) -> str | None:
        value = self.request_context.get("requestId")
        return None if value is None else str(value)


class _ApiEvent(_View):
    """What every API Gateway event (HTTP, WebSocket, authorizer) carries in the same place."""

    __slots__ = ()

    @property
    def route_key(self) -> str:
        return str(self.raw.get("routeKey") or self.request_context.get("routeKey") or "")

    @property
    def body(self) -> str | None:
        """The body as sent: base64 text when `is_base64_encoded` (`quiz.http.json_body` decodes it within limits)."""
        body = self.raw.get("body")
        return None if body is None else str(body)

    @property
    def is_base64_encoded(self) -> bool:
        """A binary body or WebSocket frame, which API Gateway passes base64-encoded."""
        return bool(self.raw.get("isBase64Encoded"))

    @property
    def source_ip(self) -> str | None:
        """The caller's address as API Gateway saw it (never X-Forwarded-For, which the client controls)."""
        context = self.request_context
        value = _mapping(context.get("http")).get("sourceIp") or _mapping(context.get("identity")).get("sourceIp")
        return None if value is None else str(value)

    @property
    def received_at(self) -> datetime | None:
        """When API Gateway received the request: `requestContext.timeEpoch` (HTTP API 2.0) or
        `requestTimeEpoch` (WebSocket, REST / 1.0), set on receipt before any queueing."""
        context = self.request_context
        return _epoch(context.get("timeEpoch")) or _epoch(context.get("requestTimeEpoch"))


class HttpEvent(_ApiEvent):
    """An HTTP API request (payload format 2.0)."""

    __slots__ = ()

    @property
    def path_parameters(self) -> Mapping[str, str]:
        return _mapping(self.raw.get("pathParameters"))


class WebSocketEvent(_ApiEvent):
    """A WebSocket API event: `$connect`, `$disconnect` or a message to a route."""

    __slots__ = ()

    @property
    def event_type(self) -> str:
        return str(self.request_context.get("eventType") or "")

    @property
    def connection_id(self) -> str:
        return str(self.request_context.get("connectionId") or "")

    @property
    def authorizer(self) -> Mapping[str, Any]:
        """The context the `$connect` authorizer returned (with its principalId), on every later event."""
        return _mapping(self.request_context.get("authorizer"))


class AuthorizerEvent(_ApiEvent):
    """The WebSocket API's REQUEST authorizer event for `$connect`."""

    __slots__ = ()

    @property
    def method_arn(self) -> str:
        return str(self.raw.get("methodArn") or "")


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """One record of a Kafka event, decoded: key and value from base64, headers from lists of byte values."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def where(self) -> str:
        return f"{self.topic}-{self.partition}@{self.offset}"

    def text_headers(self) -> dict[str, str]:
        """The headers that are UTF-8 text (a trace context, say), by name; the last of a repeated name wins."""
        return text_headers(self.headers)


def record_headers(raw: Mapping[str, Any]) -> tuple[tuple[str, bytes], ...]:
    """A Kafka event record's headers (a list of {name: [byte values]}) as (name, bytes) pairs, in order."""
    headers: list[tuple[str, bytes]] = []
    for header in raw.get("headers") or []:
        if not isinstance(header, Mapping):
            continue
        for name, data in header.items():
            try:
                headers.append((str(name), bytes(data or [])))
            except (TypeError, ValueError):
                continue  # not a list of byte values: not a header anyone here reads
    return tuple(headers)


def text_headers(headers: tuple[tuple[str, bytes], ...]) -> dict[str, str]:
    """The headers that are UTF-8 text, by name; the last of a repeated name wins."""
    text: dict[str, str] = {}
    for name, value in headers:
        try:
            text[name] = value.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return text


class UnreadableRecord(ValueError):
    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"record {where}: {why}")
        self.where = where


class KafkaEvent(_View):
    """A batch of the Kafka event source mapping: `records` maps "topic-partition" to that partition's records."""

    __slots__ = ()

    @property
    def event_source(self) -> str:
        return str(self.raw.get("eventSource") or "")

    @property
    def record_count(self) -> int:
        return sum(len(batch) for batch in self._batches().values())

    @property
    def topics(self) -> list[str]:
        return sorted({str(r.get("topic")) for batch in self._batches().values() for r in batch if isinstance(r, Mapping)})

    def _batches(self) -> Mapping[str, list[Any]]:
        records = _mapping(self.raw.get("records"))
        return {k: v for k, v in records.items() if isinstance(v, list)}

    def records(self) -> Iterator[KafkaRecord | UnreadableRecord]:
        """Every record in partition order, decoded; a record that cannot be decoded is given as an
        `UnreadableRecord` in its place (the caller logs and skips it: retrying cannot fix it)."""
        for key, batch in self._batches().items():
            for raw in batch:
                yield _record(key, raw)


def _record(key: str, raw: Any) -> KafkaRecord | UnreadableRecord:
    if not isinstance(raw, Mapping):
        return UnreadableRecord(key, "not an object")
    where = f"{key}@{raw.get('offset')}"
    try:
        value = base64.b64decode(raw.get("value") or "", validate=True)
        record_key = None if raw.get("key") is None else base64.b64decode(raw["key"], validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        return UnreadableRecord(where, f"not base64 ({exc})")
    timestamp = raw.get("timestamp")
    return KafkaRecord(
        topic=str(raw.get("topic") or key.rpartition("-")[0]),
        partition=_whole(raw.get("partition")),
        offset=_whole(raw.get("offset")),
        timestamp_ms=timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else None,
        key=record_key,
        value=value,
        headers=record_headers(raw),
    )


def route_key_of(event: Any) -> str | None:
    """The route key of an HTTP or WebSocket API event, None for any other kind."""
    kind = kind_of(event)
    if kind == "http":
        return HttpEvent(event).route_key or None
    if kind == "websocket":
        return WebSocketEvent(event).route_key or None
    return None


def received_at(event: Any) -> datetime | None:
    """When API Gateway received an HTTP or WebSocket request: its own stamp in `requestContext`, set on
    receipt before any queueing (`timeEpoch` in HTTP API 2.0, `requestTimeEpoch` in WebSocket and REST
    events), or None when there is no usable stamp. Only `requestContext` is read: API Gateway writes it,
    a client cannot; nothing from the body or the headers is ever taken as a time."""
    return event.received_at if isinstance(event, _ApiEvent) else _ApiEvent(event).received_at
