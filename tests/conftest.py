"""Fixtures shared by every test: the local stack's endpoints (tests use the test database)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic

from local.stack import Stack, load_stack

EVENTS = Path(__file__).parent / "events"


@pytest.fixture(scope="session")
def stack() -> Stack:
    return load_stack()


def _require(host: str, port: int, name: str) -> None:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        pytest.fail(f"{name} is not answering on {host}:{port}: start the services with `make services` (or run `make test`)")


@pytest.fixture(scope="session")
def database_url(stack: Stack) -> str:
    _require(stack.postgres.host, stack.postgres.port, "PostgreSQL")
    return stack.postgres.url(stack.postgres.test_database)


@pytest.fixture(scope="session")
def redis_url(stack: Stack) -> str:
    _require(stack.redis.host, stack.redis.port, "Redis")
    return stack.redis.url(1)


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: Stack) -> str:
    _require(stack.kafka.host, stack.kafka.port, "Kafka")
    return stack.kafka.bootstrap


@pytest.fixture(scope="session")
def zookeeper_hosts(stack: Stack) -> str:
    _require(stack.zookeeper.host, stack.zookeeper.port, "ZooKeeper")
    return stack.zookeeper.hosts


@pytest.fixture
def unique() -> str:
    """A short unique suffix for names (topics, groups, keys) so concurrent runs never collide."""
    return uuid.uuid4().hex[:10]


def load_event(name: str) -> dict[str, Any]:
    """An AWS-published sample event from tests/events/ by file name (without .json)."""
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def aws_event() -> Iterator[Any]:
    yield load_event


@pytest.fixture
def new_topic(kafka_bootstrap: str, unique: str) -> Iterator[Callable[[str, int], str]]:
    """Creates uniquely named Kafka topics (`prefix.<unique>`) and deletes them after the test."""
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    created: list[str] = []

    def create(prefix: str, partitions: int) -> str:
        name = f"{prefix}.{unique}"
        admin.create_topics([NewTopic(name, partitions, 1)])
        created.append(name)
        return name

    yield create
    if created:
        admin.delete_topics(created)
    admin.close()


def read_records(topic: str, bootstrap: str, expected: int, timeout_s: float = 20) -> list[Any]:
    """Every record of a topic from the start: at least `expected` (or what came within the timeout),
    plus whatever one more short poll finds, so more than expected is seen rather than hidden."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=300).values():
            out.extend(records)
        if len(out) >= expected:
            for records in consumer.poll(timeout_ms=500).values():
                out.extend(records)
            break
    consumer.close()
    return out
