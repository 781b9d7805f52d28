"""The poller of a Kafka mapping: one consumer in the mapping's group, the partitions it owns, and the
batches it gathers from them.

Offsets are committed (last offset + 1 per partition) only for partitions this consumer still owns: every
assignment gives a partition a new ownership epoch, and a batch remembers the epochs its records were read
under, so records of a partition reassigned meanwhile are left to the new owner.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import InvalidSessionTimeoutError, KafkaError
from kafka.structs import OffsetAndMetadata

from local.emulator.events import KafkaRecord
from local.emulator.kafka.batch import Batch, envelope_size, record_size
from local.emulator.kafka.config import MappingConfig
from local.emulator.kafka.metrics import MappingMetrics

log = logging.getLogger("local.emulator.kafka_esm")

# How soon a dead node's partitions move to a surviving node. The mechanism is Kafka's own group membership
# (consumer session timeouts), not an owner elected through ZooKeeper: the group coordinator already elects
# one owner per partition and fences a deposed one (a commit from an old generation is refused), whereas a
# ZooKeeper-elected owner consuming with assign() would need fencing of its own and would notice a death no
# sooner (a ZooKeeper session lasts at least two ticks, 4 s, and the emulator's is 10 s by default).
# kafka-python 3 defaults to Java's 45 s session (KIP-735): that is what kept a killed node's partitions idle
# for 45-60 s. The broker expels a silent member after its session, and the survivor hears of the rebalance
# at its next heartbeat, so fail-over takes about session + heartbeat. Sessions are tried shortest first and
# the first the broker accepts is kept: 3 s needs the broker's group.min.session.timeout.ms lowered (its
# default, 6 s, refuses it with INVALID_SESSION_TIMEOUT at the first join, which costs a few milliseconds).
# A heartbeat every second is at most a third of either session, as Kafka advises. A node that stops
# normally leaves the group at once instead (close() sends LeaveGroup). max_poll_interval_ms (the rebalance
# timeout) keeps kafka-python's 300 s: it must outlast the longest invocation, and while a handler runs the
# heartbeat thread keeps the session alive.
SESSION_TIMEOUTS_MS = (3000, 6000)
HEARTBEAT_INTERVAL_MS = 1000
RECONNECT_BACKOFF_MAX_MS = 1000  # the longest pause between reconnects to a broker that went away
BROKER_LOST_RETRY_MAX_S = 2.0  # the longest pause between new consumers while a broker that was there is gone


class Ownership(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python is untyped
    """Tracks which partitions this consumer owns. Called on kafka-python's IO thread, so it only
    touches lock-protected sets; the consumer itself is used on the mapping's thread alone."""

    def __init__(self, metrics: MappingMetrics) -> None:
        self._lock = threading.Lock()
        self._owned: set[TopicPartition] = set()
        self._epochs: dict[TopicPartition, int] = {}
        self._newly_assigned: set[TopicPartition] = set()
        self._joining_since: float | None = None
        self._metrics = metrics

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        with self._lock:
            for tp in revoked:
                self._owned.discard(tp)
                self._epochs[tp] = self._epochs.get(tp, 0) + 1
            if self._joining_since is None:
                self._joining_since = time.monotonic()
            self._metrics.rebalances += 1
            self._metrics.assigned_partitions = len(self._owned)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        with self._lock:
            for tp in assigned:
                if tp not in self._owned:
                    self._owned.add(tp)
                    self._epochs[tp] = self._epochs.get(tp, 0) + 1
                    self._newly_assigned.add(tp)
            self._joining_since = None
            self._metrics.assigned_partitions = len(self._owned)

    def forget(self) -> None:
        """The consumer is being replaced: nothing is owned any more."""
        with self._lock:
            for tp in self._owned:
                self._epochs[tp] = self._epochs.get(tp, 0) + 1
            self._owned.clear()
            self._newly_assigned.clear()
            self._joining_since = None
            self._metrics.assigned_partitions = 0

    def joining_for(self) -> float:
        """Seconds since a rebalance began without an assignment arriving (0 when not rebalancing)."""
        with self._lock:
            return 0.0 if self._joining_since is None else time.monotonic() - self._joining_since

    def epoch(self, tp: TopicPartition) -> int | None:
        """The ownership epoch of a partition, or None when this consumer does not own it."""
        with self._lock:
            return self._epochs.get(tp) if tp in self._owned else None

    def owned(self) -> set[TopicPartition]:
        with self._lock:
            return set(self._owned)

    def take_newly_assigned(self) -> set[TopicPartition]:
        with self._lock:
            taken, self._newly_assigned = self._newly_assigned, set()
            return taken


