"""The Kafka event source mapping of the local emulator, in AWS Lambda's words.

One ``KafkaEventSourceMapping`` per ``Type: MSK`` or ``Type: SelfManagedKafka`` event that template.yaml
declares. It joins the declared consumer group on the real broker, gathers batches the way Lambda's
poller does and invokes the handler with the ``aws:kafka`` (MSK) / ``SelfManagedKafka`` event:

* ``BatchSize`` (default 100) records at most, gathered for at most ``MaximumBatchingWindowInSeconds``
  (default 0.5 s for Kafka sources) and never more than the 6 MB synchronous-invocation payload;
  records grouped under ``"topic-partition"`` keys, each partition in offset order, key and value
  base64, headers as ``[{name: [byte, ...]}]``.
* ``StartingPosition`` (TRIM_HORIZON, LATEST, AT_TIMESTAMP with ``StartingPositionTimestamp``) only
  where the group has no committed offset.
* Offsets are committed (last offset + 1 per partition) only after ``invoke`` returned, and only for
  partitions this consumer still owns.
* A failing batch is retried whole, with exponential backoff, ``MaximumRetryAttempts`` times (AWS:
  -1 = forever, but 10 when an on-failure destination is set), then sent to
  ``DestinationConfig.OnFailure.Destination`` and committed past so the mapping moves on.

On-failure destinations: ``kafka://<topic>`` is produced to exactly as AWS documents it (one message per
failed record, the record's own key, the failure metadata plus the single-record event as
``payload``). An SQS/SNS/S3 ARN cannot be reached locally: the batch's invocation record (AWS's
``KafkaBatchInfo`` shape, with the whole event attached as S3 would get it) goes to the
``unsupported_destination_sink`` tuning hook, by default an ERROR log line, never silently dropped.
Without a destination, exhausted batches are discarded as AWS does, with a WARNING naming the offsets.

What is knowingly not emulated: ``BisectBatchOnFunctionError``, ``FunctionResponseTypes``
(ReportBatchItemFailures), ``MaximumRecordAgeInSeconds``, ``FilterCriteria``, ``SchemaRegistryConfig``,
``SourceAccessConfigurations`` (authentication), provisioned pollers and parallel pollers: one consumer
thread per mapping.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import InvalidSessionTimeoutError, KafkaError
from kafka.structs import OffsetAndMetadata

log = logging.getLogger(__name__)

EventType = Literal["MSK", "SelfManagedKafka"]
StartingPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
Invoke = Callable[[dict[str, Any]], object]
DestinationSink = Callable[[str, dict[str, Any]], None]

DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 10_000
# AWS: "For Amazon MSK, Self-managed Apache Kafka ... the default batching window is 500 ms."
DEFAULT_BATCHING_WINDOW_S = 0.5
MAX_BATCHING_WINDOW_S = 300
# The synchronous invocation payload quota (6 MB = 6,291,456 bytes).
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
INFINITE_RETRIES = -1
# AWS: "When you configure both infinite retries and an on-failure destination, Lambda automatically
# applies a maximum of 10 retry attempts."
RETRIES_WHEN_INFINITE_WITH_DESTINATION = 10
KAFKA_DESTINATION_PREFIX = "kafka://"

# How soon a dead node's partitions move to a surviving node. The mechanism is Kafka's own group membership
# (consumer session timeouts), not an owner elected through ZooKeeper: the group coordinator already elects
# one owner per partition and fences a deposed one (a commit from an old generation is refused), whereas a
# ZooKeeper-elected owner consuming with assign() would need fencing of its own and would notice a death no
# sooner (a ZooKeeper session lasts at least two ticks, 4 s, and the emulator's is 10 s by default).
# kafka-python 3 defaults to Java's 45 s session (KIP-735): that is what kept a killed node's partitions idle
# for 45-60 s. The broker expels a silent member after its session, and the survivor hears of the rebalance
# at its next heartbeat, so fail-over takes about session + heartbeat. Sessions are tried shortest first and
# the first the broker accepts is kept: 3 s needs the broker's group.min.session.timeout.ms lowered (its
# default, 6 s, refuses it with INVALID_SESSION_TIMEOUT at the first join, which costs a few milliseconds).
# A heartbeat every second is at most a third of either session, as Kafka advises. A node that stops
# normally leaves the group at once instead (close() sends LeaveGroup). max_poll_interval_ms (the rebalance
# timeout) keeps kafka-python's 300 s: it must outlast the longest invocation, and while a handler runs the
# heartbeat thread keeps the session alive.
SESSION_TIMEOUTS_MS = (3000, 6000)
HEARTBEAT_INTERVAL_MS = 1000

# AWS documents "aws:kafka" for MSK and "SelfManagedKafka" (no "aws:" prefix) for self-managed clusters
# (https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html, .../with-kafka.html#smaa-sample-event);
# older copies of the self-managed sample, like tests/events/kafka-self-managed.json, still say "aws:SelfManagedKafka".
EVENT_SOURCES: dict[EventType, str] = {"MSK": "aws:kafka", "SelfManagedKafka": "SelfManagedKafka"}
# An ESM's UUID when no ConsumerGroupId is declared is derived from this namespace (see _default_group_id).
_GROUP_NAMESPACE = uuid.UUID("6f1c0d8e-5a0b-4c53-9c8e-2b7a1f0e4d21")
_TIMESTAMP_TYPES = {0: "CREATE_TIME", 1: "LOG_APPEND_TIME"}


# --------------------------------------------------------------------------------------------------
# Configuration from the template


@dataclass(frozen=True)
class Destination:
    """Where an exhausted batch goes: a Kafka topic on the same cluster, or an AWS ARN (SQS, SNS, S3)."""

    kind: Literal["kafka", "arn"]
    target: str  # the topic for "kafka", the ARN otherwise

    @property
    def uri(self) -> str:
        return f"{KAFKA_DESTINATION_PREFIX}{self.target}" if self.kind == "kafka" else self.target


def parse_destination(properties: Mapping[str, Any]) -> Destination | None:
    """``DestinationConfig.OnFailure.Destination`` as declared, or None."""
    config = properties.get("DestinationConfig") or {}
    on_failure = config.get("OnFailure") or {}
    target = on_failure.get("Destination")
    if not target:
        return None
    if not isinstance(target, str):
        raise ValueError(f"DestinationConfig.OnFailure.Destination must be a string, got {target!r}")
    if target.startswith(KAFKA_DESTINATION_PREFIX):
        topic = target[len(KAFKA_DESTINATION_PREFIX) :]
        if not topic:
            raise ValueError("a kafka:// on-failure destination needs a topic name")
        return Destination("kafka", topic)
    if target.startswith("arn:"):
        return Destination("arn", target)
    raise ValueError(f"unsupported on-failure destination {target!r}: expected kafka://<topic> or an SQS/SNS/S3 ARN")


@dataclass(frozen=True)
class MappingConfig:
    """The SAM ``Properties`` of one Kafka event, validated, with AWS's defaults filled in."""

    function_name: str
    event_type: EventType
    topics: tuple[str, ...]
    consumer_group_id: str
    starting_position: StartingPosition
    starting_position_timestamp_ms: int | None
    batch_size: int
    batching_window_s: float
    maximum_retry_attempts: int  # as declared: -1 means forever
    destination: Destination | None
    enabled: bool
    event_source_arn: str | None  # MSK only: the cluster ARN (``Stream``)
    event_bootstrap_servers: str  # what the event's ``bootstrapServers`` says

    @property
    def effective_retry_attempts(self) -> int:
        """Retries after the first invocation; -1 means forever (AWS caps that at 10 with a destination)."""
        if self.maximum_retry_attempts == INFINITE_RETRIES and self.destination is not None:
            return RETRIES_WHEN_INFINITE_WITH_DESTINATION
        return self.maximum_retry_attempts

    @classmethod
    def from_properties(
        cls,
        *,
        function_name: str,
        properties: Mapping[str, Any],
        event_type: EventType | None,
        bootstrap_servers: str,
    ) -> MappingConfig:
        kind = event_type or infer_event_type(properties)
        if kind not in EVENT_SOURCES:
            raise ValueError(f"event_type must be MSK or SelfManagedKafka, got {kind!r}")
        topics = properties.get("Topics")
        if isinstance(topics, str):
            topics = [topics]
        if not topics or not all(isinstance(t, str) and t for t in topics):
            raise ValueError(f"{function_name}: a Kafka event needs Topics (a list of topic names)")
        batch_size = int(properties.get("BatchSize", DEFAULT_BATCH_SIZE))
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"{function_name}: BatchSize must be 1..{MAX_BATCH_SIZE}, got {batch_size}")
        window = float(properties.get("MaximumBatchingWindowInSeconds", DEFAULT_BATCHING_WINDOW_S))
        if not 0 <= window <= MAX_BATCHING_WINDOW_S:
            raise ValueError(f"{function_name}: MaximumBatchingWindowInSeconds must be 0..{MAX_BATCHING_WINDOW_S}, got {window}")
        position = str(properties.get("StartingPosition", "LATEST")).upper()
        if position not in ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
            raise ValueError(f"{function_name}: StartingPosition must be TRIM_HORIZON, LATEST or AT_TIMESTAMP, got {position!r}")
        timestamp_ms: int | None = None
        if position == "AT_TIMESTAMP":
            if "StartingPositionTimestamp" not in properties:
                raise ValueError(f"{function_name}: StartingPosition AT_TIMESTAMP needs StartingPositionTimestamp (seconds)")
            timestamp_ms = int(float(properties["StartingPositionTimestamp"]) * 1000)
        retries = int(properties.get("MaximumRetryAttempts", INFINITE_RETRIES))
        if retries < INFINITE_RETRIES or retries > 10_000:
            raise ValueError(f"{function_name}: MaximumRetryAttempts must be -1..10000, got {retries}")
        destination = parse_destination(properties)
        if destination is not None and destination.kind == "kafka" and destination.target in topics:
            # AWS blocks this too: the failed records would feed back into the same mapping.
            raise ValueError(f"{function_name}: the on-failure topic {destination.target!r} is also a source topic")
        arn: str | None = None
        if kind == "MSK":
            arn = properties.get("Stream")
            if not arn:
                raise ValueError(f"{function_name}: an MSK event needs Stream (the cluster ARN)")
            event_servers = bootstrap_servers
        else:
            declared = properties.get("KafkaBootstrapServers")
            if isinstance(declared, str):
                declared = [declared]
            event_servers = ",".join(declared) if declared else bootstrap_servers
        group = properties.get("ConsumerGroupId") or _default_group_id(function_name, kind, topics, arn or event_servers)
        return cls(
            function_name=function_name,
            event_type=kind,
            topics=tuple(topics),
            consumer_group_id=str(group),
            starting_position=position,  # type: ignore[arg-type]  # checked above
            starting_position_timestamp_ms=timestamp_ms,
            batch_size=batch_size,
            batching_window_s=window,
            maximum_retry_attempts=retries,
            destination=destination,
            enabled=bool(properties.get("Enabled", True)),
            event_source_arn=arn,
            event_bootstrap_servers=event_servers,
        )


