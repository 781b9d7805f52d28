"""Where every WebSocket connection lives: the `ConnectionRegistry` port and its in-memory and Redis adapters.

The registry records, per connection, the emulator node that owns the socket, what GetConnection
returns (connectedAt, lastActiveAt, identity) and what the REQUEST authorizer returned (principalId and
context, never the token), so that another node can run `$disconnect` for it. The sockets themselves stay
in the owning node's memory; the registry is what lets several nodes share one view (a management call
reaching the wrong node finds the owner here) and lists each node's connections, so that when a node dies
the survivors purge them without scanning.

A connection's record is also the right to run its `$disconnect`: `claim` removes it atomically and only
one caller gets it back, so a connection whose node was taken for dead is disconnected exactly once.

Without ZooKeeper, nodes register their advertised URL here so a call can be forwarded to the owner.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol, cast

import redis.asyncio as aioredis


@dataclass(frozen=True)
class ConnectionRecord:
    connection_id: str
    node_id: str
    connected_at_ms: int
    last_active_at_ms: int
    source_ip: str
    user_agent: str
    authorizer: Mapping[str, Any] | None = None  # requestContext.authorizer: principalId and context


class ConnectionRegistry(Protocol):
    """The port: which node owns which connection, and the facts GetConnection and $disconnect need."""

    async def add(self, record: ConnectionRecord, ttl_s: float) -> None: ...

    async def get(self, connection_id: str) -> ConnectionRecord | None: ...

    async def touch(self, connection_id: str, at_ms: int) -> None: ...

    async def claim(self, connection_id: str) -> ConnectionRecord | None:
        """Remove the record and return it; None when it was already gone (someone else claimed it)."""
        ...

    async def remove(self, connection_id: str) -> bool:
        """`claim` without the record: True for the one caller that removed it."""
        ...

    async def connections_of(self, node_id: str) -> list[str]:
        """The ids of the connections a node added and nobody has removed yet (some may have expired)."""
        ...

    async def owners(self) -> list[str]:
        """Nodes that may still have connections listed."""
        ...

    async def remove_of_node(self, node_id: str, connection_ids: list[str]) -> None:
        """Drop ids from a node's list (after a purge); the node leaves `owners` when its list is empty."""
        ...

    async def register_node(self, node_id: str, url: str) -> None: ...

    async def node_url(self, node_id: str) -> str | None: ...

    async def close(self) -> None: ...


class InMemoryConnectionRegistry:
    """One node's registry, in process memory (the default for a single node)."""

    def __init__(self) -> None:
        self._records: dict[str, ConnectionRecord] = {}
        self._by_node: dict[str, set[str]] = {}
        self._nodes: dict[str, str] = {}

    async def add(self, record: ConnectionRecord, ttl_s: float) -> None:
        self._records[record.connection_id] = record
        self._by_node.setdefault(record.node_id, set()).add(record.connection_id)

    async def get(self, connection_id: str) -> ConnectionRecord | None:
        return self._records.get(connection_id)

    async def touch(self, connection_id: str, at_ms: int) -> None:
        record = self._records.get(connection_id)
        if record is not None:
            self._records[connection_id] = ConnectionRecord(**{**asdict(record), "last_active_at_ms": at_ms})

    async def claim(self, connection_id: str) -> ConnectionRecord | None:
        record = self._records.pop(connection_id, None)
        if record is not None:
            self._by_node.get(record.node_id, set()).discard(connection_id)
        return record

    async def remove(self, connection_id: str) -> bool:
        return await self.claim(connection_id) is not None

    async def connections_of(self, node_id: str) -> list[str]:
        return sorted(self._by_node.get(node_id, set()))

    async def owners(self) -> list[str]:
        return sorted(node for node, ids in self._by_node.items() if ids)

    async def remove_of_node(self, node_id: str, connection_ids: list[str]) -> None:
        ids = self._by_node.get(node_id, set())
        ids.difference_update(connection_ids)
        if not ids:
            self._by_node.pop(node_id, None)

    async def register_node(self, node_id: str, url: str) -> None:
        self._nodes[node_id] = url

    async def node_url(self, node_id: str) -> str | None:
        return self._nodes.get(node_id)

    async def close(self) -> None:
        self._records.clear()
        self._by_node.clear()


