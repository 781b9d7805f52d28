"""Several emulator nodes over the real ZooKeeper and Redis: membership, forwarding, a node's death, a clean stop.

Nodes run in this process (tests/emulator/harness.py) or, when the test must kill one abruptly, as a
`python -m local.emulator` subprocess that receives SIGKILL: no shutdown code runs, its sockets die with it
and its ZooKeeper session expires on the server's clock (4 s here), as after a crash. Each test has its
own registry prefix and znode root.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import redis
import yaml
from kazoo.client import KazooClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from local.cluster import nginx_binary, start_nginx, write_nginx_config
from local.stack import REPO
from tests.emulator.harness import HERE, RunningEmulator, free_port, start_emulator
from tests.prometheus_support import running_prometheus
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

TEMPLATE = HERE / "template-cluster.yaml"
SESSION_TIMEOUT_S = 4.0  # ZooKeeper's minimum with its default tickTime of 2 s
WAIT_S = 45.0  # bound on every wait below; the session expiry alone takes SESSION_TIMEOUT_S


@dataclass(frozen=True)
class Cluster:
    redis_url: str
    prefix: str
    zookeeper_hosts: str
    root: str

    def harness_options(self) -> dict[str, Any]:
        return {
            "template": TEMPLATE,
            "registry_url": self.redis_url,
            "registry_prefix": self.prefix,
            "zookeeper_hosts": self.zookeeper_hosts,
            "zookeeper_root": self.root,
            "zookeeper_session_timeout_s": SESSION_TIMEOUT_S,
        }

    def cli_options(self) -> list[str]:
        return [
            "--registry", self.redis_url, "--registry-prefix", self.prefix, "--zookeeper", self.zookeeper_hosts,
            "--zookeeper-root", self.root, "--zookeeper-session-timeout", str(SESSION_TIMEOUT_S),
        ]  # fmt: skip


@pytest.fixture
def cluster(redis_url: str, zookeeper_hosts: str, unique: str) -> Iterator[Cluster]:
    running = Cluster(redis_url, f"test:cluster:{unique}:", zookeeper_hosts, f"/test/emulator-cluster/{unique}")
    yield running
    store = redis.Redis.from_url(redis_url)
    for key in store.scan_iter(f"{running.prefix}*"):
        store.delete(key)
    store.close()
    zk = KazooClient(hosts=zookeeper_hosts)
    zk.start(timeout=10)
    zk.delete(running.root, recursive=True)
    zk.stop()
    zk.close()


@pytest.fixture
def zk(zookeeper_hosts: str) -> Iterator[KazooClient]:
    client = KazooClient(hosts=zookeeper_hosts)
    client.start(timeout=10)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def store(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


# ---------------------------------------------------------------------------- a node in its own process


@dataclass(frozen=True)
class NodeProcess:
    proc: subprocess.Popen[bytes]
    node_id: str
    port: int
    event_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@contextlib.contextmanager
def node_process(event_dir: Path, cluster: Cluster, node_id: str) -> Iterator[NodeProcess]:
    """`python -m local.emulator` with the cluster template; stopped with Ctrl+C's signal unless already dead."""
    env_file = event_dir / "env.json"
    env_file.write_text(json.dumps({"Parameters": {"EVENT_LOG_DIR": str(event_dir)}}))
    port = free_port()
    log = event_dir / f"node-{port}.log"
    command = [
        sys.executable, "-m", "local.emulator", "--template", str(TEMPLATE), "--port", str(port), "--node-id", node_id,
        "--env-vars", str(env_file), "--no-kafka", *cluster.cli_options(),
    ]  # fmt: skip
    pythonpath = os.pathsep.join([str(REPO), str(REPO / "layers" / "shared" / "python")])
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": pythonpath})
    node = NodeProcess(proc, node_id, port, event_dir, log)
    try:
        eventually(lambda: _answers(node), WAIT_S, f"node {node_id} to start", details=lambda: log.read_text()[-3000:])
        yield node
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _answers(node: NodeProcess) -> bool:
    if node.proc.poll() is not None:
        raise AssertionError(f"node {node.node_id} exited with {node.proc.returncode}:\n{node.log.read_text()[-3000:]}")
    try:
        return httpx.get(node.url + "/@emulator", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


# ---------------------------------------------------------------------------- helpers


def members(zk: KazooClient, cluster: Cluster) -> set[str]:
    return set(zk.get_children(f"{cluster.root}/nodes"))


def connection_id(ws: ClientConnection) -> str:
    ws.send(json.dumps({"action": "echo"}))
    cid: str = json.loads(ws.recv(timeout=20))["event"]["requestContext"]["connectionId"]
    return cid


def read_event(event_dir: Path, kind: str, cid: str) -> dict[str, Any] | None:
    path = event_dir / f"{kind}-{cid}.json"
    return json.loads(path.read_text()) if path.exists() else None


def status(url: str) -> dict[str, Any]:
    doc: dict[str, Any] = httpx.get(url + "/@emulator", timeout=10).json()
    return doc


def invocations(url: str, function: str) -> float:
    """Invocations of a function on a node, every outcome, from its Prometheus metrics."""
    text = httpx.get(url + "/metrics", timeout=10).text
    pattern = re.compile(rf'^emulator_lambda_invocations_total\{{function="{function}",[^}}]*\}} (\S+)$', re.M)
    return sum(float(v) for v in pattern.findall(text))


def closed_by_server(ws: ClientConnection) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=WAIT_S)
    return closed.value