class Poller:
    """The mapping's consumer, used on the mapping's thread alone: connect, gather batches, rewind,
    commit. ``stopping`` is the mapping's stop signal; a poller that cannot reconnect sets it."""

    def __init__(
        self,
        *,
        config: MappingConfig,
        bootstrap_servers: str,
        consumer_config: Mapping[str, Any] | None,
        metrics: MappingMetrics,
        stopping: threading.Event,
        poll_interval_s: float,
        max_payload_bytes: int,
        join_timeout_s: float,
        retry_backoff_s: float,
        retry_backoff_max_s: float,
    ) -> None:
        self.config = config
        self.function_name = config.function_name
        self._bootstrap_servers = bootstrap_servers
        self._consumer_config = dict(consumer_config or {})
        # Sessions still to try, the one in use first (see SESSION_TIMEOUTS_MS).
        given = self._consumer_config.pop("session_timeout_ms", None)
        self._sessions_ms: list[int] = [int(given)] if given is not None else list(SESSION_TIMEOUTS_MS)
        self._metrics = metrics
        self.ownership = Ownership(metrics)
        self._stopping = stopping
        self.ready = threading.Event()
        self.poll_interval_s = poll_interval_s
        self._max_payload_bytes = max_payload_bytes
        self._join_timeout_s = join_timeout_s
        self._retry_backoff_s = retry_backoff_s
        self._retry_backoff_max_s = retry_backoff_max_s
        self._consumer: Any = None
        self._envelope_size = envelope_size(config)

    @property
    def session_timeout_ms(self) -> int:
        """The consumer session in use: how long the group waits for this consumer after it falls silent."""
        return self._sessions_ms[0]

    def connect(self, *, max_delay_s: float | None = None) -> bool:
        """Build the consumer and subscribe, retrying with a doubling delay (capped at `max_delay_s`, by
        default the mapping's `retry_backoff_max_s`) while Kafka cannot be reached; False once stopping."""
        delay = self._retry_backoff_s
        cap = self._retry_backoff_max_s if max_delay_s is None else max_delay_s
        while not self._stopping.is_set():
            try:
                self._consumer = KafkaConsumer(
                    bootstrap_servers=self._bootstrap_servers,
                    group_id=self.config.consumer_group_id,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest" if self.config.starting_position == "TRIM_HORIZON" else "latest",
                    allow_auto_create_topics=False,
                    **{
                        "client_id": f"lambda-esm-{self.function_name}",
                        "session_timeout_ms": self._sessions_ms[0],
                        "heartbeat_interval_ms": min(HEARTBEAT_INTERVAL_MS, self._sessions_ms[0] // 3),
                        # A broker that restarts is found again within a second (kafka-python backs off
                        # up to 30 s by default, which alone kept boards frozen that long after Kafka returned).
                        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
                        # kafka-python's client sensors, updated per fetch and record, are read by nobody: the
                        # mapping reports its own figures on /metrics.
                        "metrics_enabled": False,
                        **self._consumer_config,
                    },
                )
                self._consumer.subscribe(list(self.config.topics), listener=self.ownership)
                # Load the subscribed topics' metadata before the first poll joins the group. Otherwise the
                # leader assigns from a stale (empty) snapshot, rejoins as soon as metadata arrives, and
                # kafka-python 3.0 sometimes never completes that second join (seen under load).
                missing = [t for t in self.config.topics if not self._consumer.partitions_for_topic(t)]
                if missing:
                    log.warning("%s: topic(s) %s do not exist (yet); the mapping waits for them", self.function_name, ", ".join(missing))
                return True
            except KafkaError as exc:
                log.warning("%s: cannot reach Kafka at %s (%s); retrying in %.1fs", self.function_name, self._bootstrap_servers, exc, delay)
                if self._stopping.wait(delay):
                    return False
                delay = min(delay * 2, cap)
        return False

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            except Exception:
                log.exception("%s: closing the consumer failed", self.function_name)

    def _poll(self, timeout_s: float, max_records: int) -> dict[TopicPartition, list[Any]]:
        if self.ownership.joining_for() > self._join_timeout_s:
            self._replace_consumer()
            return {}
        try:
            polled: dict[TopicPartition, list[Any]] = self._consumer.poll(timeout_ms=max(0, int(timeout_s * 1000)), max_records=max_records)
        except InvalidSessionTimeoutError:
            if len(self._sessions_ms) < 2:
                raise
            refused = self._sessions_ms.pop(0)
            log.info(
                "%s: the broker refuses a %d ms consumer session (group.min.session.timeout.ms); using %d ms",
                self.function_name,
                refused,
                self._sessions_ms[0],
            )
            self._replace_consumer(why=None)
            return {}
        except KafkaError as exc:
            # The broker went away under the consumer (killed, restarting, unreachable) and kafka-python let
            # the error out of poll: an AWS mapping keeps polling a broker that is down, and so does this
            # one, with a new consumer that connects again as soon as the broker is back (it used to end
            # the mapping for good: no score reached a board until the emulator restarted).
            log.warning("%s: polling Kafka failed (%s: %s); reconnecting with a new consumer", self.function_name, type(exc).__name__, exc)
            self._metrics.consumer_restarts += 1
            self._replace_consumer(why=None, max_delay_s=BROKER_LOST_RETRY_MAX_S)
            return {}
        self._metrics.polls += 1
        fresh = self.ownership.take_newly_assigned()
        if fresh:
            self._position_new_partitions(fresh, polled)
        if not self.ready.is_set() and self.ownership.owned():
            # Resolving positions now means "assigned" also means "reads from a known offset":
            # a record produced after this is seen even with StartingPosition LATEST.
            for tp in self.ownership.owned():
                self._consumer.position(tp)
            self.ready.set()
        self._update_lag()
        return polled

    def _replace_consumer(self, why: str | None = "stuck", *, max_delay_s: float | None = None) -> None:
        """A join that never completes (kafka-python 3.0 can wedge when a rejoin overlaps a sync) would
        silently stop the mapping; leave the group and join again with a new consumer instead. Whatever
        was in flight is uncommitted and is read again. Also used, with `why` None, to join again with a
        longer session after the broker refused a short one, and after the broker went away under a poll."""
        if why is not None:
            log.warning(
                "%s: no partition assignment %.0fs into a rebalance; rejoining with a new consumer",
                self.function_name,
                self.ownership.joining_for(),
            )
            self._metrics.consumer_restarts += 1
        self.ownership.forget()
        with contextlib.suppress(Exception):
            self._consumer.close(autocommit=False)
        self._consumer = None
        if not self.connect(max_delay_s=max_delay_s):
            self._stopping.set()

    def _position_new_partitions(self, fresh: set[TopicPartition], polled: dict[TopicPartition, list[Any]]) -> None:
        if self.config.starting_position != "AT_TIMESTAMP":
            return  # TRIM_HORIZON / LATEST are the consumer's auto_offset_reset, used only without a committed offset
        for tp in fresh:
            if self._consumer.committed(tp) is not None:
                continue
            found = self._consumer.offsets_for_times({tp: self.config.starting_position_timestamp_ms})
            at = found.get(tp)
            offset = at.offset if at is not None else self._consumer.end_offsets([tp])[tp]
            self._consumer.seek(tp, offset)
            polled.pop(tp, None)  # fetched from the reset position, not from the timestamp

    def _update_lag(self) -> None:
        lag = 0
        try:
            for tp in self._consumer.assignment():
                high = self._consumer.highwater(tp)
                if high is not None:
                    lag += max(0, high - self._consumer.position(tp, timeout_ms=100))
        except (KafkaError, ValueError):
            return
        self._metrics.last_lag = lag

    def collect_batch(self) -> Batch | None:
        """Gather up to BatchSize records within the batching window and the payload limit."""
        batch = Batch()
        deadline: float | None = None
        while not self._stopping.is_set():
            wait = self.poll_interval_s if deadline is None else min(self.poll_interval_s, max(0.0, deadline - time.monotonic()))
            polled = self._poll(wait, self.config.batch_size - batch.count)
            full = self._add(batch, polled)
            if batch.oversized is not None:
                return batch
            if batch.count and deadline is None:
                deadline = time.monotonic() + self.config.batching_window_s
            if full or batch.count >= self.config.batch_size:
                return batch
            if deadline is not None and time.monotonic() >= deadline:
                return batch
        return None

    def _add(self, batch: Batch, polled: dict[TopicPartition, list[Any]]) -> bool:
        """Add polled records; True when the payload limit closed the batch. Records left out are
        sought back so the next poll returns them first."""
        full = False
        for tp, consumed in polled.items():
            if not consumed:
                continue
            if full:
                self._consumer.seek(tp, consumed[0].offset)
                continue
            epoch = self.ownership.epoch(tp)
            if epoch is None:
                continue  # revoked while polling: the new owner reads these
            if batch.epochs.get(tp, epoch) != epoch:
                # Reassigned since these were gathered: the earlier ones may be another owner's by now.
                batch.size -= sum(record_size(r) for r in batch.records.pop(tp, []))
            batch.epochs[tp] = epoch
            for i, raw in enumerate(consumed):
                record = KafkaRecord.from_consumer_record(raw)
                size = record_size(record)
                if batch.count == 0 and self._envelope_size + size > self._max_payload_bytes:
                    batch.oversized = record
                    batch.records = {tp: [record]}
                    self._seek_rest(tp, consumed, i + 1, polled)
                    return True
                if self._envelope_size + batch.size + size > self._max_payload_bytes:
                    self._consumer.seek(tp, raw.offset)
                    full = True
                    break
                batch.records.setdefault(tp, []).append(record)
                batch.size += size
        return full

    def _seek_rest(self, tp: TopicPartition, consumed: list[Any], start: int, polled: dict[TopicPartition, list[Any]]) -> None:
        if start < len(consumed):
            self._consumer.seek(tp, consumed[start].offset)
        seen = False
        for other, recs in polled.items():
            if other == tp:
                seen = True
            elif seen and recs:
                self._consumer.seek(other, recs[0].offset)

    def drop_revoked(self, batch: Batch) -> None:
        for tp in list(batch.records):
            if self.ownership.epoch(tp) != batch.epochs.get(tp):
                dropped = batch.records.pop(tp)
                batch.size -= sum(record_size(r) for r in dropped)
                log.info("%s: %s was reassigned; leaving %d record(s) to its new owner", self.function_name, tp, len(dropped))

    def _owned_in(self, batch: Batch) -> list[TopicPartition]:
        return [tp for tp in batch.records if self.ownership.epoch(tp) == batch.epochs.get(tp)]

    def rewind(self, batch: Batch) -> None:
        for tp in self._owned_in(batch):
            with contextlib.suppress(ValueError):  # revoked between the check and the seek
                self._consumer.seek(tp, batch.records[tp][0].offset)

    def idle(self, seconds: float) -> bool:
        """Wait out a retry delay while staying in the group (polling with every partition paused).
        False when stop() was called."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            owned = self._consumer.assignment()
            if owned:
                self._consumer.pause(*owned)
            polled = self._poll(min(left, self.poll_interval_s), 1)
            for tp, recs in polled.items():
                if recs:  # a partition assigned during the wait: read it later, from here
                    self._consumer.seek(tp, recs[0].offset)
        return False

    def resume(self) -> None:
        paused = self._consumer.paused()
        if paused:
            self._consumer.resume(*paused)

    def commit(self, batch: Batch, *, reposition: bool) -> None:
        """Commit last offset + 1 for each partition of the batch this consumer still owns."""
        offsets = {}
        for tp in self._owned_in(batch):
            last = batch.records[tp][-1]
            offsets[tp] = OffsetAndMetadata(last.offset + 1, "", last.leader_epoch)
        skipped = len(batch.records) - len(offsets)
        if skipped:
            log.info("%s: not committing %d partition(s) reassigned during the invocation", self.function_name, skipped)
        if not offsets:
            return
        try:
            self._consumer.commit(offsets)
            self._metrics.commits += 1
        except KafkaError as exc:
            # Usually a rebalance: the group's new generation reads from the last committed offsets.
            self._metrics.commit_errors += 1
            log.warning("%s: committing %s failed (%s); those records will be delivered again", self.function_name, offsets, exc)
            return
        if reposition:
            for tp, meta in offsets.items():
                with contextlib.suppress(ValueError):
                    self._consumer.seek(tp, meta.offset)