class RedisConnectionRegistry:
    """A registry shared by every node through Redis: one hash per connection under `prefix`.

    Keys: `{prefix}conn:{id}` (hash; expires after the maximum connection duration, so a crashed
    node's connections disappear by themselves even if no node purges them), `{prefix}node:{node_id}:connections`
    (set of that node's connection ids), `{prefix}owners` (set of the nodes that have such a set) and,
    without ZooKeeper, `{prefix}node:{node_id}` (the node's URL).
    """

    # Read and delete in one step, so that exactly one caller gets the record back.
    _CLAIM = """
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return fields end
redis.call('DEL', KEYS[1])
for i = 1, #fields, 2 do
  if fields[i] == 'node_id' then redis.call('SREM', ARGV[1] .. fields[i + 1] .. ARGV[2], ARGV[3]) end
end
return fields
"""
    _FORGET = """
if #ARGV > 1 then redis.call('SREM', KEYS[1], unpack(ARGV, 2)) end
if redis.call('SCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 0
"""

    def __init__(self, url: str, prefix: str = "emulator:") -> None:
        self.prefix = prefix
        # A blocking pool: a burst of connects (hundreds at once) waits for a free connection instead of
        # failing with "Too many connections" at redis-py's default cap of 100.
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=10, decode_responses=True)
        self._redis = aioredis.Redis.from_pool(pool)

    def _key(self, connection_id: str) -> str:
        return f"{self.prefix}conn:{connection_id}"

    def _node_set(self, node_id: str) -> str:
        return f"{self.prefix}node:{node_id}:connections"

    @property
    def _owners(self) -> str:
        return f"{self.prefix}owners"

    async def add(self, record: ConnectionRecord, ttl_s: float) -> None:
        fields = {k: str(v) for k, v in asdict(record).items() if k != "authorizer"}
        fields["authorizer"] = json.dumps(record.authorizer)
        ttl = max(1, int(ttl_s) + 60)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(record.connection_id), mapping=cast(Any, fields))
            pipe.expire(self._key(record.connection_id), ttl)
            pipe.sadd(self._node_set(record.node_id), record.connection_id)
            pipe.expire(self._node_set(record.node_id), ttl)
            pipe.sadd(self._owners, record.node_id)
            await pipe.execute()

    @staticmethod
    def _record(fields: Mapping[str, str]) -> ConnectionRecord | None:
        if not fields or "node_id" not in fields:
            return None
        authorizer = json.loads(fields.get("authorizer") or "null")
        return ConnectionRecord(
            connection_id=str(fields["connection_id"]),
            node_id=str(fields["node_id"]),
            connected_at_ms=int(fields["connected_at_ms"]),
            last_active_at_ms=int(fields["last_active_at_ms"]),
            source_ip=str(fields["source_ip"]),
            user_agent=str(fields["user_agent"]),
            authorizer=authorizer if isinstance(authorizer, dict) else None,
        )

    async def get(self, connection_id: str) -> ConnectionRecord | None:
        fields = await self._redis.hgetall(self._key(connection_id))
        return self._record({str(k): str(v) for k, v in fields.items()})

    async def touch(self, connection_id: str, at_ms: int) -> None:
        # HSET only if the hash still exists, so a late touch never resurrects a removed connection.
        await self._redis.eval(
            "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'last_active_at_ms', ARGV[1]) end return 0",
            1,
            self._key(connection_id),
            str(at_ms),
        )

    async def claim(self, connection_id: str) -> ConnectionRecord | None:
        flat = await self._redis.eval(self._CLAIM, 1, self._key(connection_id), f"{self.prefix}node:", ":connections", connection_id)
        values = [str(v) for v in flat or []]
        return self._record(dict(zip(values[::2], values[1::2], strict=True)))

    async def remove(self, connection_id: str) -> bool:
        return await self.claim(connection_id) is not None

    async def connections_of(self, node_id: str) -> list[str]:
        return sorted(str(i) for i in await self._redis.smembers(self._node_set(node_id)))

    async def owners(self) -> list[str]:
        return sorted(str(n) for n in await self._redis.smembers(self._owners))

    async def remove_of_node(self, node_id: str, connection_ids: list[str]) -> None:
        # In slices: Lua's unpack() has a stack limit of a few thousand values.
        for start in range(0, max(1, len(connection_ids)), 1000):
            part = connection_ids[start : start + 1000]
            await self._redis.eval(self._FORGET, 2, self._node_set(node_id), self._owners, node_id, *part)

    async def register_node(self, node_id: str, url: str) -> None:
        await self._redis.set(f"{self.prefix}node:{node_id}", url)

    async def node_url(self, node_id: str) -> str | None:
        value = await self._redis.get(f"{self.prefix}node:{node_id}")
        return str(value) if value is not None else None

    async def close(self) -> None:
        await self._redis.aclose()


def registry_from_url(url: str | None, prefix: str) -> ConnectionRegistry:
    """`None` or "memory" -> in-memory; "redis://..." -> shared through Redis."""
    if not url or url == "memory":
        return InMemoryConnectionRegistry()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisConnectionRegistry(url, prefix)
    raise ValueError(f"unsupported registry {url!r}: use 'memory' or a redis:// URL")
