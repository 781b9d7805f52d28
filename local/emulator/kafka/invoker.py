"""The invoker of a Kafka mapping: one batch through the handler, then committed, retried or given up.

A failing batch is retried whole, with exponential backoff, ``MaximumRetryAttempts`` times (AWS: -1 =
forever, but 10 when an on-failure destination is set), then sent to the on-failure destination and
committed past so the mapping moves on. Without a destination, exhausted batches are discarded as AWS
does, with a WARNING naming the offsets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from kafka.errors import KafkaError

from local.emulator.events import KafkaRecord, group_kafka_records, kafka_event
from local.emulator.kafka.batch import Batch
from local.emulator.kafka.config import MappingConfig
from local.emulator.kafka.destination import (
    DestinationSink,
    FailureContext,
    FailureTopic,
    batch_failure_record,
    kafka_destination_messages,
)
from local.emulator.kafka.metrics import MappingMetrics
from local.emulator.kafka.poller import Poller

log = logging.getLogger("local.emulator.kafka_esm")

Invoke = Callable[[dict[str, Any]], object]


class BatchInvoker:
    """Runs the handler on the batches the poller gathers, on the mapping's thread."""

    def __init__(
        self,
        *,
        config: MappingConfig,
        poller: Poller,
        invoke: Invoke,
        metrics: MappingMetrics,
        stopping: threading.Event,
        retry_attempts: int,
        retry_backoff_s: float,
        retry_backoff_max_s: float,
        function_arn: str,
        sink: DestinationSink,
        failure_topic: FailureTopic,
    ) -> None:
        self.config = config
        self.function_name = config.function_name
        self._poller = poller
        self._invoke = invoke
        self._metrics = metrics
        self._stopping = stopping
        self._retry_attempts = retry_attempts
        self._retry_backoff_s = retry_backoff_s
        self._retry_backoff_max_s = retry_backoff_max_s
        self._function_arn = function_arn
        self._sink = sink
        self._failure_topic = failure_topic

    def process(self, batch: Batch) -> None:
        if batch.oversized is not None:
            self._poller.rewind(batch)  # so that, if the destination cannot take it, the record is read again
            failure = FailureContext("MaximumPayloadSizeExceeded", 0, self._function_arn)
            self._give_up(batch, failure)
            return
        attempts = 0
        rewound = False
        while True:
            self._poller.drop_revoked(batch)
            if not batch.records:
                self._poller.resume()
                return
            event = kafka_event(self.config, batch.all_records())
            attempts += 1
            self._metrics.batches_invoked += 1
            self._metrics.last_batch_size = batch.count
            started = time.monotonic()
            try:
                self._invoke(event)
            except Exception as exc:
                self._metrics.last_invoke_seconds = time.monotonic() - started
                self._metrics.invoke_errors += 1
                log.warning("%s: batch of %d record(s) failed (attempt %d): %r", self.function_name, batch.count, attempts, exc)
                error = repr(exc)
            else:
                self._metrics.last_invoke_seconds = time.monotonic() - started
                self._metrics.batches_succeeded += 1
                self._metrics.records_processed += batch.count
                self._poller.commit(batch, reposition=rewound)
                self._poller.resume()
                return
            # A failed batch is retried whole: rewind so that, whatever happens next (stop, rebalance,
            # a crash), these records are read again from their first offsets.
            self._poller.rewind(batch)
            rewound = True
            if self._stopping.is_set():
                self._abandon(batch, "stopping")
                return
            if 0 <= self._retry_attempts < attempts:
                self._give_up(batch, FailureContext("RetryAttemptsExhausted", attempts, self._function_arn, error))
                return
            self._metrics.retries += 1
            self._metrics.state = "retrying"
            delay = min(self._retry_backoff_s * 2 ** (attempts - 1), self._retry_backoff_max_s)
            if not self._poller.idle(delay):
                self._abandon(batch, "stopping")
                return
            self._metrics.state = "running"

    def _abandon(self, batch: Batch, why: str) -> None:
        self._metrics.batches_abandoned += 1
        log.info("%s: abandoning a failing batch of %d record(s) uncommitted (%s)", self.function_name, batch.count, why)

    def _give_up(self, batch: Batch, failure: FailureContext) -> None:
        """Send an exhausted (or oversized) batch to the on-failure destination, then move past it."""
        records = batch.all_records()
        destination = self.config.destination
        if destination is None:
            self._metrics.records_discarded += len(records)
            ranges = {key: f"{recs[0].offset}..{recs[-1].offset}" for key, recs in group_kafka_records(records).items()}
            log.warning(
                "%s: %s (%s); no on-failure destination, discarding offsets %s",
                self.function_name,
                failure.condition,
                failure.error,
                ranges,
            )
        elif destination.kind == "kafka":
            if not self._publish_failures(destination.target, records, failure):
                self._abandon(batch, "stopping before the on-failure destination accepted the batch")
                return
        else:
            try:
                self._sink(destination.target, batch_failure_record(self.config, records, failure))
            except Exception:
                self._metrics.destination_errors += 1
                log.exception("%s: the on-failure sink for %s failed; the batch stays uncommitted", self.function_name, destination.target)
                self._abandon(batch, "on-failure sink failed")
                self._stopping.wait(self._retry_backoff_max_s)
                return
        if destination is not None:
            self._metrics.batches_to_destination += 1
            self._metrics.records_to_destination += len(records)
        self._poller.commit(batch, reposition=True)
        self._poller.resume()
        self._metrics.state = "running"

    def _publish_failures(self, topic: str, records: Sequence[KafkaRecord], failure: FailureContext) -> bool:
        """Produce the failure messages, retrying until the broker acknowledges them or stop()."""
        messages = kafka_destination_messages(self.config, records, failure)
        delay = self._retry_backoff_s
        while not self._stopping.is_set():
            try:
                self._failure_topic.send(topic, messages)
                return True
            except KafkaError as exc:
                self._metrics.destination_errors += 1
                log.error("%s: publishing to on-failure topic %s failed (%s); retrying in %.1fs", self.function_name, topic, exc, delay)
                if not self._poller.idle(delay):
                    return False
                delay = min(delay * 2, self._retry_backoff_max_s)
        return False