def management(endpoint: str) -> Any:
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )


def authorizer_of(user: str) -> dict[str, Any]:
    """What the test authorizer returns for `allow:<user>` (principalId and context), as $disconnect must show it."""
    return {"principalId": user, "userId": user, "role": "player", "level": "7"}  # context values arrive stringified


# ---------------------------------------------------------------------------- tests


def test_nodes_register_in_zookeeper_and_a_lambda_on_one_pushes_to_a_player_on_the_other(
    tmp_path_factory: pytest.TempPathFactory, cluster: Cluster, zk: KazooClient, store: redis.Redis
) -> None:
    options = cluster.harness_options()
    with (
        start_emulator(tmp_path_factory.mktemp("a"), **options) as a,
        start_emulator(tmp_path_factory.mktemp("b"), **options) as b,
    ):
        ids = {a.settings.node_id, b.settings.node_id}
        eventually(lambda: members(zk, cluster) == ids, WAIT_S, "both nodes in ZooKeeper")
        for node in (a, b):
            data, stat = zk.get(f"{cluster.root}/nodes/{node.settings.node_id}")
            assert data.decode() == node.url and stat.ephemeralOwner != 0, "an ephemeral znode holding the advertised URL"
        eventually(lambda: set(status(a.url)["cluster"]["nodes"]) == ids, WAIT_S, "node A to see both nodes")

        with connect(a.ws_url + "?token=allow:ana") as player:
            cid = connection_id(player)
            assert store.hget(f"{cluster.prefix}conn:{cid}", "node_id") == a.settings.node_id
            assert store.smembers(f"{cluster.prefix}node:{a.settings.node_id}:connections") == {cid}
            assert "token" not in store.hget(f"{cluster.prefix}conn:{cid}", "authorizer")

            # A function running on node B pushes through B's own management endpoint; B forwards to A.
            reply = httpx.post(f"{b.url}/relay/{cid}", content='{"type":"leaderboard"}', timeout=20)
            assert reply.status_code == 200 and reply.json()["endpoint"] == b.url + "/dev"
            assert player.recv(timeout=20) == '{"type":"leaderboard"}'
            # A management call reaching the wrong node (boto3, as a function would) reaches the socket too.
            management(b.url + "/dev").post_to_connection(ConnectionId=cid, Data=b"via b")
            assert player.recv(timeout=20) == "via b"
            batch = httpx.post(b.url + "/@connections", json={"connectionIds": [cid, "NotAConnection="], "data": "batched"}, timeout=20)
            assert batch.json() == {"delivered": 1, "gone": ["NotAConnection="]}
            assert player.recv(timeout=20) == "batched"
        a.recorded("disconnect", cid)
        assert not store.exists(f"{cluster.prefix}conn:{cid}")
        assert not store.exists(f"{cluster.prefix}node:{a.settings.node_id}:connections")