def infer_event_type(properties: Mapping[str, Any]) -> EventType:
    """MSK events name the cluster (``Stream``); self-managed ones name their brokers."""
    if "Stream" in properties:
        return "MSK"
    if "KafkaBootstrapServers" in properties:
        return "SelfManagedKafka"
    raise ValueError("cannot tell MSK from SelfManagedKafka: pass event_type")


def _default_group_id(function_name: str, event_type: str, topics: Sequence[str], source: str) -> str:
    """AWS uses the mapping's UUID as the group when none is declared. Ours is a UUID derived from what
    identifies the mapping in the template, so it survives emulator restarts the way an ESM's UUID
    survives Lambda's pollers restarting (a random one would re-read or skip the topic every start)."""
    return str(uuid.uuid5(_GROUP_NAMESPACE, "|".join([function_name, event_type, ",".join(topics), source])))


# --------------------------------------------------------------------------------------------------
# Records and events (pure)


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


def event_record(record: KafkaRecord) -> dict[str, Any]:
    """The record as Lambda puts it in the event. A null key or value is left out, as Lambda does."""
    out: dict[str, Any] = {
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


def group_records(records: Iterable[KafkaRecord]) -> dict[str, list[KafkaRecord]]:
    """Records under their ``topic-partition`` key, each partition in offset order."""
    grouped: dict[str, list[KafkaRecord]] = {}
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        grouped.setdefault(record.partition_key, []).append(record)
    return grouped


def _event_envelope(config: MappingConfig) -> dict[str, Any]:
    envelope: dict[str, Any] = {"eventSource": EVENT_SOURCES[config.event_type]}
    if config.event_source_arn is not None:
        envelope["eventSourceArn"] = config.event_source_arn
    envelope["bootstrapServers"] = config.event_bootstrap_servers
    return envelope


def build_event(config: MappingConfig, records: Iterable[KafkaRecord]) -> dict[str, Any]:
    """The ``aws:kafka`` / ``SelfManagedKafka`` invocation event for a batch."""
    event = _event_envelope(config)
    event["records"] = {key: [event_record(r) for r in recs] for key, recs in group_records(records).items()}
    return event


def _json_size(value: object) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def envelope_size(config: MappingConfig) -> int:
    """Bytes of the event without any record (``"records":{}`` included)."""
    return _json_size({**_event_envelope(config), "records": {}})


def record_size(record: KafkaRecord) -> int:
    """Bytes a record adds to the compact JSON event, counting its ``"topic-partition":[...]`` list
    as if it were alone (an upper bound, so the 6 MB check never under-counts)."""
    return _json_size(event_record(record)) + _json_size(record.partition_key) + 4


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class FailureContext:
    """Why a batch gave up, for the on-failure invocation record."""

    condition: str  # AWS: RetryAttemptsExhausted (RetriesExhausted on Kafka destinations) or MaximumPayloadSizeExceeded
    approximate_invoke_count: int
    function_arn: str
    error: str | None = None


def kafka_destination_messages(
    config: MappingConfig, records: Sequence[KafkaRecord], failure: FailureContext
) -> list[tuple[bytes | None, bytes]]:
    """(key, value) for each message AWS writes to a ``kafka://`` destination: one per failed record,
    keyed like the original, carrying the failure metadata and the single-record event as ``payload``
    (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure-destination.html)."""
    messages: list[tuple[bytes | None, bytes]] = []
    now = _iso(time.time() * 1000)
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        payload = build_event(config, [record])
        document = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{failure.function_arn}:$LATEST",
                "condition": "RetriesExhausted" if failure.condition == "RetryAttemptsExhausted" else failure.condition,
                "approximateInvokeCount": failure.approximate_invoke_count,
            },
            "responseContext": _response_context(failure),
            "version": "1.0",
            "timestamp": now,
            "KafkaBatchInfo": {
                "batchSize": 1,
                **({"eventSourceArn": config.event_source_arn} if config.event_source_arn else {}),
                "bootstrapServers": config.event_bootstrap_servers,
                "payloadSize": _json_size(payload),
                "recordInfo": {"offset": str(record.offset), "timestamp": _iso(record.timestamp)},
            },
            "payload": payload,
        }
        messages.append((record.key, json.dumps(document).encode()))
    return messages


