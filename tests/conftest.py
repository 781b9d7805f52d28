"""Fixtures shared by every test: the local stack's endpoints (tests use the test database)."""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

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
