"""The local stack's configuration (local/stack.toml) as typed, read-only values."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# QUIZ_STACK_FILE points the launcher, emulator and tests at another stack (other ports, say).
STACK_FILE = Path(os.environ.get("QUIZ_STACK_FILE", REPO / "local" / "stack.toml"))


@dataclass(frozen=True)
class PostgresConf:
    host: str
    port: int
    user: str
    password: str
    database: str
    test_database: str

    def url(self, database: str | None = None) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database or self.database}"


@dataclass(frozen=True)
class RedisConf:
    host: str
    port: int

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"


@dataclass(frozen=True)
class ZooKeeperConf:
    host: str
    port: int
    heap: str

    @property
    def hosts(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TopicConf:
    name: str
    partitions: int


@dataclass(frozen=True)
class KafkaConf:
    host: str
    port: int
    controller_port: int
    heap: str
    cluster_id: str
    topics: tuple[TopicConf, ...]

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class EmulatorConf:
    host: str
    port: int


@dataclass(frozen=True)
class PrometheusConf:
    host: str
    port: int
    retention: str = "2d"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class ZipkinConf:
    host: str
    port: int
    heap: str = "256m"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def spans_endpoint(self) -> str:
        """Where an OpenTelemetry Zipkin exporter posts (OTEL_EXPORTER_ZIPKIN_ENDPOINT)."""
        return f"{self.url}/api/v2/spans"


@dataclass(frozen=True)
class Stack:
    postgres: PostgresConf
    redis: RedisConf
    zookeeper: ZooKeeperConf
    kafka: KafkaConf
    emulator: EmulatorConf
    # The observability services are optional: a stack file without their section runs without them
    # (a test's own stack, say); local/stack.toml has both, so `make run` always starts them.
    prometheus: PrometheusConf | None = None
    zipkin: ZipkinConf | None = None


def load_stack(path: Path = STACK_FILE) -> Stack:
    raw = tomllib.loads(path.read_text())
    kafka = dict(raw["kafka"])
    kafka["topics"] = tuple(TopicConf(**t) for t in kafka.get("topics", []))
    return Stack(
        postgres=PostgresConf(**raw["postgres"]),
        redis=RedisConf(**raw["redis"]),
        zookeeper=ZooKeeperConf(**raw["zookeeper"]),
        kafka=KafkaConf(**kafka),
        emulator=EmulatorConf(**raw["emulator"]),
        prometheus=PrometheusConf(**raw["prometheus"]) if "prometheus" in raw else None,
        zipkin=ZipkinConf(**raw["zipkin"]) if "zipkin" in raw else None,
    )
