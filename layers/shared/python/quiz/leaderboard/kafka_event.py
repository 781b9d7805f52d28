"""The Kafka event source mapping's event (aws:kafka / SelfManagedKafka) as score events."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from typing import Any

from quiz.leaderboard.domain import BadScoreEvent, ScoreEvent

log = logging.getLogger("quiz.leaderboard")


def score_events(event: dict[str, Any]) -> Iterator[ScoreEvent]:
    """Every readable score event of the batch, in partition order. Unreadable records are logged and
    skipped: retrying cannot fix them, and they must not block the partition."""
    for key, records in (event.get("records") or {}).items():
        for record in records:
            try:
                yield ScoreEvent.parse(base64.b64decode(record.get("value") or ""))
            except (BadScoreEvent, ValueError) as exc:
                log.error("skipping record %s offset %s: %s", key, record.get("offset"), exc)
