"""The configuration of a Kafka event source mapping: the SAM ``Properties`` of one ``Type: MSK`` or
``Type: SelfManagedKafka`` event, validated, with AWS's defaults filled in."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from local.emulator.events import KAFKA_EVENT_SOURCES, KafkaEventType

EventType = KafkaEventType
EVENT_SOURCES = KAFKA_EVENT_SOURCES
StartingPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]

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

# An ESM's UUID when no ConsumerGroupId is declared is derived from this namespace (see _default_group_id).
_GROUP_NAMESPACE = uuid.UUID("6f1c0d8e-5a0b-4c53-9c8e-2b7a1f0e4d21")


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
