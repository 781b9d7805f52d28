"""A batch of records on its way to one invocation, and what each record weighs in the event's JSON
(the 6 MB synchronous payload limit is checked against these sizes as the batch is gathered)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from local.emulator.events import KafkaRecord, KafkaSource, kafka_event_envelope, kafka_event_record


def json_size(value: object) -> int:
    """Bytes of the compact JSON Lambda's payload limit applies to."""
    return len(json.dumps(value, separators=(",", ":")).encode())


def envelope_size(source: KafkaSource) -> int:
    """Bytes of the event without any record (``"records":{}`` included)."""
    return json_size({**kafka_event_envelope(source), "records": {}})


def record_size(record: KafkaRecord) -> int:
    """Bytes a record adds to the compact JSON event, counting its ``"topic-partition":[...]`` list
    as if it were alone (an upper bound, so the 6 MB check never under-counts)."""
    return json_size(kafka_event_record(record)) + json_size(record.partition_key) + 4


@dataclass
class Batch:
    """Records gathered per partition, with the ownership epoch each partition had when they were read:
    a partition whose epoch moved on was reassigned, and its records are another owner's to process."""

    records: dict[Any, list[KafkaRecord]] = field(default_factory=dict)  # by kafka-python TopicPartition
    epochs: dict[Any, int] = field(default_factory=dict)
    size: int = 0
    oversized: KafkaRecord | None = None  # one record that alone exceeds the payload limit

    @property
    def count(self) -> int:
        return sum(len(r) for r in self.records.values())

    def all_records(self) -> list[KafkaRecord]:
        return [r for recs in self.records.values() for r in recs]
