"""Kafka adapter of the score publisher: outbox rows become records keyed by quiz id."""

from __future__ import annotations

import json
import logging

from kafka import KafkaProducer
from kafka.errors import KafkaError

from quiz.quizzes.postgres import OutboxEvent

log = logging.getLogger("quiz.kafka")


class KafkaScorePublisher:
    """Publishes score events (key = quiz id, so one quiz's events stay in order on one partition)."""

    def __init__(self, bootstrap_servers: str, *, producer: KafkaProducer | None = None, timeout_s: float = 5.0) -> None:
        self._producer = producer or KafkaProducer(
            bootstrap_servers=bootstrap_servers.split(","),
            acks="all",
            linger_ms=2,
            retries=3,
            request_timeout_ms=int(timeout_s * 1000),
            max_block_ms=int(timeout_s * 1000),
            client_id="quiz-answers",
        )
        self._timeout = timeout_s

    def publish(self, events: list[OutboxEvent]) -> list[int]:
        sent = []
        for e in events:
            try:
                future = self._producer.send(
                    e.topic,
                    key=e.key.encode(),
                    value=json.dumps(e.payload, separators=(",", ":")).encode(),
                    headers=[(k, v.encode()) for k, v in e.headers.items()] + [("event_id", e.event_id.encode())],
                )
            except KafkaError as exc:
                log.warning("publish of %s not accepted: %s; the outbox relay will retry", e.event_id, exc)
                continue
            sent.append((e.id, future))
        self._producer.flush(timeout=self._timeout)
        acked = []
        for outbox_id, future in sent:
            try:
                future.get(timeout=0)
                acked.append(outbox_id)
            except KafkaError as exc:
                log.warning("publish of outbox row %s failed: %s; the outbox relay will retry", outbox_id, exc)
        return acked
