"""An event the quiz service announces on the scores topic, as written to its transactional outbox.

Pure data: the PostgreSQL side (writing, marking, draining rows) is `quiz.quizzes.adapters.outbox`, the
Kafka side `quiz.quizzes.adapters.kafka`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OutboxEvent:
    id: int  # the outbox row's id: what the publisher acknowledges and the store marks published
    event_id: str
    topic: str
    key: str
    payload: dict[str, Any]
    headers: dict[str, str]


def new_event_id() -> str:
    return str(uuid.uuid4())