def batch_failure_record(config: MappingConfig, records: Sequence[KafkaRecord], failure: FailureContext) -> dict[str, Any]:
    """The invocation record AWS sends to an SQS/SNS/S3 destination for a whole batch
    (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html), with the event as ``payload``
    (a JSON string, as the S3 destination receives it)."""
    event = build_event(config, records)
    records_info: dict[str, dict[str, str]] = {}
    for key, recs in group_records(records).items():
        records_info[key] = {
            "firstRecordOffset": str(recs[0].offset),
            "lastRecordOffset": str(recs[-1].offset),
            "firstRecordTimestamp": _iso(recs[0].timestamp),
            "lastRecordTimestamp": _iso(recs[-1].timestamp),
        }
    payload = json.dumps(event)
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": failure.function_arn,
            "condition": failure.condition,
            "approximateInvokeCount": failure.approximate_invoke_count,
        },
        "responseContext": _response_context(failure),
        "version": "1.0",
        "timestamp": _iso(time.time() * 1000),
        "KafkaBatchInfo": {
            "batchSize": len(records),
            **({"eventSourceArn": config.event_source_arn} if config.event_source_arn else {}),
            "bootstrapServers": config.event_bootstrap_servers,
            "payloadSize": len(payload.encode()),
            "recordsInfo": records_info,
        },
        "payload": payload,
    }


