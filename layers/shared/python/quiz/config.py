"""Settings from the environment, parsed and validated once per container (fail fast)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache


class ConfigError(RuntimeError):
    """The environment is missing or malformed; the message names the variable to set."""


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, default)
    if value is None or value == "":
        raise ConfigError(f"environment variable {name} is required (see template.yaml / README 'Configuration')")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    """Everything a function needs to reach its services. Same names on AWS and locally."""

    stage: str
    database_url: str
    redis_url: str
    kafka_bootstrap_servers: str
    zookeeper_hosts: str
    scores_topic: str
    connections_endpoint: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            stage=env.get("STAGE", "dev"),
            database_url=_get(env, "DATABASE_URL"),
            redis_url=_get(env, "REDIS_URL"),
            kafka_bootstrap_servers=_get(env, "KAFKA_BOOTSTRAP_SERVERS"),
            zookeeper_hosts=env.get("ZOOKEEPER_HOSTS", ""),
            scores_topic=env.get("SCORES_TOPIC", "quiz.scores"),
            connections_endpoint=env.get("CONNECTIONS_ENDPOINT") or None,
        )


@cache
def settings() -> Settings:
    """The container's settings, read on first use."""
    return Settings.from_env()
