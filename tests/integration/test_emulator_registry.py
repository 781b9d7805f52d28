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
