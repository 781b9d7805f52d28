"""The Kafka event source mapping against the real broker started by local/services.py.

Every test owns its topics and consumer groups (unique names) and deletes them afterwards, so it can
run beside other engineers' tests on the same broker."""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaConnectionError, KafkaError

from local.emulator.kafka_esm import SESSION_TIMEOUTS_MS, KafkaEventSourceMapping
from local.stack import REPO, load_stack
from tests.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WAIT = 30.0  # seconds any single expectation may take before the test fails
CLUSTER_ARN = "arn:aws:kafka:us-east-1:000000000000:cluster/quiz-local/00000000-0000-0000-0000-000000000000-1"


def polled_again(esm: KafkaEventSourceMapping, polls: int = 10) -> None:
    """Before asserting that nothing more arrived: the mapping has polled `polls` more times, so whatever
    it would still deliver has had its chance (a count of polls, not a guessed duration)."""
    seen = int(esm.metrics()["polls"])
    eventually(lambda: int(esm.metrics()["polls"]) >= seen + polls, WAIT, f"{polls} more polls of the mapping")


class Handler:
    """A Lambda handler stand-in: records every event it is invoked with and fails as told."""

    def __init__(self, fail: Callable[[int, dict[str, Any]], bool] = lambda n, e: False) -> None:
        self.events: list[dict[str, Any]] = []
        self.outcomes: list[str] = []
        self._fail = fail
        self._lock = threading.Lock()
        self.before: Callable[[dict[str, Any]], None] | None = None

    def __call__(self, event: dict[str, Any]) -> object:
        with self._lock:
            n = len(self.events)
            self.events.append(json.loads(json.dumps(event)))  # what crosses the wire to a Lambda
        if self.before is not None:
            self.before(event)
        if self._fail(n, event):
            with self._lock:
                self.outcomes.append("error")
            raise RuntimeError(f"handler failure #{n}")
        with self._lock:
            self.outcomes.append("ok")
        return {"ok": True}

    def records(self, *, only_ok: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            pairs = list(zip(self.events, self.outcomes, strict=False))
        return [r for e, o in pairs if o == "ok" or not only_ok for recs in e["records"].values() for r in recs]

    def values(self, *, only_ok: bool = True) -> list[bytes]:
        return [base64.b64decode(r["value"]) for r in self.records(only_ok=only_ok)]


class Broker:
    """Topics, groups, a producer and offset checks for one test; cleans up what it created."""

    def __init__(self, bootstrap: str, suffix: str) -> None:
        self.bootstrap = bootstrap
        self.suffix = suffix
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=f"esm-test-{suffix}")
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
        self.topics: list[str] = []
        self.groups: list[str] = []
        self.mappings: list[KafkaEventSourceMapping] = []

    def topic(self, name: str, partitions: int = 1) -> str:
        topic = f"esm-test.{name}.{self.suffix}"
        self.admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1}}, wait_for_metadata=True)
        self.topics.append(topic)
        return topic

    def group(self, name: str) -> str:
        group = f"esm-test.{name}.{self.suffix}"
        self.groups.append(group)
        return group

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        self.producer.send(topic, value=value, key=key, partition=partition, headers=headers).get(timeout=10)

    def committed(self, group: str, topic: str) -> dict[int, int]:
        """The group's committed offsets for the topic, as a separate client sees them."""
        offsets = self.admin.list_group_offsets({group: None}).get(group, {})
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}

    def read_all(self, topic: str, expected: int) -> list[Any]:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False)
        try:
            partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            got: list[Any] = []
            deadline = time.monotonic() + WAIT
            while len(got) < expected and time.monotonic() < deadline:
                for recs in consumer.poll(timeout_ms=200).values():
                    got.extend(recs)
            return got
        finally:
            consumer.close()

    def mapping(self, handler: Handler, properties: dict[str, Any], **tuning: Any) -> KafkaEventSourceMapping:
        tuning = {"retry_backoff_s": 0.05, "retry_backoff_max_s": 0.2, "poll_interval_s": 0.05, "stop_timeout_s": 10.0, **tuning}
        esm = KafkaEventSourceMapping(
            function_name=f"fn-{self.suffix}", properties=properties, invoke=handler, bootstrap_servers=self.bootstrap, **tuning
        )
        self.mappings.append(esm)
        return esm

    def started(self, esm: KafkaEventSourceMapping) -> KafkaEventSourceMapping:
        esm.start()
        assert esm.wait_until_assigned(WAIT), f"mapping never got partitions: {esm.metrics()}"
        return esm

    def close(self) -> None:
        for esm in self.mappings:
            esm.stop()
        self.producer.close()
        try:
            if self.groups:
                self.admin.delete_groups(self.groups)
        except KafkaError:
            pass  # a group that never committed does not exist
        try:
            if self.topics:
                self.admin.delete_topics(self.topics)
        finally:
            self.admin.close()


