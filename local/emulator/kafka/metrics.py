"""The counters of one Kafka mapping, shared by its poller and invoker."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MappingMetrics:
    """Counters for observability; read with ``KafkaEventSourceMapping.metrics()``."""

    state: str = "created"  # created, connecting, running, retrying, stopped, failed
    polls: int = 0
    batches_invoked: int = 0  # invocations, retries included
    batches_succeeded: int = 0
    records_processed: int = 0  # records of successful batches
    invoke_errors: int = 0
    retries: int = 0
    batches_to_destination: int = 0
    records_to_destination: int = 0
    records_discarded: int = 0  # exhausted with no destination
    destination_errors: int = 0
    commits: int = 0
    commit_errors: int = 0
    batches_abandoned: int = 0  # stop() or a rebalance during a failing batch: left uncommitted
    rebalances: int = 0
    consumer_restarts: int = 0  # joins that never completed, or a broker lost under a poll: recovered with a new consumer
    assigned_partitions: int = 0
    last_batch_size: int = 0
    last_invoke_seconds: float = 0.0
    last_lag: int = 0  # records behind the high watermark over the assigned partitions

    def snapshot(self) -> dict[str, int | float | str]:
        return dict(self.__dict__)
