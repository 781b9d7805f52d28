"""Kafka adapter of the board ticker: a small record on the quiz's own partition of the scores topic."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kafka import KafkaProducer

log = logging.getLogger("quiz.leaderboard")


class KafkaTicker:
    """Sends `{"type": "board_tick", "quiz_id"}` keyed by quiz id, so it queues behind that quiz's scores."""

    def __init__(self, bootstrap_servers: str, topic: str, *, security_protocol: str = "PLAINTEXT", timeout_s: float = 2.0) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._security_protocol = security_protocol
        self._timeout = timeout_s
        self._producer: KafkaProducer | None = None

    def _connected(self) -> KafkaProducer:
        # Built on first use, like the answer functions' producer: a broker that is down must not stop
        # the container from applying scores.
        if self._producer is None:
            # Imported on first use, not at module level: the functions that import this module (joins,
            # leaderboard reads) mostly never tick, and kafka-python costs a cold start ~0.1-0.2 s.
            from kafka import KafkaProducer

            ms = int(self._timeout * 1000)
            self._producer = KafkaProducer(
                bootstrap_servers=self._bootstrap.split(","),
                acks=1,  # a lost tick costs one late frame, never a score: the next batch sends another
                linger_ms=0,
                request_timeout_ms=ms,
                max_block_ms=ms,
                bootstrap_timeout_ms=ms,
                client_id="quiz-leaderboard-ticker",
                # A warm container finds a restarted broker within a second, not after kafka-python's
                # default back-off of up to 30 s (answers would wait in the outbox all that time).
                reconnect_backoff_max_ms=1000,
                security_protocol=self._security_protocol,
                metrics_enabled=False,  # kafka-python's client sensors: read by nobody
            )
        return self._producer

    def tick(self, quiz_ids: list[str]) -> None:
        from kafka.errors import KafkaError  # see _connected

        try:
            producer = self._connected()
            futures = [
                producer.send(self._topic, key=q.encode(), value=json.dumps({"type": "board_tick", "quiz_id": q}).encode())
                for q in quiz_ids
            ]
            # Waited for: Lambda freezes the process when the handler returns, and an unsent tick would
            # leave the board frame owed until the next batch of this quiz.
            for future in futures:
                future.get(timeout=self._timeout)
        except KafkaError as exc:
            log.warning(
                "board tick for %d quiz(zes) not sent (%s): their next batch or question close pushes the board", len(quiz_ids), exc
            )