@pytest.fixture(scope="module")
def bootstrap() -> str:
    kafka = load_stack().kafka
    try:
        socket.create_connection((kafka.host, kafka.port), timeout=1).close()
    except OSError:
        pytest.fail(f"Kafka is not answering on {kafka.bootstrap}: start it with `.venv/bin/python -m local.services up`")
    return kafka.bootstrap


@pytest.fixture
def broker(bootstrap: str) -> Iterator[Broker]:
    b = Broker(bootstrap, uuid.uuid4().hex[:10])
    try:
        yield b
    finally:
        b.close()


def msk(topic: str, group: str, **extra: Any) -> dict[str, Any]:
    return {"Stream": CLUSTER_ARN, "Topics": [topic], "ConsumerGroupId": group, "StartingPosition": "TRIM_HORIZON", **extra}


# ---- batching -----------------------------------------------------------------------------------


def test_batches_hold_at_most_batch_size_records_in_order(broker: Broker) -> None:
    topic, group = broker.topic("size"), broker.group("size")
    for i in range(25):
        broker.produce(topic, f"r{i}".encode())
    handler = Handler()
    esm = broker.started(broker.mapping(handler, msk(topic, group, BatchSize=10, MaximumBatchingWindowInSeconds=1)))
    eventually(lambda: len(handler.records()) == 25, WAIT, "25 records")
    assert [len(e["records"][f"{topic}-0"]) for e in handler.events] == [10, 10, 5]
    assert handler.values() == [f"r{i}".encode() for i in range(25)]
    eventually(lambda: broker.committed(group, topic) == {0: 25}, WAIT, "the commit of offset 25")
    metrics = esm.metrics()
    assert metrics["batches_succeeded"] == 3 and metrics["records_processed"] == 25 and metrics["invoke_errors"] == 0


def test_records_produced_slowly_inside_the_window_arrive_in_one_batch(broker: Broker) -> None:
    topic, group = broker.topic("window"), broker.group("window")
    handler = Handler()
    esm = broker.started(broker.mapping(handler, msk(topic, group, StartingPosition="LATEST", MaximumBatchingWindowInSeconds=3)))
    for i in range(3):
        broker.produce(topic, f"slow{i}".encode())
        time.sleep(0.4)
    eventually(lambda: len(handler.events) >= 1, WAIT, "an invocation")
    polled_again(esm)
    assert len(handler.events) == 1, [list(e["records"]) for e in handler.events]
    [event] = handler.events
    assert event["eventSource"] == "aws:kafka" and event["eventSourceArn"] == CLUSTER_ARN
    assert event["bootstrapServers"] == broker.bootstrap
    assert handler.values() == [b"slow0", b"slow1", b"slow2"]