def test_a_killed_node_is_purged_and_its_disconnects_run_once_on_the_survivors(
    tmp_path_factory: pytest.TempPathFactory, cluster: Cluster, zk: KazooClient, store: redis.Redis, unique: str
) -> None:
    options = cluster.harness_options()
    users = ["ana", "ben", "cai"]
    with (
        start_emulator(tmp_path_factory.mktemp("a"), **options) as a,
        start_emulator(tmp_path_factory.mktemp("b"), **options) as b,
        node_process(tmp_path_factory.mktemp("c"), cluster, f"test-{unique}-c") as c,
        contextlib.ExitStack() as sockets,
    ):
        survivors: list[RunningEmulator] = [a, b]
        eventually(lambda: members(zk, cluster) == {a.settings.node_id, b.settings.node_id, c.node_id}, WAIT_S, "three nodes in ZooKeeper")

        # A normal $disconnect on a survivor, to compare shapes with.
        with connect(a.ws_url + "?token=allow:zoe") as ws:
            reference_id = connection_id(ws)
        reference = a.recorded("disconnect", reference_id)

        players = [sockets.enter_context(connect(c.ws_url + f"?token=allow:{user};secret-signature")) for user in users]
        ids = [connection_id(ws) for ws in players]
        connects = {cid: eventually(lambda cid=cid: read_event(c.event_dir, "connect", cid), WAIT_S, "connect events") for cid in ids}
        assert store.smembers(f"{cluster.prefix}node:{c.node_id}:connections") == set(ids)
        # Before the crash, a Lambda on a survivor reaches a player on C.
        assert httpx.post(f"{a.url}/relay/{ids[0]}", content="before", timeout=20).status_code == 200
        assert players[0].recv(timeout=20) == "before"
        before = {node.url: invocations(node.url, "WsFunction") for node in survivors}

        c.proc.send_signal(signal.SIGKILL)
        c.proc.wait(timeout=10)
        for ws in players:
            closed_by_server(ws)  # the sockets died with the process

        def purged() -> bool:
            records_gone = not any(store.exists(f"{cluster.prefix}conn:{cid}") for cid in ids)
            idle = all(status(n.url)["cluster"]["purgesRunning"] == 0 for n in survivors)
            recorded = all(any(read_event(n.event_dir, "disconnect", cid) for n in survivors) for cid in ids)
            return records_gone and idle and recorded

        eventually(lambda: members(zk, cluster) == {a.settings.node_id, b.settings.node_id}, WAIT_S, "C's znode to vanish")
        eventually(purged, WAIT_S, "the survivors to purge C's connections")

        ran = sum(invocations(n.url, "WsFunction") - before[n.url] for n in survivors)
        assert ran == len(ids), "exactly one $disconnect per connection across the survivors"
        assert sum(status(n.url)["cluster"]["lostConnectionsDisconnected"] for n in survivors) == len(ids)
        for user, cid in zip(users, ids, strict=True):
            found = [event for n in survivors if (event := read_event(n.event_dir, "disconnect", cid))]
            assert len(found) == 1
            context = found[0]["requestContext"]
            assert context["routeKey"] == "$disconnect" and context["eventType"] == "DISCONNECT"
            assert context["disconnectStatusCode"] == 1006
            assert context["disconnectReason"] == "node lost"
            assert context["authorizer"] == authorizer_of(user)
            assert context["connectionId"] == cid
            assert context["connectedAt"] == connects[cid]["requestContext"]["connectedAt"]
            assert context["identity"] == connects[cid]["requestContext"]["identity"]
            assert set(context) == set(reference["requestContext"]), "the same requestContext shape as a normal $disconnect"
            assert set(found[0]) == set(reference)
        assert not store.exists(f"{cluster.prefix}node:{c.node_id}:connections")
        assert c.node_id not in store.smembers(f"{cluster.prefix}owners")
        with pytest.raises(management(a.url).exceptions.GoneException):
            management(a.url).post_to_connection(ConnectionId=ids[0], Data=b"after")


def test_a_node_restarted_under_its_id_replaces_its_stale_znode_and_purges_its_old_connections(
    tmp_path_factory: pytest.TempPathFactory, cluster: Cluster, zk: KazooClient, store: redis.Redis, unique: str
) -> None:
    node_id = f"test-{unique}-r"
    event_dir = tmp_path_factory.mktemp("r")
    with node_process(event_dir, cluster, node_id) as first:
        _, old = zk.get(f"{cluster.root}/nodes/{node_id}")
        with connect(first.ws_url + "?token=allow:rui") as player:
            cid = connection_id(player)
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(timeout=10)
            closed_by_server(player)
    # Restarted at once: the old session has not expired, its znode is still there.
    with node_process(event_dir, cluster, node_id) as second:
        event = eventually(lambda: read_event(event_dir, "disconnect", cid), WAIT_S, "the restarted node to run the old $disconnect")
        assert event["requestContext"]["disconnectStatusCode"] == 1006
        assert event["requestContext"]["authorizer"] == authorizer_of("rui")
        data, stat = zk.get(f"{cluster.root}/nodes/{node_id}")
        assert data.decode() == second.url and stat.ephemeralOwner != old.ephemeralOwner
        eventually(lambda: not store.exists(f"{cluster.prefix}node:{node_id}:connections"), WAIT_S, "the old list to be dropped")


