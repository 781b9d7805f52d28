"""The Kafka event source mapping's event (aws:kafka / SelfManagedKafka) as score events, close markers and ticks."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from quiz.events import KafkaEvent, UnreadableRecord
from quiz.leaderboard.domain import BadScoreEvent, BoardRecord, ScoreEvent, parse_record

log = logging.getLogger("quiz.leaderboard")


def board_records(event: KafkaEvent | Mapping[str, Any]) -> Iterator[BoardRecord]:
    """Every readable record of the batch, in partition order. Unreadable records are logged and
    skipped: retrying cannot fix them, and they must not block the partition."""
    for record in KafkaEvent.of(event).records():
        if isinstance(record, UnreadableRecord):
            log.error("skipping %s", record)
            continue
        try:
            yield parse_record(record.value)
        except (BadScoreEvent, ValueError) as exc:
            log.error("skipping record %s: %s", record.where, exc)


def score_events(event: KafkaEvent | Mapping[str, Any]) -> Iterator[ScoreEvent]:
    """Only the score events of the batch."""
    return (r for r in board_records(event) if isinstance(r, ScoreEvent))