def test_the_payload_limit_splits_batches_and_an_oversized_record_goes_to_the_destination(broker: Broker) -> None:
    topic, dlt, group = broker.topic("payload"), broker.topic("payload-dlt"), broker.group("payload")
    for i in range(6):
        broker.produce(topic, bytes([65 + i]) * 600)
    broker.produce(topic, b"Z" * 5000, key=b"huge")
    broker.produce(topic, b"after")
    handler = Handler()
    esm = broker.mapping(
        handler, msk(topic, group, DestinationConfig={"OnFailure": {"Destination": f"kafka://{dlt}"}}), max_payload_bytes=2500
    )
    broker.started(esm)
    eventually(lambda: b"after" in handler.values(), WAIT, "the record after the oversized one")
    sizes = [len(json.dumps(e, separators=(",", ":"))) for e in handler.events]
    assert all(size <= 2500 for size in sizes), sizes
    assert len(handler.events) >= 3
    assert b"Z" * 5000 not in handler.values()
    [failed] = broker.read_all(dlt, 1)
    document = json.loads(failed.value)
    assert failed.key == b"huge"
    assert document["requestContext"]["condition"] == "MaximumPayloadSizeExceeded" and document["responseContext"] is None
    assert document["KafkaBatchInfo"]["recordInfo"]["offset"] == "6"
    eventually(lambda: broker.committed(group, topic) == {0: 8}, WAIT, "the commit past every record")


def test_each_partition_keeps_its_order(broker: Broker) -> None:
    topic, group = broker.topic("order", partitions=3), broker.group("order")
    for i in range(30):
        broker.produce(topic, str(i).encode(), partition=i % 3)
    handler = Handler()
    broker.started(broker.mapping(handler, msk(topic, group, BatchSize=7, MaximumBatchingWindowInSeconds=0)))
    eventually(lambda: len(handler.records()) == 30, WAIT, "30 records")
    for partition in range(3):
        offsets = [r["offset"] for e in handler.events for r in e["records"].get(f"{topic}-{partition}", [])]
        assert offsets == list(range(10)), (partition, offsets)
    for event in handler.events:
        for key, recs in event["records"].items():
            assert all(f"{r['topic']}-{r['partition']}" == key for r in recs)
    eventually(lambda: broker.committed(group, topic) == {0: 10, 1: 10, 2: 10}, WAIT, "commits on all three partitions")


# ---- starting position --------------------------------------------------------------------------


def test_trim_horizon_reads_history_latest_does_not_and_a_committed_offset_wins(broker: Broker) -> None:
    topic = broker.topic("position")
    horizon_group, latest_group = broker.group("horizon"), broker.group("latest")
    for i in range(3):
        broker.produce(topic, f"old{i}".encode())
    horizon, latest = Handler(), Handler()
    broker.started(broker.mapping(horizon, msk(topic, horizon_group, StartingPosition="TRIM_HORIZON")))
    latest_esm = broker.started(broker.mapping(latest, msk(topic, latest_group, StartingPosition="LATEST")))
    broker.produce(topic, b"new0")
    eventually(
        lambda: len(horizon.records()) == 4 and len(latest.records()) == 1, WAIT, "history for TRIM_HORIZON, the new record for LATEST"
    )
    assert horizon.values() == [b"old0", b"old1", b"old2", b"new0"]
    assert latest.values() == [b"new0"]
    eventually(lambda: broker.committed(latest_group, topic) == {0: 4}, WAIT, "LATEST's commit")

    latest_esm.stop()
    broker.produce(topic, b"while-stopped")
    again = Handler()
    broker.started(broker.mapping(again, msk(topic, latest_group, StartingPosition="LATEST")))
    eventually(lambda: len(again.records()) == 1, WAIT, "the record produced while the mapping was stopped")
    assert again.values() == [b"while-stopped"]


def test_at_timestamp_starts_at_the_first_record_at_or_after_it(broker: Broker) -> None:
    topic, group = broker.topic("timestamp"), broker.group("timestamp")
    base = int(time.time() * 1000) - 60_000
    for i in range(4):
        broker.producer.send(topic, value=f"t{i}".encode(), timestamp_ms=base + i * 1000).get(timeout=10)
    handler = Handler()
    props = msk(topic, group, StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=(base + 2000) / 1000)
    esm = broker.started(broker.mapping(handler, props))
    eventually(lambda: len(handler.records()) == 2, WAIT, "records from the timestamp on")
    polled_again(esm)
    assert handler.values() == [b"t2", b"t3"]


