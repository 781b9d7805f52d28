"""PostgreSQL connection pools, built once per container and shared by every adapter."""

from __future__ import annotations

import threading

import psycopg
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def _reset(conn: psycopg.Connection) -> None:
    """Whatever an adapter changed on a connection, the next borrower gets the defaults (in memory, no I/O)."""
    if conn.autocommit:
        conn.autocommit = False
    conn.row_factory = tuple_row


def pool(url: str, *, max_size: int = 4) -> ConnectionPool:
    """The container's pool for ``url``. Small on purpose: one Lambda container serves one request at a
    time (a few connections cover its adapters and tests that share a pool between threads).

    psycopg prepares a statement on a connection after its fifth use (``prepare_threshold``), so the
    answer path's fixed statements are planned once per connection, not once per answer."""
    with _lock:
        found = _pools.get(url)
        if found is None:
            found = ConnectionPool(url, min_size=1, max_size=max_size, open=True, timeout=10, kwargs={"autocommit": False}, reset=_reset)
            _pools[url] = found
        return found


def close_all() -> None:
    with _lock:
        for p in _pools.values():
            p.close()
        _pools.clear()