def _response_context(failure: FailureContext) -> dict[str, Any] | None:
    if failure.condition == "MaximumPayloadSizeExceeded":
        return None  # AWS: null when the batch was never invoked
    return {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}


def log_unreachable_destination(destination: str, record: dict[str, Any]) -> None:
    """Default sink for SQS/SNS/S3 destinations, which do not exist locally: the whole invocation
    record, payload included, goes to the log so nothing is lost without a trace."""
    log.error("on-failure destination %s is not reachable from the emulator; invocation record: %s", destination, json.dumps(record))


# --------------------------------------------------------------------------------------------------
# The mapping


@dataclass
class MappingMetrics:
    """Counters for observability; read with ``KafkaEventSourceMapping.metrics()``."""

    state: str = "created"  # created, connecting, running, retrying, stopped, failed
    polls: int = 0
    batches_invoked: int = 0  # invocations, retries included
    batches_succeeded: int = 0
    records_processed: int = 0  # records of successful batches
    invoke_errors: int = 0
    retries: int = 0
    batches_to_destination: int = 0
    records_to_destination: int = 0
    records_discarded: int = 0  # exhausted with no destination
    destination_errors: int = 0
    commits: int = 0
    commit_errors: int = 0
    batches_abandoned: int = 0  # stop() or a rebalance during a failing batch: left uncommitted
    rebalances: int = 0
    consumer_restarts: int = 0  # joins that never completed, recovered with a new consumer
    assigned_partitions: int = 0
    last_batch_size: int = 0
    last_invoke_seconds: float = 0.0
    last_lag: int = 0  # records behind the high watermark over the assigned partitions

    def snapshot(self) -> dict[str, int | float | str]:
        return dict(self.__dict__)


@dataclass
class _Batch:
    records: dict[TopicPartition, list[KafkaRecord]] = field(default_factory=dict)
    epochs: dict[TopicPartition, int] = field(default_factory=dict)
    size: int = 0
    oversized: KafkaRecord | None = None  # one record that alone exceeds the payload limit

    @property
    def count(self) -> int:
        return sum(len(r) for r in self.records.values())

    def all_records(self) -> list[KafkaRecord]:
        return [r for recs in self.records.values() for r in recs]