# ---- failures -----------------------------------------------------------------------------------


def test_a_failing_batch_is_retried_whole_and_commits_only_after_success(broker: Broker) -> None:
    topic, group = broker.topic("retry"), broker.group("retry")
    for i in range(4):
        broker.produce(topic, f"v{i}".encode(), key=f"k{i}".encode())
    committed_during_failures: list[dict[int, int]] = []
    handler = Handler(fail=lambda n, e: n < 3)
    handler.before = lambda e: committed_during_failures.append(broker.committed(group, topic)) if len(handler.events) <= 3 else None
    esm = broker.started(broker.mapping(handler, msk(topic, group, MaximumRetryAttempts=5)))
    eventually(lambda: handler.outcomes[-1:] == ["ok"], WAIT, "the first successful invocation")
    assert handler.outcomes == ["error", "error", "error", "ok"]
    first = handler.events[0]
    assert len(first["records"][f"{topic}-0"]) == 4
    assert all(e["records"] == first["records"] for e in handler.events), "every retry must carry the same records"
    assert committed_during_failures == [{}, {}, {}], committed_during_failures
    eventually(lambda: broker.committed(group, topic) == {0: 4}, WAIT, "the commit after success")
    polled_again(esm)
    assert len(handler.events) == 4, "nothing is delivered twice after the commit"
    metrics = esm.metrics()
    assert metrics["invoke_errors"] == 3 and metrics["retries"] == 3 and metrics["batches_succeeded"] == 1


