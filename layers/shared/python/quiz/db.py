"""PostgreSQL connection pools, built once per container and shared by every adapter."""

from __future__ import annotations

import threading

from psycopg_pool import ConnectionPool

_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def pool(url: str, *, max_size: int = 4) -> ConnectionPool:
    """The container's pool for ``url``. Small on purpose: one Lambda container serves one request at a time."""
    with _lock:
        found = _pools.get(url)
        if found is None:
            found = ConnectionPool(url, min_size=1, max_size=max_size, open=True, timeout=10, kwargs={"autocommit": False})
            _pools[url] = found
        return found


def close_all() -> None:
    with _lock:
        for p in _pools.values():
            p.close()
        _pools.clear()
