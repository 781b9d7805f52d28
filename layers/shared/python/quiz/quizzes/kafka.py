"""Kafka adapter of the score publisher: outbox rows become records keyed by quiz id."""

from __future__ import annotations

import json
import logging
import time

from kafka import KafkaProducer
from kafka.errors import KafkaError

from quiz.quizzes.outbox import OutboxEvent

log = logging.getLogger("quiz.kafka")


class KafkaScorePublisher:
    """Publishes score events (key = quiz id, so one quiz's events stay in order on one partition)."""

    def __init__(
        self, bootstrap_servers: str, *, producer: KafkaProducer | None = None, timeout_s: float = 5.0, security_protocol: str = "PLAINTEXT"
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._security_protocol = security_protocol
        self._producer = producer
        self._timeout = timeout_s

    def _connected(self) -> KafkaProducer:
        """The producer, built on first publish: a broker that is down must not stop a container from
        serving requests (the answer is committed; the outbox relay publishes it later)."""
        if self._producer is None:
            ms = int(self._timeout * 1000)
            self._producer = KafkaProducer(
                bootstrap_servers=self._bootstrap.split(","),
                acks="all",
                # No waiting for more records to batch: each container sends one answer's record at a
                # time and waits for its acknowledgement; records of concurrent callers still share a
                # request while one is in flight.
                linger_ms=0,
                retries=3,
                request_timeout_ms=ms,
                max_block_ms=ms,
                bootstrap_timeout_ms=ms,
                client_id="quiz-answers",
                security_protocol=self._security_protocol,
            )
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()

    def publish(self, events: list[OutboxEvent]) -> list[int]:
        """Send the events and wait, up to the timeout, for the broker to acknowledge these records
        (acks=all); returns the outbox ids it acknowledged. Only this call's records are waited for,
        not a flush of everything other threads have in flight."""
        producer = self._connected()
        sent = []
        for e in events:
            try:
                future = producer.send(
                    e.topic,
                    key=e.key.encode(),
                    value=json.dumps(e.payload, separators=(",", ":")).encode(),
                    headers=[(k, v.encode()) for k, v in e.headers.items()] + [("event_id", e.event_id.encode())],
                )
            except KafkaError as exc:
                # The broker or the topic is unreachable: the rest would wait as long; the relay retries them.
                log.warning("publish of %s not accepted: %s; the outbox relay will retry", e.event_id, exc)
                break
            sent.append((e.id, future))
        deadline = time.monotonic() + self._timeout
        acked = []
        for outbox_id, future in sent:
            try:
                future.get(timeout=max(0.0, deadline - time.monotonic()))
                acked.append(outbox_id)
            except KafkaError as exc:  # includes the timeout: unacknowledged events stay in the outbox
                log.warning("publish of outbox row %s failed: %s; the outbox relay will retry", outbox_id, exc)
        return acked