def test_bounded_retries_then_the_kafka_destination_gets_the_records_and_the_mapping_moves_on(broker: Broker) -> None:
    topic, dlt, group = broker.topic("dlt-src"), broker.topic("dlt"), broker.group("dlt")
    broker.produce(topic, b"bad-1", key=b"quiz-7", headers=[("traceparent", b"00-abc-01")])
    broker.produce(topic, b"bad-2")
    handler = Handler(
        fail=lambda n, e: any(base64.b64decode(r["value"]).startswith(b"bad") for recs in e["records"].values() for r in recs)
    )
    props = msk(topic, group, MaximumRetryAttempts=2, DestinationConfig={"OnFailure": {"Destination": f"kafka://{dlt}"}})
    esm = broker.started(broker.mapping(handler, props))
    eventually(lambda: len(broker.committed(group, topic)) == 1, WAIT, "the commit past the failed batch")
    assert broker.committed(group, topic) == {0: 2}
    assert handler.outcomes == ["error", "error", "error"]  # the first invocation and two retries
    failed = sorted(broker.read_all(dlt, 2), key=lambda m: json.loads(m.value)["KafkaBatchInfo"]["recordInfo"]["offset"])
    assert [m.key for m in failed] == [b"quiz-7", None]
    first, second = (json.loads(m.value) for m in failed)
    assert first["requestContext"]["condition"] == "RetriesExhausted"
    assert first["requestContext"]["approximateInvokeCount"] == 3
    assert first["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert first["KafkaBatchInfo"]["batchSize"] == 1 and first["KafkaBatchInfo"]["eventSourceArn"] == CLUSTER_ARN
    [record] = first["payload"]["records"][f"{topic}-0"]
    assert base64.b64decode(record["value"]) == b"bad-1" and record["headers"] == [{"traceparent": list(b"00-abc-01")}]
    assert second["KafkaBatchInfo"]["recordInfo"]["offset"] == "1"

    broker.produce(topic, b"good")
    eventually(lambda: handler.outcomes[-1:] == ["ok"], WAIT, "the next record to be processed")
    assert handler.values() == [b"good"]
    eventually(lambda: broker.committed(group, topic) == {0: 3}, WAIT, "the commit of the good record")
    metrics = esm.metrics()
    assert metrics["batches_to_destination"] == 1 and metrics["records_to_destination"] == 2


def test_an_sqs_destination_is_reported_not_silently_dropped(broker: Broker) -> None:
    topic, group = broker.topic("sqs"), broker.group("sqs")
    broker.produce(topic, b"lost?")
    reported: list[tuple[str, dict[str, Any]]] = []
    arn = "arn:aws:sqs:us-east-1:000000000000:leaderboard-dlq"
    props = msk(topic, group, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": arn}})
    broker.started(
        broker.mapping(Handler(fail=lambda n, e: True), props, unsupported_destination_sink=lambda d, r: reported.append((d, r)))
    )
    eventually(lambda: broker.committed(group, topic) == {0: 1}, WAIT, "the commit past the failed batch")
    [(destination, record)] = reported
    assert destination == arn
    assert record["KafkaBatchInfo"]["recordsInfo"] == {
        f"{topic}-0": {
            "firstRecordOffset": "0",
            "lastRecordOffset": "0",
            "firstRecordTimestamp": record["KafkaBatchInfo"]["recordsInfo"][f"{topic}-0"]["firstRecordTimestamp"],
            "lastRecordTimestamp": record["KafkaBatchInfo"]["recordsInfo"][f"{topic}-0"]["lastRecordTimestamp"],
        }
    }
    assert base64.b64decode(json.loads(record["payload"])["records"][f"{topic}-0"][0]["value"]) == b"lost?"


def test_stop_during_a_failing_batch_leaves_it_uncommitted_and_a_new_mapping_replays_it(broker: Broker) -> None:
    topic, group = broker.topic("stop"), broker.group("stop")
    for i in range(3):
        broker.produce(topic, f"s{i}".encode())
    failing = Handler(fail=lambda n, e: True)
    esm = broker.started(broker.mapping(failing, msk(topic, group)))  # MaximumRetryAttempts -1: retried until stopped
    eventually(lambda: len(failing.events) >= 3, WAIT, "a few failed attempts")
    esm.stop()
    assert not esm.running
    assert broker.committed(group, topic) == {}
    assert esm.metrics()["batches_abandoned"] == 1

    replay = Handler()
    broker.started(broker.mapping(replay, msk(topic, group)))
    eventually(lambda: len(replay.records()) == 3, WAIT, "the replayed batch")
    assert replay.events[0]["records"] == failing.events[0]["records"]
    eventually(lambda: broker.committed(group, topic) == {0: 3}, WAIT, "the commit after the replay")


# ---- record contents ----------------------------------------------------------------------------


def test_keys_headers_and_tombstones_arrive_as_aws_encodes_them_on_a_self_managed_cluster(broker: Broker) -> None:
    topic, group = broker.topic("contents"), broker.group("contents")
    broker.produce(topic, b'{"quiz":"q1"}', key=b"q1", headers=[("traceparent", b"00-4bf9-01"), ("bin", b"\x00\xff")])
    broker.produce(topic, b"no key")
    broker.produce(topic, None, key=b"q1")
    handler = Handler()
    props = {"KafkaBootstrapServers": [broker.bootstrap], "Topics": [topic], "ConsumerGroupId": group, "StartingPosition": "TRIM_HORIZON"}
    broker.started(broker.mapping(handler, props, event_type="SelfManagedKafka"))
    eventually(lambda: len(handler.records()) == 3, WAIT, "three records")
    event = handler.events[0]
    assert list(event) == ["eventSource", "bootstrapServers", "records"]
    assert event["eventSource"] == "SelfManagedKafka" and event["bootstrapServers"] == broker.bootstrap
    keyed, unkeyed, tombstone = handler.records()
    assert list(keyed) == ["topic", "partition", "offset", "timestamp", "timestampType", "key", "value", "headers"]
    assert keyed["key"] == base64.b64encode(b"q1").decode()
    assert keyed["headers"] == [{"traceparent": list(b"00-4bf9-01")}, {"bin": [0, 255]}]
    assert keyed["timestampType"] == "CREATE_TIME" and keyed["timestamp"] > 1_600_000_000_000
    assert "key" not in unkeyed and unkeyed["headers"] == []
    assert "value" not in tombstone and tombstone["key"] == keyed["key"]


def test_a_rebalance_during_a_failing_batch_hands_the_revoked_partition_over_uncommitted(broker: Broker) -> None:
    topic, group = broker.topic("rebalance", partitions=2), broker.group("rebalance")
    for i in range(4):
        broker.produce(topic, f"p{i % 2}-{i}".encode(), partition=i % 2)
    failing = Handler(fail=lambda n, e: True)
    first = broker.started(broker.mapping(failing, msk(topic, group)))
    eventually(lambda: any(len(e["records"]) == 2 for e in failing.events), WAIT, "a failing batch holding both partitions")

    healthy = Handler()
    broker.started(broker.mapping(healthy, msk(topic, group)))
    eventually(lambda: len(healthy.records()) == 2, WAIT, "the partition handed over to the second consumer")
    [taken] = {f"{r['topic']}-{r['partition']}" for r in healthy.records()}
    kept = next(key for key in (f"{topic}-0", f"{topic}-1") if key != taken)
    eventually(lambda: broker.committed(group, topic) == {int(taken.rsplit("-", 1)[1]): 2}, WAIT, "the new owner's commit")
    seen = len(failing.events)
    eventually(lambda: len(failing.events) >= seen + 2, WAIT, "more retries by the first consumer")
    assert list(failing.events[-1]["records"]) == [kept], "the first consumer retries only what it still owns"

    assert broker.committed(group, topic) == {int(taken.rsplit("-", 1)[1]): 2}, "the failing partition stays uncommitted"

    first.stop()  # its partition goes to the healthy consumer, which reads it from the start
    eventually(lambda: len(healthy.records()) == 4, WAIT, "the abandoned partition processed by the survivor")
    eventually(lambda: broker.committed(group, topic) == {0: 2, 1: 2}, WAIT, "commits on both partitions")


def test_a_join_that_never_completes_is_recovered_with_a_new_consumer(broker: Broker) -> None:
    topic, group = broker.topic("wedged"), broker.group("wedged")
    handler = Handler()
    esm = broker.started(broker.mapping(handler, msk(topic, group), join_timeout_s=1.0))
    broker.produce(topic, b"before")
    eventually(lambda: handler.values() == [b"before"], WAIT, "the first record")
    # What kafka-python shows when a rejoin wedges: a revocation and then no assignment, ever.
    esm._ownership.on_partitions_revoked(set())
    eventually(lambda: esm.metrics()["consumer_restarts"] == 1, WAIT, "the consumer to be replaced")
    broker.produce(topic, b"after")
    eventually(lambda: handler.values() == [b"before", b"after"], WAIT, "the record produced after the recovery")
    eventually(lambda: broker.committed(group, topic) == {0: 2}, WAIT, "both commits")


def test_a_broker_lost_under_a_poll_gets_a_new_consumer_and_the_mapping_goes_on(broker: Broker) -> None:
    topic, group = broker.topic("lost"), broker.group("lost")
    handler = Handler()
    esm = broker.started(broker.mapping(handler, msk(topic, group)))
    broker.produce(topic, b"before")
    eventually(lambda: handler.values() == [b"before"], WAIT, "the first record")
    eventually(lambda: broker.committed(group, topic) == {0: 1}, WAIT, "its commit (so nothing is read twice)")
    # What kafka-python lets out of poll when the broker is killed under it (the heartbeat's coordinator
    # lookup meets a refused connection): it used to end the mapping for good.
    consumer = esm._poller._consumer
    real_poll = consumer.poll

    def refused(*args: Any, **kwargs: Any) -> Any:
        consumer.poll = real_poll
        raise KafkaConnectionError("KafkaConnectionError: 111 ECONNREFUSED")

    consumer.poll = refused
    eventually(lambda: esm._poller._consumer not in (None, consumer), WAIT, "a new consumer")
    assert esm.running and esm.metrics()["state"] == "running" and esm.metrics()["consumer_restarts"] == 1
    broker.produce(topic, b"after")
    eventually(lambda: handler.values() == [b"before", b"after"], WAIT, "the record produced after the broker came back")
    eventually(lambda: broker.committed(group, topic) == {0: 2}, WAIT, "both commits")


# ---- fail-over between nodes --------------------------------------------------------------------

# Another node's mapping, in a process of its own so that it can die without running any shutdown code.
OTHER_NODE = """
import sys, threading
from local.emulator.kafka_esm import KafkaEventSourceMapping
topic, group, bootstrap, arn = sys.argv[1:5]
properties = {"Stream": arn, "Topics": [topic], "ConsumerGroupId": group, "StartingPosition": "TRIM_HORIZON"}
esm = KafkaEventSourceMapping(
    function_name="other-node", properties=properties, invoke=lambda event: None, bootstrap_servers=bootstrap, poll_interval_s=0.05
)
esm.start()
print("assigned" if esm.wait_until_assigned(30) else "never assigned", flush=True)
threading.Event().wait()
"""


def test_a_killed_nodes_partitions_move_to_the_surviving_mapping(broker: Broker) -> None:
    topic, group = broker.topic("failover", partitions=3), broker.group("failover")
    handler = Handler()
    survivor = broker.started(broker.mapping(handler, msk(topic, group)))
    assert survivor.session_timeout_ms in SESSION_TIMEOUTS_MS, "a short session, not kafka-python's 45 s default"
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_NODE, topic, group, broker.bootstrap, CLUSTER_ARN], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "assigned"
        eventually(lambda: int(survivor.metrics()["assigned_partitions"]) < 3, WAIT, "the other node to take some partitions")
        killed = time.monotonic()
        other.send_signal(signal.SIGKILL)  # no LeaveGroup: the broker notices at the end of the session
        other.wait(timeout=10)
        eventually(lambda: survivor.metrics()["assigned_partitions"] == 3, WAIT, "the survivor to own every partition")
        print(f"partitions moved {time.monotonic() - killed:.1f}s after the kill (session {survivor.session_timeout_ms} ms)")
        for p in range(3):
            broker.produce(topic, f"after-{p}".encode(), partition=p)
        eventually(lambda: sorted(handler.values()) == [b"after-0", b"after-1", b"after-2"], WAIT, "records on every partition")
        eventually(lambda: broker.committed(group, topic) == {0: 1, 1: 1, 2: 1}, WAIT, "the survivor's commits")
    finally:
        if other.poll() is None:
            other.kill()
            other.wait(timeout=10)
        if other.stdout is not None:
            other.stdout.close()


def test_a_mapping_that_stops_normally_hands_its_partitions_over(broker: Broker) -> None:
    topic, group = broker.topic("leave", partitions=2), broker.group("leave")
    first, second = Handler(), Handler()
    survivor = broker.started(broker.mapping(first, msk(topic, group)))
    leaving = broker.started(broker.mapping(second, msk(topic, group)))
    eventually(lambda: survivor.metrics()["assigned_partitions"] == 1, WAIT, "the partitions to be shared")
    stopped = time.monotonic()
    leaving.stop()  # closes its consumer, which leaves the group: no session to wait out
    eventually(lambda: survivor.metrics()["assigned_partitions"] == 2, WAIT, "the survivor to own both partitions")
    print(f"partitions moved {time.monotonic() - stopped:.1f}s after stop()")
    for p in range(2):
        broker.produce(topic, f"after-{p}".encode(), partition=p)
    eventually(lambda: sorted(first.values()) == [b"after-0", b"after-1"], WAIT, "records on both partitions")
    assert second.values() == []
