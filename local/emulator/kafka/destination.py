"""The on-failure destination of a Kafka mapping: the records AWS writes for an exhausted (or oversized)
batch, and the producer that delivers them to a ``kafka://`` topic.

``kafka://<topic>`` is produced to exactly as AWS documents it (one message per failed record, the
record's own key, the failure metadata plus the single-record event as ``payload``). An SQS/SNS/S3 ARN
cannot be reached locally: the batch's invocation record (AWS's ``KafkaBatchInfo`` shape, with the whole
event attached as S3 would get it) goes to a sink, by default an ERROR log line.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer

from local.emulator.events import KafkaRecord, group_kafka_records, kafka_event
from local.emulator.kafka.batch import json_size
from local.emulator.kafka.config import MappingConfig

log = logging.getLogger("local.emulator.kafka_esm")

DestinationSink = Callable[[str, dict[str, Any]], None]


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
        payload = kafka_event(config, [record])
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
                "payloadSize": json_size(payload),
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
    event = kafka_event(config, records)
    records_info: dict[str, dict[str, str]] = {}
    for key, recs in group_kafka_records(records).items():
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


class FailureTopic:
    """Delivers failure messages to a ``kafka://`` destination; the producer is made at the first failure."""

    def __init__(self, *, bootstrap_servers: str, client_id: str) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._client_id = client_id
        self._producer: Any = None

    def send(self, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Produce and wait for the broker's acknowledgement of every message; raises KafkaError."""
        if self._producer is None:
            self._producer = KafkaProducer(bootstrap_servers=self._bootstrap_servers, client_id=self._client_id, acks="all")
        futures = [self._producer.send(topic, key=key, value=value) for key, value in messages]
        self._producer.flush()
        for future in futures:
            future.get(timeout=10)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
