"""The container's PostgreSQL pool gives every borrower a connection in its default state, and takes a
connection back on the caller's thread (no hand-off to the pool's worker for an in-memory reset).
Against the real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from quiz import db

pytestmark = pytest.mark.integration


@pytest.fixture
def one_connection_pool(database_url: str) -> Iterator[db.CheckedPool]:
    url = f"{database_url}{'&' if '?' in database_url else '?'}application_name=reset{uuid.uuid4().hex[:8]}"
    pool = db.pool(url, max_size=1)
    assert isinstance(pool, db.CheckedPool)
    pool.wait()
    try:
        yield pool
    finally:
        pool.close()
        db._pools.pop(url, None)


def test_a_returned_connection_is_reset_and_back_in_the_pool_at_once(one_connection_pool: db.CheckedPool) -> None:
    pool = one_connection_pool
    with pool.connection() as conn:
        conn.autocommit = True
        conn.row_factory = dict_row  # type: ignore[assignment]
        backend = conn.info.backend_pid
    # Back before putconn returned: no worker thread to wait for.
    assert pool.get_stats()["pool_available"] == 1
    with pool.connection() as again:
        assert again.info.backend_pid == backend  # the same connection, not a replacement
        assert again.autocommit is False
        assert again.execute("SELECT 1").fetchone() == (1,)  # tuples again, not dicts
        again.rollback()


def test_a_connection_returned_inside_a_transaction_is_rolled_back(one_connection_pool: db.CheckedPool, database_url: str) -> None:
    pool = one_connection_pool
    table = f"pool_reset_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f"CREATE TABLE {table} (n int)")
        try:
            conn = pool.getconn()
            conn.row_factory = dict_row  # type: ignore[assignment]
            conn.execute(f"INSERT INTO {table} VALUES (1)")  # an open transaction, never committed
            pool.putconn(conn)
            with pool.connection() as again:
                assert again.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                assert again.execute("SELECT 1").fetchone() == (1,), "rolled back, then reset: tuples again"
                again.rollback()
                again.autocommit = True
            row = admin.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row == (0,)
        finally:
            admin.execute(f"DROP TABLE {table}")


def test_a_connection_returned_in_a_failed_transaction_is_rolled_back_and_kept(one_connection_pool: db.CheckedPool) -> None:
    pool = one_connection_pool
    conn = pool.getconn()
    conn.row_factory = dict_row  # type: ignore[assignment]
    backend = conn.info.backend_pid
    with pytest.raises(psycopg.errors.DivisionByZero):
        conn.execute("SELECT 1 / 0")
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
    pool.putconn(conn)
    with pool.connection() as again:
        assert again.info.backend_pid == backend
        assert again.execute("SELECT 2").fetchone() == (2,)
        again.rollback()
