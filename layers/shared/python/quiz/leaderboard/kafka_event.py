"""The Kafka event source mapping's event (aws:kafka / SelfManagedKafka) as score events, close markers and ticks."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

from quiz.leaderboard.domain import BadScoreEvent, BoardRecord, ScoreEvent, parse_record

log = logging.getLogger("quiz.leaderboard")


def board_records(event: dict[str, Any]) -> Iterator[BoardRecord]:
    """Every readable record of the batch, in partition order. Unreadable records are logged and
    skipped: retrying cannot fix them, and they must not block the partition."""
    for key, records in (event.get("records") or {}).items():
        for record in records:
            try:
                yield parse_record(base64.b64decode(record.get("value") or ""))
            except (BadScoreEvent, ValueError) as exc:
                log.error("skipping record %s offset %s: %s", key, record.get("offset"), exc)


def score_events(event: dict[str, Any]) -> Iterator[ScoreEvent]:
    """Only the score events of the batch."""
    return (r for r in board_records(event) if isinstance(r, ScoreEvent))
