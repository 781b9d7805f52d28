"""Several emulator nodes: membership in ZooKeeper, owners' URLs, and the purge of a node that dies.

Each node holds an ephemeral znode `{root}/nodes/{node_id}` whose data is its advertised URL, for as long
as its ZooKeeper session lives, and `{root}/metrics/{node_id}` (nerve JSON) for Prometheus to find it. A management call for a connection owned by another node is forwarded
to the URL found there; a node without a znode is dead, and its connections are gone (410).

Every node watches `{root}/nodes`. When a node's znode vanishes (its process crashed or froze and the
session expired), each survivor lists the connections the registry still holds for that node and
claims them one by one; `claim` is atomic, so exactly one survivor runs `$disconnect` for each, with
`disconnectStatusCode` 1006 and the authorizer context the registry kept. A node that stops cleanly
closes its own sockets first (their `$disconnect` runs there) and leaves ZooKeeper afterwards, so the
survivors find nothing to purge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException, NodeExistsError, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.recipe.watchers import ChildrenWatch

from local.emulator.connections import ConnectionRegistry
from local.emulator.websocket import GOING_AWAY, WebSocketGateway

log = logging.getLogger("emulator.discovery")

PURGE_CONCURRENCY = 16  # $disconnect invocations in flight per purge (the runtime bounds workers anyway)


class DiscoveryError(Exception):
    """ZooKeeper could not be reached or this node could not register; the message says where."""


class ZooKeeperMembership:
    """The kazoo adapter: this node's ephemeral znode and the live set of nodes. Its calls block."""

    def __init__(self, hosts: str, root: str, node_id: str, url: str, session_timeout_s: float = 10.0) -> None:
        self.hosts = hosts
        self.nodes_path = f"{root.rstrip('/')}/nodes"
        self.node_id = node_id
        self.path = f"{self.nodes_path}/{node_id}"
        self.metrics_path = f"{root.rstrip('/')}/metrics/{node_id}"
        self.url = url
        self._client = KazooClient(hosts=hosts, timeout=session_timeout_s)
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()
        self._session_lost = False
        self._leaving = False
        self._on_change: Callable[[frozenset[str]], None] = lambda nodes: None
        self._on_session_lost: Callable[[], None] = lambda: None

    def join(self, on_change: Callable[[frozenset[str]], None], on_session_lost: Callable[[], None], timeout_s: float = 15.0) -> None:
        """Connect, register this node and watch the others; `on_change` gets every new set of live nodes.

        Callbacks run on kazoo's threads and must not block."""
        self._on_change, self._on_session_lost = on_change, on_session_lost
        try:
            self._client.start(timeout=timeout_s)
        except KazooTimeoutError as exc:
            raise DiscoveryError(f"ZooKeeper at {self.hosts} is not answering (make services)") from exc
        try:
            self._client.ensure_path(self.nodes_path)
            self._register()
        except KazooException as exc:
            self.leave()
            raise DiscoveryError(f"could not register {self.path} in ZooKeeper at {self.hosts}: {exc!r}") from exc
        self._client.add_listener(self._state_changed)
        ChildrenWatch(self._client, self.nodes_path, self._children_changed)

    def _register(self) -> None:
        session = self._client.client_id[0] if self._client.client_id else None
        for _ in range(5):
            stat = self._client.exists(self.path)
            if stat is not None:
                if stat.ephemeralOwner == session:
                    return
                # Left by this node's previous process (killed before its session expired), or another
                # process using the same --node-id; either way this process is the node now.
                log.warning("replacing %s left by ZooKeeper session %#x", self.path, stat.ephemeralOwner)
                with contextlib.suppress(NoNodeError):
                    self._client.delete(self.path, version=stat.version)
            try:
                self._client.create(self.path, self.url.encode(), ephemeral=True, makepath=True)
                log.info("registered %s -> %s", self.path, self.url)
                self._register_metrics_target()
                return
            except NodeExistsError:
                continue
        raise DiscoveryError(f"{self.path} keeps being recreated by someone else: is --node-id {self.node_id} used twice?")

    def _register_metrics_target(self) -> None:
        """`{root}/metrics/{node_id}`, ephemeral too, in the Airbnb nerve format Prometheus's ZooKeeper
        discovery reads ({"host", "port", "name"}): Prometheus scrapes /metrics of every live node and
        drops a dead one when its session expires, without a restart (local/observability/prometheus.yml)."""
        parsed = urlsplit(self.url)
        if parsed.hostname is None:
            return
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        data = json.dumps({"host": parsed.hostname, "port": port, "name": self.node_id}).encode()
        with contextlib.suppress(NoNodeError):
            self._client.delete(self.metrics_path)  # a previous process's, as for the node's own znode
        try:
            self._client.create(self.metrics_path, data, ephemeral=True, makepath=True)
        except KazooException as exc:  # metrics discovery is a convenience; the node serves without it
            log.warning("could not register %s for Prometheus: %r", self.metrics_path, exc)

    def _register_again(self) -> None:
        try:
            self._register()
        except (KazooException, DiscoveryError) as exc:
            log.error("could not register %s again after the session was lost: %r", self.path, exc)

    def _state_changed(self, state: str) -> None:
        if self._leaving:
            return  # stop() ends the session on purpose, and kazoo reports that as LOST too
        if state == KazooState.LOST:
            log.warning("ZooKeeper session lost: the other nodes take this one for dead")
            self._session_lost = True
            self._on_session_lost()
        elif state == KazooState.CONNECTED and self._session_lost:
            self._session_lost = False
            self._client.handler.spawn(self._register_again)  # listeners must not block

    def _children_changed(self, children: list[str]) -> None:
        with self._lock:
            self._urls.clear()  # a node may have come back under the same id with another URL
        try:
            self._on_change(frozenset(children))
        except Exception:  # a watch callback must not die: later changes would go unseen
            log.exception("handling a change of %s failed", self.nodes_path)

    def cached_url(self, node_id: str) -> str | None:
        with self._lock:
            return self._urls.get(node_id)

    def url_of(self, node_id: str) -> str | None:
        """The advertised URL of a live node, None if it has no znode (it is dead, or never existed)."""
        cached = self.cached_url(node_id)
        if cached is not None:
            return cached
        try:
            data, _ = self._client.get(f"{self.nodes_path}/{node_id}")
        except NoNodeError:
            return None
        except KazooException as exc:
            log.warning("reading %s/%s failed: %r", self.nodes_path, node_id, exc)
            return None
        url = bytes(data).decode()
        with self._lock:
            self._urls[node_id] = url
        return url

    def is_live(self, node_id: str) -> bool:
        """Does the node have a znode now? When ZooKeeper cannot say, assume it does (purge nothing)."""
        try:
            return self._client.exists(f"{self.nodes_path}/{node_id}") is not None
        except KazooException as exc:
            log.warning("checking %s/%s failed: %r", self.nodes_path, node_id, exc)
            return True

    def leave(self) -> None:
        """End the session: the znode goes with it."""
        self._leaving = True
        with contextlib.suppress(KazooException):
            self._client.stop()
        self._client.close()


