"""The emulator's own settings: where the template is, who this node is, and API Gateway's limits.

Defaults are AWS's documented quotas for WebSocket APIs; tests shorten them.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from local.stack import REPO


@dataclass(frozen=True)
class WebSocketLimits:
    idle_timeout_s: float = 600.0  # 10 minutes without a message
    max_duration_s: float = 7200.0  # 2 hours per connection
    frame_bytes: int = 32 * 1024  # one frame; larger closes with 1009
    message_bytes: int = 128 * 1024  # one message (and one PostToConnection payload)
    outbound_queue: int = 1024  # frames waiting for a slow client before it is disconnected (1008)


@dataclass(frozen=True)
class EmulatorSettings:
    template: Path = REPO / "template.yaml"
    env_vars: Path | None = None
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 8000
    node_id: str = field(default_factory=lambda: f"{socket.gethostname()}-8000")
    advertised_url: str | None = None  # how other nodes and functions reach this node; default http://host:port
    region: str = "us-east-1"
    account_id: str = "123456789012"
    limits: WebSocketLimits = field(default_factory=WebSocketLimits)
    registry_url: str | None = None  # None/"memory", or redis://... shared by several nodes
    registry_prefix: str = "emulator:"
    zookeeper_hosts: str | None = None  # "host:port,...": register in ZooKeeper, find owners there, purge lost nodes
    zookeeper_root: str = "/quiz/emulator"  # this node's znode is {root}/nodes/{node_id}
    zookeeper_session_timeout_s: float = 10.0  # how long a dead node keeps its znode (tests shorten it)
    max_concurrency: int = 4  # warm workers per function unless the template reserves concurrency
    reload: bool = False
    kafka_bootstrap: str | None = None  # default: local/stack.toml
    kafka_enabled: bool = True
    docs_dir: Path = REPO / "docs"

    @property
    def url(self) -> str:
        return (self.advertised_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ws"
