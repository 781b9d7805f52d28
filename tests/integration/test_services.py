"""The clients the project uses reach each real service the launcher started."""

from __future__ import annotations

import threading
import time
import uuid

import psycopg
import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kazoo.client import KazooClient

from local.migrate import MIGRATIONS, migrate

pytestmark = pytest.mark.integration


def test_postgres_migrations_applied_and_a_row_round_trips(database_url: str) -> None:
    assert migrate(database_url) == 0, "the launcher applies every migration; a re-run applies none"
    with psycopg.connect(database_url) as conn:
        applied = {r[0] for r in conn.execute("SELECT migration_id FROM _yoyo_migration")}
        assert {p.stem for p in MIGRATIONS.glob("*.sql")} <= applied
        user_id, name = uuid.uuid4(), f"svc-{uuid.uuid4().hex[:8]}"
        conn.execute(
            "INSERT INTO users (id, username, display_name, password_hash) VALUES (%s, %s, %s, %s)",
            (user_id, name, "Round Trip", "x"),
        )
        row = conn.execute("SELECT username, display_name, role FROM users WHERE id = %s", (user_id,)).fetchone()
        conn.rollback()
    assert row == (name, "Round Trip", "player")


def test_redis_sorted_set_ranks_by_score(redis_url: str, unique: str) -> None:
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    key = f"test:{unique}:board"
    try:
        r.zadd(key, {"ana": 30, "ben": 50, "cy": 10})
        r.zincrby(key, 25, "cy")
        assert r.zrevrange(key, 0, -1, withscores=True) == [("ben", 50.0), ("cy", 35.0), ("ana", 30.0)]
        assert r.zrevrank(key, "ana") == 2
    finally:
        r.delete(key)


def test_kafka_produce_then_consume_in_a_group_and_commit(kafka_bootstrap: str, unique: str) -> None:
    topic, group = f"test.services.{unique}", f"test-group-{unique}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    try:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        for i in range(5):
            producer.send(topic, key=b"quiz-1", value=f"answer-{i}".encode(), headers=[("trace", b"t1")])
        producer.flush()
        producer.close()

        consumer = KafkaConsumer(
            topic, bootstrap_servers=kafka_bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
        )
        seen: list[bytes] = []
        deadline = time.monotonic() + 30
        while len(seen) < 5 and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                seen.extend(r.value for r in records)
        consumer.commit()
        consumer.close()
        assert seen == [f"answer-{i}".encode() for i in range(5)], "same key: one partition, order kept"

        committed = admin.list_group_offsets(group)[group]
        assert sum(meta.offset for tp, meta in committed.items() if tp.topic == topic) == 5
        assert {tp for tp in committed if tp.topic == topic} <= {TopicPartition(topic, 0), TopicPartition(topic, 1)}
    finally:
        admin.delete_topics([topic])
        admin.close()


def test_zookeeper_ephemeral_node_lives_and_dies_with_its_session(zookeeper_hosts: str, unique: str) -> None:
    path = f"/test/{unique}/node-1"
    owner = KazooClient(hosts=zookeeper_hosts)
    watcher = KazooClient(hosts=zookeeper_hosts)
    owner.start(timeout=10)
    watcher.start(timeout=10)
    try:
        owner.create(path, b"127.0.0.1:8000", ephemeral=True, makepath=True)
        gone = threading.Event()

        @watcher.DataWatch(path)  # type: ignore[misc]
        def _watch(data: bytes | None, stat: object) -> None:
            if data is None:
                gone.set()

        assert watcher.get(path)[0] == b"127.0.0.1:8000"
        owner.stop()
        owner.close()
        assert gone.wait(15), "the ephemeral node must vanish when its session ends"
        assert watcher.exists(path) is None
    finally:
        watcher.delete(f"/test/{unique}", recursive=True)
        watcher.stop()
        watcher.close()
