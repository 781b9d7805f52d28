"""PostgreSQL connection pools, built once per container and shared by every adapter.

A failing database must give a prompt 503, well inside the function's timeout, and a database that
comes back must be used again at once. Hence short, explicit waits (`POOL_WAIT_S`, cut further to the
invocation's remaining time by `quiz.budget`; `CONNECT_TIMEOUT_S`; `RECONNECT_TIMEOUT_S`, after which
the pool stops backing off and the next request tries a fresh connection), and a check on checkout that
replaces a connection whose server has gone (a restart, `pg_terminate_backend`) instead of failing the
request with it. A pool that cannot give a connection in time raises `psycopg_pool.PoolTimeout`, a
`psycopg.OperationalError`, which the adapters turn into `DependencyUnavailable` (503, Retry-After).
"""

from __future__ import annotations

import select
import threading
import time
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from quiz import budget

POOL_WAIT_S = budget.MAX_WAIT_S  # the longest wait for a connection; the function's timeout is 10 s
CONNECT_TIMEOUT_S = 2  # libpq's connect_timeout (whole seconds; 2 is its minimum)
RECONNECT_TIMEOUT_S = 2.0  # give up a background reconnection after this; the next request starts another

_pools: dict[str, ConnectionPool] = {}
_lock = threading.Lock()


def _reset(conn: psycopg.Connection) -> None:
    """Whatever an adapter changed on a connection, the next borrower gets the defaults (in memory, no I/O).

    Done by `CheckedPool.putconn` on the caller's thread, not through the pool's ``reset=`` hook: with
    a hook, psycopg_pool hands every returned connection to its worker thread, a thread switch (and a
    fight for the GIL) on every request for what is two attribute writes."""
    if conn.pgconn.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
        conn.rollback()  # returned inside a transaction (an exception mid-way): what the pool would do
    if conn.pgconn.transaction_status != TransactionStatus.IDLE:
        return  # closed or busy: the pool discards it
    if conn.autocommit:
        conn.autocommit = False
    conn.row_factory = tuple_row


def usable(conn: psycopg.Connection[Any]) -> bool:
    """Whether an idle pooled connection can still serve a request.

    An idle connection's socket has nothing to read unless the server spoke first: a backend that is
    terminated or shut down sends its FATAL notice and closes. Only then is the connection asked with
    `ConnectionPool.check_connection` (an empty query), so a healthy checkout costs no round trip."""
    if conn.closed or conn.broken:
        return False
    try:
        # poll, not select: a busy process (the emulator's sockets) has descriptors past select's 1024.
        probe = select.poll()
        probe.register(conn.fileno(), select.POLLIN)
        if probe.poll(0):  # data, a hang-up or an error
            ConnectionPool.check_connection(conn)
    except (psycopg.Error, OSError):
        return False
    return True


class CheckedPool(ConnectionPool):
    """A pool whose checkout skips, and replaces, connections the server has dropped; waits within the budget."""

    def getconn(self, timeout: float | None = None) -> psycopg.Connection[Any]:
        wait = budget.wait_seconds(self.timeout) if timeout is None else timeout
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PoolTimeout(f"couldn't get a usable connection after {wait:.2f} sec")
            conn = super().getconn(timeout=left)
            if usable(conn):
                return conn
            # Closed, it goes back to be discarded; the pool opens a replacement in the background.
            conn.close()
            self.putconn(conn)

    def putconn(self, conn: psycopg.Connection[Any]) -> None:
        try:
            _reset(conn)
        except psycopg.Error:
            conn.close()  # a rollback that failed: the pool discards it and opens a replacement
        finally:
            super().putconn(conn)  # whatever happened, the pool gets it back (and discards it if unusable)


def pool(url: str, *, max_size: int = 4) -> ConnectionPool:
    """The container's pool for ``url``. Small on purpose: one Lambda container serves one request at a
    time (a few connections cover its adapters and tests that share a pool between threads).

    psycopg prepares a statement on a connection after its fifth use (``prepare_threshold``), so the
    answer path's fixed statements are planned once per connection, not once per answer."""
    with _lock:
        found = _pools.get(url)
        if found is None:
            found = CheckedPool(
                url,
                min_size=1,
                max_size=max_size,
                open=True,
                timeout=POOL_WAIT_S,
                reconnect_timeout=RECONNECT_TIMEOUT_S,
                kwargs={"autocommit": False, "connect_timeout": CONNECT_TIMEOUT_S},
            )
            _pools[url] = found
        return found


def close_all() -> None:
    with _lock:
        for p in _pools.values():
            p.close()
        _pools.clear()