def test_a_clean_stop_closes_its_own_sockets_and_runs_their_disconnect_itself(
    tmp_path_factory: pytest.TempPathFactory, cluster: Cluster, zk: KazooClient, unique: str
) -> None:
    with start_emulator(tmp_path_factory.mktemp("a"), **cluster.harness_options()) as a:
        with node_process(tmp_path_factory.mktemp("d"), cluster, f"test-{unique}-d") as d:
            eventually(lambda: set(status(a.url)["cluster"]["nodes"]) == {a.settings.node_id, d.node_id}, WAIT_S, "A to see D")
            with connect(d.ws_url + "?token=allow:dora") as player:
                cid = connection_id(player)
                d.proc.send_signal(signal.SIGINT)  # Ctrl+C
                closed = closed_by_server(player)
            assert closed.rcvd is not None and (closed.rcvd.code, closed.rcvd.reason) == (1001, "Going away")
            assert d.proc.wait(timeout=30) == 0
        event = read_event(d.event_dir, "disconnect", cid)
        assert event is not None, "D ran the $disconnect of its own socket before exiting"
        assert event["requestContext"]["disconnectStatusCode"] == 1001
        assert event["requestContext"]["authorizer"] == authorizer_of("dora")
        eventually(lambda: members(zk, cluster) == {a.settings.node_id}, WAIT_S, "D to leave ZooKeeper")
        eventually(lambda: status(a.url)["cluster"]["nodes"] == [a.settings.node_id], WAIT_S, "A to see D leave")
        eventually(lambda: status(a.url)["cluster"]["purgesRunning"] == 0, WAIT_S, "A's sweep to finish")
        assert status(a.url)["cluster"]["lostConnectionsDisconnected"] == 0
        assert read_event(a.event_dir, "disconnect", cid) is None


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (make nginx, or apt-get install nginx)")
def test_behind_nginx_a_player_gets_frames_pushed_by_lambdas_on_either_node(
    tmp_path_factory: pytest.TempPathFactory, cluster: Cluster, zk: KazooClient
) -> None:
    options = cluster.harness_options()
    with (
        start_emulator(tmp_path_factory.mktemp("a"), **options) as a,
        start_emulator(tmp_path_factory.mktemp("b"), **options) as b,
    ):
        port = free_port()
        prefix = tmp_path_factory.mktemp("nginx")
        conf = write_nginx_config(f"127.0.0.1:{port}", [f"127.0.0.1:{a.settings.port}", f"127.0.0.1:{b.settings.port}"], prefix)
        binary = nginx_binary()
        assert binary is not None
        with (prefix / "nginx.log").open("wb") as log:
            nginx = start_nginx(binary, conf, stdout=log, stderr=subprocess.STDOUT)
        try:
            lb = f"http://127.0.0.1:{port}"
            eventually(lambda: _http_ok(lb + "/@emulator"), WAIT_S, "nginx to answer", details=lambda: (prefix / "nginx.log").read_text())
            with connect(f"ws://127.0.0.1:{port}/ws?token=allow:nia") as player:
                cid = connection_id(player)
                endpoints: set[str] = set()
                sent = 0
                while endpoints != {a.url + "/dev", b.url + "/dev"}:
                    assert sent < 10, f"nginx sent every request to the same node: {endpoints}"
                    reply = httpx.post(f"{lb}/relay/{cid}", content=f"frame {sent}", timeout=20)
                    assert reply.status_code == 200
                    endpoints.add(reply.json()["endpoint"])
                    assert player.recv(timeout=20) == f"frame {sent}"
                    sent += 1
        finally:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(timeout=15)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait(timeout=5)


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_prometheus_finds_every_node_in_zookeeper_and_drops_a_killed_one_without_a_restart(
    tmp_path_factory: pytest.TempPathFactory, cluster: Cluster, zk: KazooClient, unique: str
) -> None:
    """Prometheus's ZooKeeper (nerve) discovery, configured as local/observability/prometheus.yml does, on
    this cluster's root: both nodes are scraped; SIGKILL one, and its target is gone once its ZooKeeper
    session expires, while the survivor stays up. No Prometheus restart, no static list."""
    native = yaml.safe_load((REPO / "local/observability/prometheus.yml").read_text())
    (job,) = native["scrape_configs"]
    job = {
        **job,
        "nerve_sd_configs": [{**job["nerve_sd_configs"][0], "servers": [cluster.zookeeper_hosts], "paths": [f"{cluster.root}/metrics"]}],
    }
    config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [job]}
    with (
        start_emulator(tmp_path_factory.mktemp("a"), **cluster.harness_options()) as a,
        node_process(tmp_path_factory.mktemp("c"), cluster, f"test-{unique}-c") as c,
        running_prometheus(config, tmp_path_factory.mktemp("prometheus")) as prometheus,
    ):

        def targets() -> dict[str, str]:
            return {t["labels"]["node"]: t["health"] for t in prometheus.active_targets()}

        eventually(
            lambda: targets() == {a.settings.node_id: "up", c.node_id: "up"}, WAIT_S, "both nodes scraped", details=lambda: str(targets())
        )
        c.proc.kill()
        eventually(lambda: targets() == {a.settings.node_id: "up"}, WAIT_S, "the killed node's target gone", details=lambda: str(targets()))
        assert zk.exists(f"{cluster.root}/metrics/{c.node_id}") is None
