"""The product on several emulator nodes behind nginx, for a benchmark or a test that kills a node.

    with product_cluster(nodes=2) as cluster:
        cluster.base_url                 # nginx, spreading HTTP and WebSocket over the nodes
        cluster.kill(port)               # SIGKILL: no shutdown code runs, as after a crash
        cluster.start_node(port)         # the same node again, under the same id

What `local/product.py` does for one node (the product's template on free loopback ports, a Kafka topic of
its own, the test database and Redis db 1), with what `make run-cluster` adds: the nodes share one
connection registry in Redis and register in ZooKeeper, so a Lambda on one node reaches a player on the
other, and nginx (the configuration local/cluster.py writes) sits in front. Everything is torn down on
exit: nodes, nginx, the topic, the registry keys and the znodes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kazoo.client import KazooClient

from local.cluster import ensure_nginx, start_nginx, write_nginx_config
from local.devkeys import dev_env
from local.product import ProductDidNotStart, _require, _stop, free_port
from local.stack import REPO, Stack, load_stack

PARTITIONS = 3


@dataclass
class ProductNode:
    port: int
    node_id: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM first (the node closes its sockets and leaves the Kafka group), SIGKILL after 20 s."""
        if self.proc is not None:
            _stop(self.proc)


@dataclass
class ProductCluster:
    base_url: str  # nginx
    scores_topic: str
    redis_url: str
    database_url: str
    registry_prefix: str
    zookeeper_root: str
    nodes: dict[int, ProductNode]
    _command: list[str] = field(repr=False)
    _env: dict[str, str] = field(repr=False)
    _startup_timeout_s: float = 60.0

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/ws"

    def start_node(self, port: int) -> ProductNode:
        """Start (or start again) the node on `port` and wait until its Kafka mapping is running."""
        node = self.nodes[port]
        out = node.log.open("ab")
        command = [*self._command, "--port", str(port), "--node-id", node.node_id]
        node.proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=self._env)
        out.close()
        deadline = time.monotonic() + self._startup_timeout_s
        while True:
            if node.proc.poll() is not None:
                raise ProductDidNotStart(f"node :{port} exited with {node.proc.returncode}:\n{node.log.read_text()[-3000:]}")
            try:
                status = httpx.get(f"{node.url}/@emulator", timeout=1)
                if status.status_code == 200 and status.json().get("kafkaMappings") == 1:
                    return node
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ProductDidNotStart(
                    f"node :{port} did not come up within {self._startup_timeout_s:.0f} s:\n{node.log.read_text()[-3000:]}"
                )
            time.sleep(0.2)

    def kill(self, port: int, sig: int = signal.SIGKILL, *, wait: bool = True) -> None:
        """SIGKILL by default, as a crash or the OOM killer would: no $disconnect, no LeaveGroup, no znode
        removal. SIGTERM is a normal stop instead (the node closes its sockets and leaves the group)."""
        proc = self.nodes[port].proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            if wait:
                proc.wait(timeout=30)

    def stop(self, port: int) -> None:
        self.nodes[port].stop()


@contextlib.contextmanager
def product_cluster(
    *,
    nodes: int = 2,
    emulator_args: Sequence[str] = (),
    zookeeper_session_timeout_s: float = 10.0,
    startup_timeout_s: float = 60.0,
    keep_dir: Path | None = None,
    stack: Stack | None = None,
) -> Iterator[ProductCluster]:
    """`nodes` emulator nodes of the product and nginx in front, all on free loopback ports; torn down on exit.

    `zookeeper_session_timeout_s` is how long a killed node's znode outlives it (the emulator's default, 10 s,
    is what `make run-cluster` uses). Logs go under `keep_dir` when given."""
    stack = stack or load_stack()
    for name, (host, port) in {
        "PostgreSQL": (stack.postgres.host, stack.postgres.port),
        "Redis": (stack.redis.host, stack.redis.port),
        "Kafka": (stack.kafka.host, stack.kafka.port),
        "ZooKeeper": (stack.zookeeper.host, stack.zookeeper.port),
    }.items():
        _require(host, port, name)
    nginx_bin = ensure_nginx()
    database_url = stack.postgres.url(stack.postgres.test_database)
    redis_url = stack.redis.url(1)
    run = uuid.uuid4().hex[:8]
    with contextlib.ExitStack() as cleanup:
        state = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="product-cluster-")))
        logs = keep_dir or state
        logs.mkdir(parents=True, exist_ok=True)
        topic = f"quiz.scores.cluster-{run}"
        admin = KafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap)
        cleanup.callback(admin.close)
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        cleanup.callback(admin.delete_topics, [topic])
        prefix = f"bench:cluster:{run}:"
        root = f"/bench/product-cluster/{run}"
        cleanup.callback(_forget, redis_url, prefix, stack.zookeeper.hosts, root)
        keys = dev_env(state)
        env_file = state / "env.json"
        env_file.write_text(json.dumps({"Parameters": {"STAGE": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url}}))
        command = [
            sys.executable, "-m", "local.emulator", "--template", "template.yaml", "--env-vars", str(env_file),
            "--parameter-overrides", f"ScoresTopic={topic}", f"JwtPrivateKey={keys['JWT_PRIVATE_KEY']}",
            f"JwtPublicKeys={keys['JWT_PUBLIC_KEYS']}", "SchedulerPrecisionSeconds=0",
            "--registry", redis_url, "--registry-prefix", prefix, "--zookeeper", stack.zookeeper.hosts,
            "--zookeeper-root", root, "--zookeeper-session-timeout", str(zookeeper_session_timeout_s), *emulator_args,
        ]  # fmt: skip
        env = {**os.environ, "QUIZ_STATE_DIR": str(state), "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'layers/shared/python'}"}
        ports = [free_port() for _ in range(max(1, nodes))]
        members = {p: ProductNode(p, f"node-{run}-{p}", logs / f"node-{p}.log") for p in ports}
        lb_port = free_port()
        cluster = ProductCluster(
            f"http://127.0.0.1:{lb_port}", topic, redis_url, database_url, prefix, root, members, command, env, startup_timeout_s
        )
        for node in members.values():
            cleanup.callback(node.stop)
        for p in ports:
            cluster.start_node(p)
        conf = write_nginx_config(f"127.0.0.1:{lb_port}", [f"127.0.0.1:{p}" for p in ports], state / "nginx")
        nginx_log = (logs / "nginx.log").open("wb")
        cleanup.callback(nginx_log.close)
        nginx = start_nginx(nginx_bin, conf, stdout=nginx_log, stderr=subprocess.STDOUT)
        cleanup.callback(_stop_nginx, nginx)
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{cluster.base_url}/@emulator", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ProductDidNotStart(f"nginx did not answer on :{lb_port}")
            time.sleep(0.1)
        yield cluster


def _stop_nginx(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _forget(redis_url: str, prefix: str, zookeeper_hosts: str, root: str) -> None:
    """Drop the run's registry keys and znodes (the quiz's own rows and keys belong to the test database)."""
    store = redis.Redis.from_url(redis_url)
    try:
        for key in store.scan_iter(f"{prefix}*"):
            store.delete(key)
    finally:
        store.close()
    zk = KazooClient(hosts=zookeeper_hosts)
    try:
        zk.start(timeout=10)
        zk.delete(root, recursive=True)
    except Exception:  # cleanup only: a znode left under /bench harms nobody, and must not hide the run's own error
        pass
    finally:
        zk.stop()
        zk.close()
