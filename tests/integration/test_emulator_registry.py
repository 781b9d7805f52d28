"""The emulator's Redis connection registry against the real Redis (unique key prefix per test)."""

from __future__ import annotations

import asyncio

import pytest
import redis

from local.emulator.connections import ConnectionRecord, InMemoryConnectionRegistry, RedisConnectionRegistry, registry_from_url

pytestmark = pytest.mark.integration

RECORD = ConnectionRecord("Abc123=", "node-1", 1_000, 1_000, "127.0.0.1", "agent/1")


async def _exercise(registry: RedisConnectionRegistry | InMemoryConnectionRegistry) -> None:
    await registry.register_node("node-1", "http://127.0.0.1:1")
    assert await registry.node_url("node-1") == "http://127.0.0.1:1"
    assert await registry.node_url("node-2") is None
    await registry.add(RECORD, ttl_s=60)
    assert await registry.get("Abc123=") == RECORD
    await registry.touch("Abc123=", 2_000)
    got = await registry.get("Abc123=")
    assert got is not None and got.last_active_at_ms == 2_000 and got.node_id == "node-1"
    await registry.remove("Abc123=")
    assert await registry.get("Abc123=") is None
    await registry.touch("Abc123=", 3_000)  # a late touch never resurrects a removed connection
    assert await registry.get("Abc123=") is None
    await registry.close()


def test_redis_registry(redis_url: str, unique: str) -> None:
    prefix = f"test:registry:{unique}:"
    try:
        asyncio.run(_exercise(RedisConnectionRegistry(redis_url, prefix)))
    finally:
        store = redis.Redis.from_url(redis_url)
        for key in store.scan_iter(f"{prefix}*"):
            store.delete(key)
        store.close()


def test_in_memory_registry_behaves_the_same() -> None:
    asyncio.run(_exercise(InMemoryConnectionRegistry()))


def test_registry_from_url() -> None:
    assert isinstance(registry_from_url(None, "p:"), InMemoryConnectionRegistry)
    assert isinstance(registry_from_url("memory", "p:"), InMemoryConnectionRegistry)
    with pytest.raises(ValueError, match="unsupported registry"):
        registry_from_url("mysql://x", "p:")


async def _exercise_claims(registry: RedisConnectionRegistry | InMemoryConnectionRegistry) -> None:
    authorizer = {"principalId": "ana", "userId": "ana", "level": 7}
    mine = [ConnectionRecord(f"A{i}=", "node-a", 1_000, 1_000, "127.0.0.1", "", authorizer) for i in range(3)]
    other = ConnectionRecord("B0=", "node-b", 1_000, 1_000, "127.0.0.1", "agent/1")
    for record in [*mine, other]:
        await registry.add(record, ttl_s=60)
    assert await registry.connections_of("node-a") == ["A0=", "A1=", "A2="]
    assert await registry.owners() == ["node-a", "node-b"]
    assert await registry.get("A0=") == mine[0], "the authorizer's principal and context are kept"
    claims = await asyncio.gather(*(registry.claim("A1=") for _ in range(5)))
    assert [c for c in claims if c is not None] == [mine[1]], "exactly one caller gets the record"
    assert await registry.remove("A0=") is True
    assert await registry.remove("A0=") is False
    assert await registry.connections_of("node-a") == ["A2="]
    await registry.remove_of_node("node-a", ["A2="])
    assert await registry.connections_of("node-a") == []
    assert await registry.owners() == ["node-b"]
    await registry.close()


def test_redis_registry_claims_once_and_lists_by_node(redis_url: str, unique: str) -> None:
    prefix = f"test:registry:{unique}:"
    try:
        asyncio.run(_exercise_claims(RedisConnectionRegistry(redis_url, prefix)))
    finally:
        store = redis.Redis.from_url(redis_url)
        for key in store.scan_iter(f"{prefix}*"):
            store.delete(key)
        store.close()


def test_in_memory_registry_claims_the_same_way() -> None:
    asyncio.run(_exercise_claims(InMemoryConnectionRegistry()))
