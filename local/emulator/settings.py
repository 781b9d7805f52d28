"""The emulator's own settings: where the template is, who this node is, and API Gateway's limits.

Defaults are AWS's documented quotas for WebSocket APIs; tests shorten them.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from local.stack import REPO

log = logging.getLogger("emulator")

# Every WebSocket is a file descriptor on its node (two behind nginx, and one more for a client on the same
# machine); 10,000 players in one room need this many with room to spare for workers' pipes and services.
WANTED_OPEN_FILES = 20_000


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
    init_concurrency: int | None = None  # workers of all functions importing at once; None: the CPU count (at least 2)
    warm: int = 0  # workers per function started ahead of traffic (like provisioned concurrency); 0: on demand
    reload: bool = False
    kafka_bootstrap: str | None = None  # default: local/stack.toml
    kafka_enabled: bool = True
    docs_dir: Path = REPO / "docs"
    # Where this node keeps its EventBridge Scheduler schedules across restarts (see local/emulator/scheduler.py).
    # None: <state dir>/emulator/schedules-<node id>.json, the state dir being $QUIZ_STATE_DIR or .state/.
    schedule_store: Path | None = None

    @property
    def schedule_store_path(self) -> Path:
        if self.schedule_store is not None:
            return self.schedule_store
        state = Path(os.environ.get("QUIZ_STATE_DIR", REPO / ".state")).resolve()
        return state / "emulator" / f"schedules-{self.node_id}.json"

    @property
    def url(self) -> str:
        return (self.advertised_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1) + "/ws"


def raise_open_file_limit(wanted: int = WANTED_OPEN_FILES) -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit (children inherit it); return the soft limit now.

    Distributions start processes with a soft limit of 1,024 open files, which a node reaches at about a
    thousand WebSockets; the hard limit is usually far higher and needs no privilege to use. When even the
    hard limit is below `wanted`, say so and how to raise it, once, at start-up."""
    try:
        import resource
    except ImportError:  # not a POSIX system: nothing to raise
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit (macOS) still caps the soft one at the kernel's per-process maximum: try lower.
    targets = [hard] if hard != resource.RLIM_INFINITY else [1 << 20, 1 << 16, 10_240]
    for target in targets:
        if target <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        soft = target
        break
    if soft < wanted:
        log.warning(
            "open files limited to %d (ulimit -n; hard limit %s): this node can hold about %d WebSockets. "
            "For %d, raise the hard limit before starting it: `ulimit -Hn %d` as root, "
            "LimitNOFILE=%d in a systemd unit, `docker run --ulimit nofile=%d:%d`, or a nofile line in /etc/security/limits.conf",
            soft,
            "unlimited" if hard == resource.RLIM_INFINITY else hard,
            max(0, soft - 200),
            wanted // 2,
            wanted,
            wanted,
            wanted,
            wanted,
        )
    return soft
