"""Kafka adapter of the score publisher: outbox rows become records keyed by quiz id."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode

from quiz.quizzes.outbox import OutboxEvent

if TYPE_CHECKING:
    from kafka import KafkaProducer

log = logging.getLogger("quiz.kafka")


class KafkaScorePublisher:
    """Publishes score events (key = quiz id, so one quiz's events stay in order on one partition).

    A publish follows a committed change and holds its reply, so it is short and it fails fast: the
    broker has ``timeout_s`` (a few hundred milliseconds) to acknowledge (``connect_timeout_s`` to be
    found, when the producer has no connection or the topic's metadata yet), and after a publish that did
    not get every acknowledgement the publisher skips publishing for ``open_for_s`` (a circuit breaker,
    one per container): with the broker down, one request per pause waits (at most
    ``connect_timeout_s``) and the others not at all. What is
    not acknowledged stays in the outbox, for the next successful publish's drain or the relay."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        producer: KafkaProducer | None = None,
        timeout_s: float = 0.5,
        connect_timeout_s: float = 1.0,
        open_for_s: float = 2.0,
        security_protocol: str = "PLAINTEXT",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._security_protocol = security_protocol
        self._producer = producer
        self._timeout = timeout_s
        self._connect_timeout = connect_timeout_s
        self._open_for = open_for_s
        self._clock = clock
        self._open_until = 0.0
        self.failed = 0  # publishes that did not get every acknowledgement (each opened the breaker)
        self.skipped = 0  # publishes skipped while the breaker was open

    @property
    def is_open(self) -> bool:
        """True while publishes are skipped after a failure."""
        return self._clock() < self._open_until

    def _connected(self) -> KafkaProducer:
        """The producer, built on first publish: a broker that is down must not stop a container from
        serving requests (the answer is committed; the outbox relay publishes it later)."""
        if self._producer is None:
            # Imported here, not at module level: kafka-python costs a cold start ~0.1-0.2 s, and most
            # invocations of the functions that import this module (joins, leaderboard reads) never publish.
            from kafka import KafkaProducer

            ms = int(self._timeout * 1000)
            # Bootstrapping and a topic's first metadata take a few round trips more than an acknowledgement;
            # with the broker down, one publish per breaker pause pays this, the others nothing.
            connect_ms = int(max(self._timeout, self._connect_timeout) * 1000)
            self._producer = KafkaProducer(
                bootstrap_servers=self._bootstrap.split(","),
                acks="all",
                # No waiting for more records to batch: each container sends one answer's record at a
                # time and waits for its acknowledgement; records of concurrent callers still share a
                # request while one is in flight.
                linger_ms=0,
                retries=3,
                # The producer's own request timeout stays generous (a record it keeps retrying after we
                # stopped waiting is a harmless duplicate); what a caller waits is bounded below.
                request_timeout_ms=max(ms, 5000),
                max_block_ms=connect_ms,
                bootstrap_timeout_ms=connect_ms,
                client_id="quiz-answers",
                # A warm container finds a restarted broker within a second, not after kafka-python's
                # default back-off of up to 30 s (answers would wait in the outbox all that time).
                reconnect_backoff_max_ms=1000,
                security_protocol=self._security_protocol,
                # kafka-python's own client metrics (sensors updated on every send and response) are read by
                # nobody here and cost the answer path a few percent of its CPU.
                metrics_enabled=False,
            )
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()

    def _trip(self, why: str) -> None:
        self.failed += 1
        self._open_until = self._clock() + self._open_for
        log.warning("publish failed (%s): publishing paused for %.1f s; the outbox keeps the events", why, self._open_for)

    def publish(self, events: list[OutboxEvent]) -> list[int]:
        """Send the events and wait, up to the timeout, for the broker to acknowledge these records
        (acks=all); returns the outbox ids it acknowledged (none while the breaker is open). Only this
        call's records are waited for, not a flush of everything other threads have in flight."""
        if not events:
            return []
        if self.is_open:
            self.skipped += 1
            return []
        from kafka.errors import KafkaError  # see _connected: loaded by the first publish, not at init

        try:
            producer = self._connected()
        except KafkaError as exc:  # no broker to bootstrap from
            self._trip(f"{type(exc).__name__}: {exc}")  # text: a log record must not keep the exception's sockets alive
            return []
        sent = []
        tracer = trace.get_tracer("quiz")
        for e in events:
            # The producer span continues the trace the outbox row captured (the answer's), and the record
            # carries the producer span's own context, which the leaderboard batch links to.
            answered_in = propagate.extract(e.headers)
            publishing: Span = INVALID_SPAN  # a row written outside any trace: its record carries none either
            if trace.get_current_span(answered_in).get_span_context().is_valid:
                attributes = {
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": e.topic,
                    "messaging.kafka.message.key": e.key,
                    "messaging.message.id": e.event_id,
                }
                publishing = tracer.start_span(f"{e.topic} publish", context=answered_in, kind=SpanKind.PRODUCER, attributes=attributes)
            headers = {k: v for k, v in e.headers.items() if k not in ("traceparent", "tracestate")}
            if publishing is not INVALID_SPAN:
                propagate.inject(headers, context=trace.set_span_in_context(publishing))
            try:
                future = producer.send(
                    e.topic,
                    key=e.key.encode(),
                    value=json.dumps(e.payload, separators=(",", ":")).encode(),
                    headers=[(k, v.encode()) for k, v in headers.items()] + [("event_id", e.event_id.encode())],
                )
            except KafkaError as exc:
                # The broker or the topic is unreachable: the rest would wait as long; the relay retries them.
                log.warning("publish of %s not accepted: %s; the outbox relay will retry", e.event_id, f"{type(exc).__name__}: {exc}")
                publishing.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                publishing.end()
                break
            sent.append((e.id, future, publishing))
        deadline = self._clock() + self._timeout
        acked = []
        for outbox_id, future, publishing in sent:
            try:
                future.get(timeout=max(0.0, deadline - self._clock()))
                acked.append(outbox_id)
            except KafkaError as exc:  # includes the timeout: unacknowledged events stay in the outbox
                log.warning("publish of outbox row %s failed: %s; the outbox relay will retry", outbox_id, f"{type(exc).__name__}: {exc}")
                publishing.set_status(Status(StatusCode.ERROR, f"not acknowledged: {type(exc).__name__}"))
            finally:
                publishing.end()
        if len(acked) < len(events):
            self._trip(f"{len(events) - len(acked)} of {len(events)} record(s) not acknowledged within {self._timeout:.2f} s")
        return acked