class _Ownership(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """Tracks which partitions this consumer owns. Called on kafka-python's IO thread, so it only
    touches lock-protected sets; the consumer itself is used on the mapping's thread alone."""

    def __init__(self, metrics: MappingMetrics) -> None:
        self._lock = threading.Lock()
        self._owned: set[TopicPartition] = set()
        self._epochs: dict[TopicPartition, int] = {}
        self._newly_assigned: set[TopicPartition] = set()
        self._joining_since: float | None = None
        self._metrics = metrics

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        with self._lock:
            for tp in revoked:
                self._owned.discard(tp)
                self._epochs[tp] = self._epochs.get(tp, 0) + 1
            if self._joining_since is None:
                self._joining_since = time.monotonic()
            self._metrics.rebalances += 1
            self._metrics.assigned_partitions = len(self._owned)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        with self._lock:
            for tp in assigned:
                if tp not in self._owned:
                    self._owned.add(tp)
                    self._epochs[tp] = self._epochs.get(tp, 0) + 1
                    self._newly_assigned.add(tp)
            self._joining_since = None
            self._metrics.assigned_partitions = len(self._owned)

    def forget(self) -> None:
        """The consumer is being replaced: nothing is owned any more."""
        with self._lock:
            for tp in self._owned:
                self._epochs[tp] = self._epochs.get(tp, 0) + 1
            self._owned.clear()
            self._newly_assigned.clear()
            self._joining_since = None
            self._metrics.assigned_partitions = 0

    def joining_for(self) -> float:
        """Seconds since a rebalance began without an assignment arriving (0 when not rebalancing)."""
        with self._lock:
            return 0.0 if self._joining_since is None else time.monotonic() - self._joining_since

    def epoch(self, tp: TopicPartition) -> int | None:
        """The ownership epoch of a partition, or None when this consumer does not own it."""
        with self._lock:
            return self._epochs.get(tp) if tp in self._owned else None

    def owned(self) -> set[TopicPartition]:
        with self._lock:
            return set(self._owned)

    def take_newly_assigned(self) -> set[TopicPartition]:
        with self._lock:
            taken, self._newly_assigned = self._newly_assigned, set()
            return taken


class KafkaEventSourceMapping:
    """A Lambda event source mapping for one Kafka event of the template, on a real broker.

    ``invoke(event)`` runs the handler synchronously and raises when it fails or times out.

    Tuning (keyword arguments, all optional):
      ``event_type``            "MSK" or "SelfManagedKafka"; inferred from ``Stream`` / ``KafkaBootstrapServers``.
      ``retry_backoff_s``       first retry delay, doubled per attempt (default 1.0).
      ``retry_backoff_max_s``   cap of the retry delay (default 30.0).
      ``max_retry_attempts``    overrides MaximumRetryAttempts (e.g. to bound an infinite default locally).
      ``poll_interval_s``       longest single poll, so stop() is prompt (default 0.2).
      ``max_payload_bytes``     the invocation payload limit (default 6 MB).
      ``stop_timeout_s``        how long stop() waits for an in-flight invocation (default 30.0).
      ``join_timeout_s``        a rebalance with no assignment after this long gets a fresh consumer (default 60.0).
      ``unsupported_destination_sink``  called with (ARN, invocation record) for SQS/SNS/S3 destinations.
      ``region`` / ``account_id``  used in the function ARN of failure records (default us-east-1 / 000000000000).
      ``consumer_config``       extra KafkaConsumer settings over the defaults (``client_id``, the session and
                                heartbeat of SESSION_TIMEOUTS_MS / HEARTBEAT_INTERVAL_MS); e.g. a client_id naming
                                the node, so the group's description tells which node owns which partition. A
                                session_timeout_ms given here is used as is, with no fallback.
    """

    def __init__(
        self,
        *,
        function_name: str,
        properties: dict[str, Any],
        invoke: Invoke,
        bootstrap_servers: str,
        event_type: EventType | None = None,
        retry_backoff_s: float = 1.0,
        retry_backoff_max_s: float = 30.0,
        max_retry_attempts: int | None = None,
        poll_interval_s: float = 0.2,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        stop_timeout_s: float = 30.0,
        join_timeout_s: float = 60.0,
        unsupported_destination_sink: DestinationSink = log_unreachable_destination,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = MappingConfig.from_properties(
            function_name=function_name, properties=properties, event_type=event_type, bootstrap_servers=bootstrap_servers
        )
        self._invoke = invoke
        self._bootstrap_servers = bootstrap_servers
        self._retry_backoff_s = retry_backoff_s
        self._retry_backoff_max_s = retry_backoff_max_s
        self._retry_attempts = self.config.effective_retry_attempts if max_retry_attempts is None else max_retry_attempts
        self._poll_interval_s = poll_interval_s
        self._max_payload_bytes = max_payload_bytes
        self._stop_timeout_s = stop_timeout_s
        self._join_timeout_s = join_timeout_s
        self._sink = unsupported_destination_sink
        self._function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self._consumer_config = dict(consumer_config or {})
        # Sessions still to try, the one in use first (see SESSION_TIMEOUTS_MS).
        given = self._consumer_config.pop("session_timeout_ms", None)
        self._sessions_ms: list[int] = [int(given)] if given is not None else list(SESSION_TIMEOUTS_MS)
        self._metrics = MappingMetrics()
        self._ownership = _Ownership(self._metrics)
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Any = None
        self._producer: Any = None
        self._envelope_size = envelope_size(self.config)

    # ---- public surface -------------------------------------------------------------------------

    @property
    def function_name(self) -> str:
        return self.config.function_name

    @property
    def consumer_group_id(self) -> str:
        return self.config.consumer_group_id

    def start(self) -> None:
        """Start polling on a background thread and return at once (no-op when ``Enabled: false``)."""
        if self._thread is not None:
            return
        if not self.config.enabled:
            log.info("%s: Kafka mapping on %s is disabled in the template", self.function_name, ",".join(self.config.topics))
            self._metrics.state = "stopped"
            return
        self._thread = threading.Thread(target=self._run, name=f"kafka-esm-{self.function_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop gracefully: an in-flight invocation may finish (a success is committed), a failing batch
        is abandoned uncommitted (its records come again, at least once), then the consumer closes."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._stop_timeout_s)
            if thread.is_alive():
                log.warning(
                    "%s: the handler is still running after %.0fs; the consumer closes when it returns",
                    self.function_name,
                    self._stop_timeout_s,
                )

    def wait_until_assigned(self, timeout: float) -> bool:
        """True once the consumer owns partitions and knows where it reads from in each."""
        return self._ready.wait(timeout)

    def metrics(self) -> dict[str, int | float | str]:
        return self._metrics.snapshot()

    @property
    def session_timeout_ms(self) -> int:
        """The consumer session in use: how long the group waits for this consumer after it falls silent."""
        return self._sessions_ms[0]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- the poller thread ----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._metrics.state = "connecting"
            if not self._connect():
                return
            self._metrics.state = "running"
            while not self._stopping.is_set():
                batch = self._collect_batch()
                if batch is not None and not self._stopping.is_set():
                    self._process(batch)
        except Exception:
            log.exception("%s: the Kafka event source mapping failed", self.function_name)
            self._metrics.state = "failed"
        finally:
            self._close()
            if self._metrics.state != "failed":
                self._metrics.state = "stopped"

    def _connect(self) -> bool:
        delay = self._retry_backoff_s
        while not self._stopping.is_set():
            try:
                self._consumer = KafkaConsumer(
                    bootstrap_servers=self._bootstrap_servers,
                    group_id=self.config.consumer_group_id,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest" if self.config.starting_position == "TRIM_HORIZON" else "latest",
                    allow_auto_create_topics=False,
                    **{
                        "client_id": f"lambda-esm-{self.function_name}",
                        "session_timeout_ms": self._sessions_ms[0],
                        "heartbeat_interval_ms": min(HEARTBEAT_INTERVAL_MS, self._sessions_ms[0] // 3),
                        **self._consumer_config,
                    },
                )
                self._consumer.subscribe(list(self.config.topics), listener=self._ownership)
                # Load the subscribed topics' metadata before the first poll joins the group. Otherwise the
                # leader assigns from a stale (empty) snapshot, rejoins as soon as metadata arrives, and
                # kafka-python 3.0 sometimes never completes that second join (seen under load).
                missing = [t for t in self.config.topics if not self._consumer.partitions_for_topic(t)]
                if missing:
                    log.warning("%s: topic(s) %s do not exist (yet); the mapping waits for them", self.function_name, ", ".join(missing))
                return True
            except KafkaError as exc:
                log.warning("%s: cannot reach Kafka at %s (%s); retrying in %.1fs", self.function_name, self._bootstrap_servers, exc, delay)
                if self._stopping.wait(delay):
                    return False
                delay = min(delay * 2, self._retry_backoff_max_s)
        return False

    def _close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            except Exception:
                log.exception("%s: closing the consumer failed", self.function_name)
        if self._producer is not None:
            try:
                self._producer.close(timeout=5)
            except Exception:
                log.exception("%s: closing the on-failure producer failed", self.function_name)

    def _poll(self, timeout_s: float, max_records: int) -> dict[TopicPartition, list[Any]]:
        if self._ownership.joining_for() > self._join_timeout_s:
            self._replace_consumer()
            return {}
        try:
            polled: dict[TopicPartition, list[Any]] = self._consumer.poll(timeout_ms=max(0, int(timeout_s * 1000)), max_records=max_records)
        except InvalidSessionTimeoutError:
            if len(self._sessions_ms) < 2:
                raise
            refused = self._sessions_ms.pop(0)
            log.info(
                "%s: the broker refuses a %d ms consumer session (group.min.session.timeout.ms); using %d ms",
                self.function_name,
                refused,
                self._sessions_ms[0],
            )
            self._replace_consumer(why=None)
            return {}
        self._metrics.polls += 1
        fresh = self._ownership.take_newly_assigned()
        if fresh:
            self._position_new_partitions(fresh, polled)
        if not self._ready.is_set() and self._ownership.owned():
            # Resolving positions now means "assigned" also means "reads from a known offset":
            # a record produced after this is seen even with StartingPosition LATEST.
            for tp in self._ownership.owned():
                self._consumer.position(tp)
            self._ready.set()
        self._update_lag()
        return polled

    def _replace_consumer(self, why: str | None = "stuck") -> None:
        """A join that never completes (kafka-python 3.0 can wedge when a rejoin overlaps a sync) would
        silently stop the mapping; leave the group and join again with a new consumer instead. Whatever
        was in flight is uncommitted and is read again. Also used, with `why` None, to join again with a
        longer session after the broker refused a short one."""
        if why is not None:
            log.warning(
                "%s: no partition assignment %.0fs into a rebalance; rejoining with a new consumer",
                self.function_name,
                self._ownership.joining_for(),
            )
            self._metrics.consumer_restarts += 1
        self._ownership.forget()
        with contextlib.suppress(Exception):
            self._consumer.close(autocommit=False)
        self._consumer = None
        if not self._connect():
            self._stopping.set()

    def _position_new_partitions(self, fresh: set[TopicPartition], polled: dict[TopicPartition, list[Any]]) -> None:
        if self.config.starting_position != "AT_TIMESTAMP":
            return  # TRIM_HORIZON / LATEST are the consumer's auto_offset_reset, used only without a committed offset
        for tp in fresh:
            if self._consumer.committed(tp) is not None:
                continue
            found = self._consumer.offsets_for_times({tp: self.config.starting_position_timestamp_ms})
            at = found.get(tp)
            offset = at.offset if at is not None else self._consumer.end_offsets([tp])[tp]
            self._consumer.seek(tp, offset)
            polled.pop(tp, None)  # fetched from the reset position, not from the timestamp

    def _update_lag(self) -> None:
        lag = 0
        try:
            for tp in self._consumer.assignment():
                high = self._consumer.highwater(tp)
                if high is not None:
                    lag += max(0, high - self._consumer.position(tp, timeout_ms=100))
        except (KafkaError, ValueError):
            return
        self._metrics.last_lag = lag

    def _collect_batch(self) -> _Batch | None:
        """Gather up to BatchSize records within the batching window and the payload limit."""
        batch = _Batch()
        deadline: float | None = None
        while not self._stopping.is_set():
            wait = self._poll_interval_s if deadline is None else min(self._poll_interval_s, max(0.0, deadline - time.monotonic()))
            polled = self._poll(wait, self.config.batch_size - batch.count)
            full = self._add(batch, polled)
            if batch.oversized is not None:
                return batch
            if batch.count and deadline is None:
                deadline = time.monotonic() + self.config.batching_window_s
            if full or batch.count >= self.config.batch_size:
                return batch
            if deadline is not None and time.monotonic() >= deadline:
                return batch
        return None

    def _add(self, batch: _Batch, polled: dict[TopicPartition, list[Any]]) -> bool:
        """Add polled records; True when the payload limit closed the batch. Records left out are
        sought back so the next poll returns them first."""
        full = False
        for tp, consumed in polled.items():
            if not consumed:
                continue
            if full:
                self._consumer.seek(tp, consumed[0].offset)
                continue
            epoch = self._ownership.epoch(tp)
            if epoch is None:
                continue  # revoked while polling: the new owner reads these
            if batch.epochs.get(tp, epoch) != epoch:
                # Reassigned since these were gathered: the earlier ones may be another owner's by now.
                batch.size -= sum(record_size(r) for r in batch.records.pop(tp, []))
            batch.epochs[tp] = epoch
            for i, raw in enumerate(consumed):
                record = KafkaRecord.from_consumer_record(raw)
                size = record_size(record)
                if batch.count == 0 and self._envelope_size + size > self._max_payload_bytes:
                    batch.oversized = record
                    batch.records = {tp: [record]}
                    self._seek_rest(tp, consumed, i + 1, polled)
                    return True
                if self._envelope_size + batch.size + size > self._max_payload_bytes:
                    self._consumer.seek(tp, raw.offset)
                    full = True
                    break
                batch.records.setdefault(tp, []).append(record)
                batch.size += size
        return full

    def _seek_rest(self, tp: TopicPartition, consumed: list[Any], start: int, polled: dict[TopicPartition, list[Any]]) -> None:
        if start < len(consumed):
            self._consumer.seek(tp, consumed[start].offset)
        seen = False
        for other, recs in polled.items():
            if other == tp:
                seen = True
            elif seen and recs:
                self._consumer.seek(other, recs[0].offset)

    def _process(self, batch: _Batch) -> None:
        if batch.oversized is not None:
            self._rewind(batch)  # so that, if the destination cannot take it, the record is read again
            failure = FailureContext("MaximumPayloadSizeExceeded", 0, self._function_arn)
            self._give_up(batch, failure)
            return
        attempts = 0
        rewound = False
        while True:
            self._drop_revoked(batch)
            if not batch.records:
                self._resume()
                return
            event = build_event(self.config, batch.all_records())
            attempts += 1
            self._metrics.batches_invoked += 1
            self._metrics.last_batch_size = batch.count
            started = time.monotonic()
            try:
                self._invoke(event)
            except Exception as exc:
                self._metrics.last_invoke_seconds = time.monotonic() - started
                self._metrics.invoke_errors += 1
                log.warning("%s: batch of %d record(s) failed (attempt %d): %r", self.function_name, batch.count, attempts, exc)
                error = repr(exc)
            else:
                self._metrics.last_invoke_seconds = time.monotonic() - started
                self._metrics.batches_succeeded += 1
                self._metrics.records_processed += batch.count
                self._commit(batch, reposition=rewound)
                self._resume()
                return
            # A failed batch is retried whole: rewind so that, whatever happens next (stop, rebalance,
            # a crash), these records are read again from their first offsets.
            self._rewind(batch)
            rewound = True
            if self._stopping.is_set():
                self._abandon(batch, "stopping")
                return
            if 0 <= self._retry_attempts < attempts:
                self._give_up(batch, FailureContext("RetryAttemptsExhausted", attempts, self._function_arn, error))
                return
            self._metrics.retries += 1
            self._metrics.state = "retrying"
            delay = min(self._retry_backoff_s * 2 ** (attempts - 1), self._retry_backoff_max_s)
            if not self._idle(delay):
                self._abandon(batch, "stopping")
                return
            self._metrics.state = "running"

    def _drop_revoked(self, batch: _Batch) -> None:
        for tp in list(batch.records):
            if self._ownership.epoch(tp) != batch.epochs.get(tp):
                dropped = batch.records.pop(tp)
                batch.size -= sum(record_size(r) for r in dropped)
                log.info("%s: %s was reassigned; leaving %d record(s) to its new owner", self.function_name, tp, len(dropped))

    def _owned_in(self, batch: _Batch) -> list[TopicPartition]:
        return [tp for tp in batch.records if self._ownership.epoch(tp) == batch.epochs.get(tp)]

    def _rewind(self, batch: _Batch) -> None:
        for tp in self._owned_in(batch):
            with contextlib.suppress(ValueError):  # revoked between the check and the seek
                self._consumer.seek(tp, batch.records[tp][0].offset)

    def _abandon(self, batch: _Batch, why: str) -> None:
        self._metrics.batches_abandoned += 1
        log.info("%s: abandoning a failing batch of %d record(s) uncommitted (%s)", self.function_name, batch.count, why)

    def _idle(self, seconds: float) -> bool:
        """Wait out a retry delay while staying in the group (polling with every partition paused).
        False when stop() was called."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            owned = self._consumer.assignment()
            if owned:
                self._consumer.pause(*owned)
            polled = self._poll(min(left, self._poll_interval_s), 1)
            for tp, recs in polled.items():
                if recs:  # a partition assigned during the wait: read it later, from here
                    self._consumer.seek(tp, recs[0].offset)
        return False

    def _resume(self) -> None:
        paused = self._consumer.paused()
        if paused:
            self._consumer.resume(*paused)

    def _commit(self, batch: _Batch, *, reposition: bool) -> None:
        """Commit last offset + 1 for each partition of the batch this consumer still owns."""
        offsets = {}
        for tp in self._owned_in(batch):
            last = batch.records[tp][-1]
            offsets[tp] = OffsetAndMetadata(last.offset + 1, "", last.leader_epoch)
        skipped = len(batch.records) - len(offsets)
        if skipped:
            log.info("%s: not committing %d partition(s) reassigned during the invocation", self.function_name, skipped)
        if not offsets:
            return
        try:
            self._consumer.commit(offsets)
            self._metrics.commits += 1
        except KafkaError as exc:
            # Usually a rebalance: the group's new generation reads from the last committed offsets.
            self._metrics.commit_errors += 1
            log.warning("%s: committing %s failed (%s); those records will be delivered again", self.function_name, offsets, exc)
            return
        if reposition:
            for tp, meta in offsets.items():
                with contextlib.suppress(ValueError):
                    self._consumer.seek(tp, meta.offset)

    def _give_up(self, batch: _Batch, failure: FailureContext) -> None:
        """Send an exhausted (or oversized) batch to the on-failure destination, then move past it."""
        records = batch.all_records()
        destination = self.config.destination
        if destination is None:
            self._metrics.records_discarded += len(records)
            ranges = {key: f"{recs[0].offset}..{recs[-1].offset}" for key, recs in group_records(records).items()}
            log.warning(
                "%s: %s (%s); no on-failure destination, discarding offsets %s",
                self.function_name,
                failure.condition,
                failure.error,
                ranges,
            )
        elif destination.kind == "kafka":
            if not self._publish_failures(destination.target, records, failure):
                self._abandon(batch, "stopping before the on-failure destination accepted the batch")
                return
        else:
            try:
                self._sink(destination.target, batch_failure_record(self.config, records, failure))
            except Exception:
                self._metrics.destination_errors += 1
                log.exception("%s: the on-failure sink for %s failed; the batch stays uncommitted", self.function_name, destination.target)
                self._abandon(batch, "on-failure sink failed")
                self._stopping.wait(self._retry_backoff_max_s)
                return
        if destination is not None:
            self._metrics.batches_to_destination += 1
            self._metrics.records_to_destination += len(records)
        self._commit(batch, reposition=True)
        self._resume()
        self._metrics.state = "running"

    def _publish_failures(self, topic: str, records: Sequence[KafkaRecord], failure: FailureContext) -> bool:
        """Produce the failure messages, retrying until the broker acknowledges them or stop()."""
        messages = kafka_destination_messages(self.config, records, failure)
        delay = self._retry_backoff_s
        while not self._stopping.is_set():
            try:
                if self._producer is None:
                    self._producer = KafkaProducer(
                        bootstrap_servers=self._bootstrap_servers, client_id=f"lambda-esm-{self.function_name}-failures", acks="all"
                    )
                futures = [self._producer.send(topic, key=key, value=value) for key, value in messages]
                self._producer.flush()
                for future in futures:
                    future.get(timeout=10)
                return True
            except KafkaError as exc:
                self._metrics.destination_errors += 1
                log.error("%s: publishing to on-failure topic %s failed (%s); retrying in %.1fs", self.function_name, topic, exc, delay)
                if not self._idle(delay):
                    return False
                delay = min(delay * 2, self._retry_backoff_max_s)
        return False