class ClusterNode:
    """This node among others: joins ZooKeeper, finds owners' URLs, and purges the connections of lost nodes."""

    def __init__(self, membership: ZooKeeperMembership, registry: ConnectionRegistry, gateway: WebSocketGateway) -> None:
        self.membership = membership
        self.registry = registry
        self.gateway = gateway
        self.node_id = membership.node_id
        self.live: frozenset[str] = frozenset()
        self.lost_connections_disconnected = 0  # $disconnects this node ran for connections of lost nodes
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def purges_running(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # This process has no sockets yet: whatever the registry lists for this node id was left by a
        # previous process that died. Listed before registering, so nothing accepted later is included.
        stale = await self.registry.connections_of(self.node_id)
        await asyncio.to_thread(self.membership.join, self._changed_threadsafe, self._session_lost_threadsafe)
        if stale:
            log.info("%d connections left by this node's previous process: running their $disconnect", len(stale))
            self._spawn(self._purge(self.node_id, stale))

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Let running purges finish (bounded), then leave ZooKeeper. Call after this node's sockets are closed."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
        await asyncio.to_thread(self.membership.leave)

    async def owner_url(self, node_id: str) -> str | None:
        return self.membership.cached_url(node_id) or await asyncio.to_thread(self.membership.url_of, node_id)

    # ------------------------------------------------------------------ on kazoo's threads

    def _changed_threadsafe(self, nodes: frozenset[str]) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._changed, nodes)

    def _session_lost_threadsafe(self) -> None:
        # The survivors are purging this node's connections: close its sockets so clients reconnect
        # rather than sit on a connection the cluster forgot. Their $disconnect runs once, wherever the
        # registry record is claimed first.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.gateway.close_all, *GOING_AWAY)

    # ------------------------------------------------------------------ on the event loop

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _changed(self, nodes: frozenset[str]) -> None:
        gone = sorted(self.live - nodes - {self.node_id})
        if gone:
            log.info("nodes left the cluster: %s", ", ".join(gone))
        self.live = nodes
        self._spawn(self._sweep(nodes))

    async def _sweep(self, live: frozenset[str]) -> None:
        """Purge every node the registry lists connections for that has no znode (including nodes that
        died while no node was watching)."""
        try:
            owners = await self.registry.owners()
        except Exception:
            log.exception("listing the registry's nodes failed")
            return
        for node_id in owners:
            if node_id != self.node_id and node_id not in live:
                await self._purge_if_lost(node_id)

    async def _purge_if_lost(self, node_id: str) -> None:
        # The list is read before asking ZooKeeper: a node that comes back registers before it accepts
        # connections, so if it is still absent now, none of the listed ids is one of its new ones.
        ids = await self.registry.connections_of(node_id)
        if not ids or await asyncio.to_thread(self.membership.is_live, node_id):
            return
        await self._purge(node_id, ids)

    async def _purge(self, node_id: str, ids: list[str]) -> None:
        slots = asyncio.Semaphore(PURGE_CONCURRENCY)

        async def disconnect(connection_id: str) -> int:
            async with slots:
                record = await self.registry.claim(connection_id)
                if record is None:  # another survivor claimed it, or it expired
                    return 0
                self.lost_connections_disconnected += 1
                await self.gateway.disconnect_lost(record)
                return 1

        try:
            done = await asyncio.gather(*(disconnect(i) for i in ids))
            await self.registry.remove_of_node(node_id, ids)
        except Exception:
            log.exception("purging the connections of lost node %s failed", node_id)
            return
        log.info("lost node %s: ran $disconnect for %d of its %d listed connections", node_id, sum(done), len(ids))
