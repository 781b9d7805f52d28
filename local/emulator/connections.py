"""Where every WebSocket connection lives: the `ConnectionRegistry` port and its in-memory and Redis adapters.

The registry records, per connection, the emulator node that owns the socket and what GetConnection
returns (connectedAt, lastActiveAt, identity). The sockets themselves stay in the owning node's memory;
the registry is what lets several nodes share one view (a management call reaching the wrong node finds
the owner here). Nodes register their advertised URL so a call can be forwarded to the owner.
"""

from __future__ import annotations

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


class ConnectionRegistry(Protocol):
    """The port: which node owns which connection, and the facts GetConnection reports."""

    async def add(self, record: ConnectionRecord, ttl_s: float) -> None: ...

    async def get(self, connection_id: str) -> ConnectionRecord | None: ...

    async def touch(self, connection_id: str, at_ms: int) -> None: ...

    async def remove(self, connection_id: str) -> None: ...

    async def register_node(self, node_id: str, url: str) -> None: ...

    async def node_url(self, node_id: str) -> str | None: ...

    async def close(self) -> None: ...


class InMemoryConnectionRegistry:
    """One node's registry, in process memory (the default for a single node)."""

    def __init__(self) -> None:
        self._records: dict[str, ConnectionRecord] = {}
        self._nodes: dict[str, str] = {}

    async def add(self, record: ConnectionRecord, ttl_s: float) -> None:
        self._records[record.connection_id] = record

    async def get(self, connection_id: str) -> ConnectionRecord | None:
        return self._records.get(connection_id)

    async def touch(self, connection_id: str, at_ms: int) -> None:
        record = self._records.get(connection_id)
        if record is not None:
            self._records[connection_id] = ConnectionRecord(**{**asdict(record), "last_active_at_ms": at_ms})

    async def remove(self, connection_id: str) -> None:
        self._records.pop(connection_id, None)

    async def register_node(self, node_id: str, url: str) -> None:
        self._nodes[node_id] = url

    async def node_url(self, node_id: str) -> str | None:
        return self._nodes.get(node_id)

    async def close(self) -> None:
        self._records.clear()


class RedisConnectionRegistry:
    """A registry shared by every node through Redis: one hash per connection under `prefix`.

    Keys: `{prefix}conn:{id}` (hash; expires after the maximum connection duration, so a crashed
    node's connections disappear by themselves) and `{prefix}node:{node_id}` (the node's URL).
    """

    def __init__(self, url: str, prefix: str = "emulator:") -> None:
        self.prefix = prefix
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)

    def _key(self, connection_id: str) -> str:
        return f"{self.prefix}conn:{connection_id}"

    async def add(self, record: ConnectionRecord, ttl_s: float) -> None:
        fields = {k: str(v) for k, v in asdict(record).items()}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._key(record.connection_id), mapping=cast(Any, fields))
            pipe.expire(self._key(record.connection_id), max(1, int(ttl_s) + 60))
            await pipe.execute()

    async def get(self, connection_id: str) -> ConnectionRecord | None:
        fields = await self._redis.hgetall(self._key(connection_id))
        if not fields or "node_id" not in fields:
            return None
        return ConnectionRecord(
            connection_id=str(fields["connection_id"]),
            node_id=str(fields["node_id"]),
            connected_at_ms=int(fields["connected_at_ms"]),
            last_active_at_ms=int(fields["last_active_at_ms"]),
            source_ip=str(fields["source_ip"]),
            user_agent=str(fields["user_agent"]),
        )

    async def touch(self, connection_id: str, at_ms: int) -> None:
        # HSET only if the hash still exists, so a late touch never resurrects a removed connection.
        await self._redis.eval(
            "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'last_active_at_ms', ARGV[1]) end return 0",
            1,
            self._key(connection_id),
            str(at_ms),
        )

    async def remove(self, connection_id: str) -> None:
        await self._redis.delete(self._key(connection_id))

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
