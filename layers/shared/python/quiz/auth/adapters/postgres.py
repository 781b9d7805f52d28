"""PostgreSQL adapters: accounts (`users`) and refresh-token families (`auth_sessions`, `refresh_tokens`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from quiz.auth.domain import Role, User
from quiz.auth.errors import UsernameTaken
from quiz.auth.ports import Rotation
from quiz.errors import DependencyUnavailable

_USER_COLUMNS = "id, username, display_name, password_hash, role, created_at, updated_at"


@contextmanager
def _transaction(pool: ConnectionPool) -> Iterator[psycopg.Cursor[dict[str, Any]]]:
    """One transaction on a pooled connection; commits on success. Connection trouble becomes 503."""
    try:
        with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            yield cur
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise DependencyUnavailable("the database is unavailable; try again shortly") from exc


def _user(row: dict[str, Any] | None) -> User | None:
    if row is None:
        return None
    return User(
        row["id"], row["username"], row["display_name"], row["password_hash"], Role(row["role"]), row["created_at"], row["updated_at"]
    )


class PostgresUserRepository:
    """Accounts. Usernames are unique case-insensitively (the `lower(username)` index)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def add(self, user: User) -> None:
        try:
            with _transaction(self._pool) as cur:
                cur.execute(
                    "INSERT INTO users (id, username, display_name, password_hash, role, created_at, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    (user.id, user.username, user.display_name, user.password_hash, user.role.value, user.created_at, user.updated_at),
                )
        except psycopg.errors.UniqueViolation as exc:
            raise UsernameTaken("this username is already taken", details={"field": "username"}) from exc

    def by_username(self, username: str) -> User | None:
        with _transaction(self._pool) as cur:
            cur.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE lower(username) = lower(%s)", (username,))
            return _user(cur.fetchone())

    def by_id(self, user_id: UUID) -> User | None:
        with _transaction(self._pool) as cur:
            cur.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
            return _user(cur.fetchone())

    def rename(self, user_id: UUID, display_name: str, now: datetime) -> User | None:
        with _transaction(self._pool) as cur:
            cur.execute(
                f"UPDATE users SET display_name = %s, updated_at = %s WHERE id = %s RETURNING {_USER_COLUMNS}",
                (display_name, now, user_id),
            )
            return _user(cur.fetchone())

    def set_password_hash(self, user_id: UUID, password_hash: str, now: datetime) -> None:
        with _transaction(self._pool) as cur:
            cur.execute("UPDATE users SET password_hash = %s, updated_at = %s WHERE id = %s", (password_hash, now, user_id))


class PostgresSessionStore:
    """Refresh-token families. Rotation locks the family row, so two refreshes racing with the same
    token are serialised: one rotates, the other is seen as reuse and revokes the family."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def start(self, session_id: UUID, user_id: UUID, jti: UUID, expires_at: datetime) -> None:
        with _transaction(self._pool) as cur:
            cur.execute("INSERT INTO auth_sessions (id, user_id) VALUES (%s, %s)", (session_id, user_id))
            cur.execute("INSERT INTO refresh_tokens (jti, session_id, expires_at) VALUES (%s, %s, %s)", (jti, session_id, expires_at))

    def rotate(self, session_id: UUID, jti: UUID, next_jti: UUID, next_expires_at: datetime) -> Rotation:
        with _transaction(self._pool) as cur:
            cur.execute("SELECT revoked_at FROM auth_sessions WHERE id = %s FOR UPDATE", (session_id,))
            session = cur.fetchone()
            if session is None:
                return Rotation.UNKNOWN
            if session["revoked_at"] is not None:
                return Rotation.REVOKED
            cur.execute("SELECT replaced_by FROM refresh_tokens WHERE jti = %s AND session_id = %s", (jti, session_id))
            token = cur.fetchone()
            if token is None:
                return Rotation.UNKNOWN
            if token["replaced_by"] is not None:
                cur.execute(
                    "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = 'refresh_reuse' WHERE id = %s",
                    (session_id,),
                )
                return Rotation.REUSED
            cur.execute("UPDATE refresh_tokens SET used_at = now(), replaced_by = %s WHERE jti = %s", (next_jti, jti))
            cur.execute(
                "INSERT INTO refresh_tokens (jti, session_id, expires_at) VALUES (%s, %s, %s)",
                (next_jti, session_id, next_expires_at),
            )
            return Rotation.ROTATED

    def revoke(self, session_id: UUID, user_id: UUID, reason: str) -> bool:
        with _transaction(self._pool) as cur:
            cur.execute(
                "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = %s WHERE id = %s AND user_id = %s AND revoked_at IS NULL",
                (reason, session_id, user_id),
            )
            return cur.rowcount == 1

    def revoke_all(self, user_id: UUID, reason: str) -> list[UUID]:
        with _transaction(self._pool) as cur:
            cur.execute(
                "UPDATE auth_sessions SET revoked_at = now(), revoked_reason = %s WHERE user_id = %s AND revoked_at IS NULL RETURNING id",
                (reason, user_id),
            )
            return [row["id"] for row in cur.fetchall()]
