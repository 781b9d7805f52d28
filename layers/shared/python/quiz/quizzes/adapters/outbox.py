"""The transactional outbox in PostgreSQL: events written with the change they announce, published to
Kafka right after the commit, republished by the relay when that publish never happened.

Whether a row is marked published is bookkeeping, never correctness: an unmarked row is republished by
the relay, and every consumer applies an event idempotently (score events by version, markers by id).
The event itself (`OutboxEvent`) is pure and lives in `quiz.quizzes.outbox`.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from quiz.quizzes.outbox import OutboxEvent

Row = dict[str, Any]

# Marks rows the broker acknowledged (the answer path's write does the same in a CTE); SKIP LOCKED so
# marking never waits for, or deadlocks with, the relay or another writer marking the same rows.
MARK_PUBLISHED = (
    "UPDATE outbox SET published_at = clock_timestamp() WHERE id IN"
    " (SELECT id FROM outbox WHERE id = ANY(%s::bigint[]) AND published_at IS NULL FOR UPDATE SKIP LOCKED)"
)


class AckedRows:
    """Outbox rows the broker acknowledged that are not marked published yet.

    The answer path does not spend a transaction (and a WAL flush) marking its row: the ids wait here
    and ride along with this container's next answer transaction (or the next mark of another change).
    If the container is frozen or dies first, the relay republishes them: a duplicate that consumers
    ignore, never a loss. Process memory, by design only an optimisation."""

    def __init__(self, limit: int = 10_000) -> None:
        self._ids: list[int] = []
        self._lock = threading.Lock()
        self._limit = limit

    def add(self, ids: list[int]) -> None:
        with self._lock:
            self._ids.extend(ids)
            del self._ids[: max(0, len(self._ids) - self._limit)]  # unbounded growth is worse than a republish

    def peek(self) -> list[int]:
        with self._lock:
            return list(self._ids)

    def take(self) -> list[int]:
        with self._lock:
            taken, self._ids = self._ids, []
        return taken


def trace_headers() -> dict[str, str]:
    """W3C trace context of the current span, carried into Kafka so the push joins the same trace."""
    try:
        from opentelemetry import propagate
    except ImportError:  # pragma: no cover - the layer always ships it
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def enqueue(conn: psycopg.Connection[Row], topic: str, key: str, event_id: str, payload: dict[str, Any]) -> OutboxEvent:
    """Write an event in the caller's transaction."""
    headers = trace_headers()
    row = conn.execute(
        "INSERT INTO outbox (event_id, topic, key, payload, headers) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (event_id, topic, key, Jsonb(payload), Jsonb(headers)),
    ).fetchone()
    assert row
    return OutboxEvent(row["id"], event_id, topic, key, payload, headers)
