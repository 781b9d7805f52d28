"""The Kafka event source mapping of the local emulator, in AWS Lambda's words.

One ``KafkaEventSourceMapping`` per ``Type: MSK`` or ``Type: SelfManagedKafka`` event that template.yaml
declares. It joins the declared consumer group on the real broker, gathers batches the way Lambda's
poller does and invokes the handler with the ``aws:kafka`` (MSK) / ``SelfManagedKafka`` event:

* ``BatchSize`` (default 100) records at most, gathered for at most ``MaximumBatchingWindowInSeconds``
  (default 0.5 s for Kafka sources) and never more than the 6 MB synchronous-invocation payload;
  records grouped under ``"topic-partition"`` keys, each partition in offset order, key and value
  base64, headers as ``[{name: [byte, ...]}]``.
* ``StartingPosition`` (TRIM_HORIZON, LATEST, AT_TIMESTAMP with ``StartingPositionTimestamp``) only
  where the group has no committed offset.
* Offsets are committed (last offset + 1 per partition) only after ``invoke`` returned, and only for
  partitions this consumer still owns.
* A failing batch is retried whole, with exponential backoff, ``MaximumRetryAttempts`` times (AWS:
  -1 = forever, but 10 when an on-failure destination is set), then sent to
  ``DestinationConfig.OnFailure.Destination`` and committed past so the mapping moves on.

On-failure destinations: ``kafka://<topic>`` is produced to exactly as AWS documents it (one message per
failed record, the record's own key, the failure metadata plus the single-record event as
``payload``). An SQS/SNS/S3 ARN cannot be reached locally: the batch's invocation record (AWS's
``KafkaBatchInfo`` shape, with the whole event attached as S3 would get it) goes to the
``unsupported_destination_sink`` tuning hook, by default an ERROR log line, never silently dropped.
Without a destination, exhausted batches are discarded as AWS does, with a WARNING naming the offsets.

What is knowingly not emulated: ``BisectBatchOnFunctionError``, ``FunctionResponseTypes``
(ReportBatchItemFailures), ``MaximumRecordAgeInSeconds``, ``FilterCriteria``, ``SchemaRegistryConfig``,
``SourceAccessConfigurations`` (authentication), provisioned pollers and parallel pollers: one consumer
thread per mapping.

This module is the mapping itself: its thread, start/stop and public surface. The rest is split along its
seams in local/emulator/kafka/ (config, poller, invoker, destination, batch, metrics); the event builders
sit with the other AWS event shapes in local/emulator/events.py. The names below are re-exported so that
``from local.emulator.kafka_esm import ...`` keeps working.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from local.emulator.events import KafkaRecord
from local.emulator.events import kafka_event as build_event
from local.emulator.events import kafka_event_record as event_record
from local.emulator.kafka.batch import envelope_size, record_size
from local.emulator.kafka.config import (
    MAX_PAYLOAD_BYTES,
    Destination,
    EventType,
    MappingConfig,
    infer_event_type,
    parse_destination,
)
from local.emulator.kafka.destination import (
    DestinationSink,
    FailureContext,
    FailureTopic,
    batch_failure_record,
    kafka_destination_messages,
    log_unreachable_destination,
)
from local.emulator.kafka.invoker import BatchInvoker, Invoke
from local.emulator.kafka.metrics import MappingMetrics
from local.emulator.kafka.poller import SESSION_TIMEOUTS_MS, Poller

# What callers and tests import from this module, from before it was split into local/emulator/kafka/.
__all__ = [
    "MAX_PAYLOAD_BYTES",
    "SESSION_TIMEOUTS_MS",
    "Destination",
    "FailureContext",
    "KafkaEventSourceMapping",
    "KafkaRecord",
    "MappingConfig",
    "MappingMetrics",
    "batch_failure_record",
    "build_event",
    "envelope_size",
    "event_record",
    "infer_event_type",
    "kafka_destination_messages",
    "parse_destination",
    "record_size",
]

log = logging.getLogger(__name__)


class KafkaEventSourceMapping:
    """A Lambda event source mapping for one Kafka event of the template, on a real broker.

    ``invoke(event)`` runs the handler synchronously and raises when it fails or times out.

    Tuning (keyword arguments, all optional):
      ``event_type``            "MSK" or "SelfManagedKafka"; inferred from ``Stream`` / ``KafkaBootstrapServers``.
      ``retry_backoff_s``       first retry delay, doubled per attempt (default 1.0).
      ``retry_backoff_max_s``   cap of the retry delay (default 30.0).
      ``max_retry_attempts``    overrides MaximumRetryAttempts (e.g. to bound an infinite default locally).
      ``poll_interval_s``       longest single poll, so stop() is prompt (default 0.2).
      ``max_payload_bytes``     the invocation payload limit (default 6 MB).
      ``stop_timeout_s``        how long stop() waits for an in-flight invocation (default 30.0).
      ``join_timeout_s``        a rebalance with no assignment after this long gets a fresh consumer (default 60.0).
      ``unsupported_destination_sink``  called with (ARN, invocation record) for SQS/SNS/S3 destinations.
      ``region`` / ``account_id``  used in the function ARN of failure records (default us-east-1 / 000000000000).
      ``consumer_config``       extra KafkaConsumer settings over the defaults (``client_id``, the session and
                                heartbeat of SESSION_TIMEOUTS_MS / HEARTBEAT_INTERVAL_MS); e.g. a client_id naming
                                the node, so the group's description tells which node owns which partition. A
                                session_timeout_ms given here is used as is, with no fallback.
    """

    def __init__(
        self,
        *,
        function_name: str,
        properties: dict[str, Any],
        invoke: Invoke,
        bootstrap_servers: str,
        event_type: EventType | None = None,
        retry_backoff_s: float = 1.0,
        retry_backoff_max_s: float = 30.0,
        max_retry_attempts: int | None = None,
        poll_interval_s: float = 0.2,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        stop_timeout_s: float = 30.0,
        join_timeout_s: float = 60.0,
        unsupported_destination_sink: DestinationSink = log_unreachable_destination,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = MappingConfig.from_properties(
            function_name=function_name, properties=properties, event_type=event_type, bootstrap_servers=bootstrap_servers
        )
        retry_attempts = self.config.effective_retry_attempts if max_retry_attempts is None else max_retry_attempts
        self._stop_timeout_s = stop_timeout_s
        self._metrics = MappingMetrics()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._poller = Poller(
            config=self.config,
            bootstrap_servers=bootstrap_servers,
            consumer_config=consumer_config,
            metrics=self._metrics,
            stopping=self._stopping,
            poll_interval_s=poll_interval_s,
            max_payload_bytes=max_payload_bytes,
            join_timeout_s=join_timeout_s,
            retry_backoff_s=retry_backoff_s,
            retry_backoff_max_s=retry_backoff_max_s,
        )
        # Tests simulate kafka-python's callbacks through it (a revocation with no assignment after it).
        self._ownership = self._poller.ownership
        self._failure_topic = FailureTopic(bootstrap_servers=bootstrap_servers, client_id=f"lambda-esm-{function_name}-failures")
        self._invoker = BatchInvoker(
            config=self.config,
            poller=self._poller,
            invoke=invoke,
            metrics=self._metrics,
            stopping=self._stopping,
            retry_attempts=retry_attempts,
            retry_backoff_s=retry_backoff_s,
            retry_backoff_max_s=retry_backoff_max_s,
            function_arn=f"arn:aws:lambda:{region}:{account_id}:function:{function_name}",
            sink=unsupported_destination_sink,
            failure_topic=self._failure_topic,
        )

    # ---- public surface -------------------------------------------------------------------------

    @property
    def function_name(self) -> str:
        return self.config.function_name

    @property
    def consumer_group_id(self) -> str:
        return self.config.consumer_group_id

    def start(self) -> None:
        """Start polling on a background thread and return at once (no-op when ``Enabled: false``)."""
        if self._thread is not None:
            return
        if not self.config.enabled:
            log.info("%s: Kafka mapping on %s is disabled in the template", self.function_name, ",".join(self.config.topics))
            self._metrics.state = "stopped"
            return
        self._thread = threading.Thread(target=self._run, name=f"kafka-esm-{self.function_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop gracefully: an in-flight invocation may finish (a success is committed), a failing batch
        is abandoned uncommitted (its records come again, at least once), then the consumer closes."""
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._stop_timeout_s)
            if thread.is_alive():
                log.warning(
                    "%s: the handler is still running after %.0fs; the consumer closes when it returns",
                    self.function_name,
                    self._stop_timeout_s,
                )

    def wait_until_assigned(self, timeout: float) -> bool:
        """True once the consumer owns partitions and knows where it reads from in each."""
        return self._poller.ready.wait(timeout)

    def metrics(self) -> dict[str, int | float | str]:
        return self._metrics.snapshot()

    @property
    def session_timeout_ms(self) -> int:
        """The consumer session in use: how long the group waits for this consumer after it falls silent."""
        return self._poller.session_timeout_ms

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- the mapping's thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._metrics.state = "connecting"
            if not self._poller.connect():
                return
            self._metrics.state = "running"
            while not self._stopping.is_set():
                batch = self._poller.collect_batch()
                if batch is not None and not self._stopping.is_set():
                    self._invoker.process(batch)
        except Exception:
            log.exception("%s: the Kafka event source mapping failed", self.function_name)
            self._metrics.state = "failed"
        finally:
            self._close()
            if self._metrics.state != "failed":
                self._metrics.state = "stopped"

    def _close(self) -> None:
        self._poller.close()
        try:
            self._failure_topic.close()
        except Exception:
            log.exception("%s: closing the on-failure producer failed", self.function_name)
