"""Bench accounts without 5,000 sign-ups: users and sessions written by the layer's own auth adapters,
access tokens minted by the layer's own TokenService with the key the target's functions verify.

Signing up through the API costs an argon2id hash per account (64 MiB, ~70 ms of a core), so 5,000
players would spend minutes of the machine the benchmark measures. Instead:

* every bench account is a real `users` row written by `PostgresUserRepository.add` (the adapter the
  User service uses), all sharing ONE argon2id hash of `PASSWORD` computed once, so they can also log
  in through the API like anyone else;
* each account gets one real session (`PostgresSessionStore.start`, an `auth_sessions` row with its
  refresh-token family), reused by later runs while it is not revoked;
* access tokens are issued by `TokenService.issue_access` (EdDSA, `kid`, `sid`, `at+jwt`), signed with
  the development key the target was started with. The `$connect` authorizer and the HTTP routes
  accept them exactly as they accept a login's tokens.

Accounts are named `qload-p00001…` (players) and `qload-h001…` (hosts): a second run finds them and only
mints tokens, so seeding is idempotent and reused across runs against the same database.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from local.devkeys import KEY_FILE, dev_env
from quiz.auth.adapters.postgres import PostgresSessionStore, PostgresUserRepository
from quiz.auth.domain import Role, User, valid_display_name, valid_username
from quiz.auth.errors import UsernameTaken
from quiz.auth.passwords import Argon2idHasher
from quiz.auth.tokens import TokenService
from quiz.config import JwtSettings

PASSWORD = "bench load passphrase 7f3c"  # every bench account's password (they can log in over HTTP too)
PREFIX = "qload"
_WRITERS = 4  # parallel inserts, within the pool's size


class SeedingError(RuntimeError):
    """The accounts could not be prepared; the message says what to do."""


@dataclass(frozen=True)
class BenchAccount:
    """A seeded account with a fresh access token."""

    user_id: str
    username: str
    display_name: str
    token: str


@dataclass
class SeedReport:
    accounts: int = 0
    users_created: int = 0
    sessions_created: int = 0
    seconds: float = 0.0


def jwt_keys_of_running_target(state_dir: Path) -> dict[str, str]:
    """The development key `make run` generated under `<state>/jwt/` (what an already running emulator verifies with)."""
    if not (state_dir / "jwt" / KEY_FILE).exists():
        raise SeedingError(
            f"no development signing key at {state_dir / 'jwt' / KEY_FILE}: start the target with `make run` from this checkout "
            "(or set QUIZ_STATE_DIR to its state directory) so the bench can mint tokens it accepts"
        )
    return dev_env(state_dir)


def account_names(kind: str, count: int) -> list[tuple[str, str]]:
    """(username, display name) of the first `count` bench accounts of a kind ("p" players, "h" hosts)."""
    width = 5 if kind == "p" else 3
    label = "Load player" if kind == "p" else "Load host"
    return [(f"{PREFIX}-{kind}{i:0{width}d}", f"{label} {i}") for i in range(1, count + 1)]


class BenchSeeder:
    """Prepares bench accounts in one database and mints tokens for one target's key."""

    def __init__(self, database_url: str, jwt_env: Mapping[str, str]) -> None:
        env = {**{k: os.environ[k] for k in ("JWT_ISSUER", "JWT_AUDIENCE") if os.environ.get(k)}, **jwt_env}
        self._tokens = TokenService(JwtSettings.from_env(env, stage="test"))
        self._refresh_ttl = self._tokens.refresh_ttl
        self._pool = ConnectionPool(database_url, min_size=1, max_size=_WRITERS, open=True, timeout=10, kwargs={"autocommit": False})
        self._users = PostgresUserRepository(self._pool)
        self._sessions = PostgresSessionStore(self._pool)
        self._shared_hash: str | None = None
        self.report = SeedReport()

    def close(self) -> None:
        self._pool.close()

    def accounts(self, kind: str, count: int) -> list[BenchAccount]:
        """The first `count` accounts of a kind, created when missing, each with a fresh access token."""
        started = time.monotonic()
        names = account_names(kind, count)
        users = self._existing_users([u for u, _ in names])
        missing = [(u, d) for u, d in names if u.lower() not in users]
        for user in self._create_users(missing):
            users[user.username.lower()] = user
        ordered = [users[u.lower()] for u, _ in names]
        sessions = self._active_sessions([u.id for u in ordered])
        sessions.update(self._start_sessions([u.id for u in ordered if u.id not in sessions]))
        accounts = [BenchAccount(str(u.id), u.username, u.display_name, self._tokens.issue_access(u, sessions[u.id])) for u in ordered]
        self.report.accounts += len(accounts)
        self.report.seconds += time.monotonic() - started
        return accounts

    # ------------------------------------------------------------------ users

    def _existing_users(self, usernames: Sequence[str]) -> dict[str, User]:
        # One read for the whole roster (the adapter's by_username is one query per account).
        rows = self._select(
            "SELECT id, username, display_name, password_hash, role, created_at, updated_at FROM users WHERE lower(username) = ANY(%s)",
            [u.lower() for u in usernames],
        )
        return {
            row["username"].lower(): User(
                row["id"],
                row["username"],
                row["display_name"],
                row["password_hash"],
                Role(row["role"]),
                row["created_at"],
                row["updated_at"],
            )
            for row in rows
        }

    def _create_users(self, names: Sequence[tuple[str, str]]) -> list[User]:
        if not names:
            return []
        if self._shared_hash is None:
            self._shared_hash = Argon2idHasher().hash(PASSWORD)  # the only hash of the run
        now = datetime.now(UTC)
        shared_hash = self._shared_hash
        fresh = [User(uuid.uuid4(), valid_username(u), valid_display_name(d), shared_hash, Role.PLAYER, now, now) for u, d in names]
        with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="seed") as pool:
            added = list(pool.map(self._add_user, fresh))
        self.report.users_created += sum(1 for _, created in added if created)
        return [user for user, _ in added]

    def _add_user(self, user: User) -> tuple[User, bool]:
        try:
            self._users.add(user)
        except UsernameTaken:  # another bench run created it a moment ago: use theirs
            found = self._users.by_username(user.username)
            if found is None:
                raise SeedingError(f"bench account {user.username} is taken but cannot be read") from None
            return found, False
        return user, True

    # ------------------------------------------------------------------ sessions

    def _active_sessions(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        rows = self._select(
            "SELECT DISTINCT ON (user_id) user_id, id FROM auth_sessions"
            " WHERE user_id = ANY(%s) AND revoked_at IS NULL ORDER BY user_id, created_at DESC",
            list(user_ids),
        )
        return {row["user_id"]: row["id"] for row in rows}

    def _start_sessions(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        with ThreadPoolExecutor(max_workers=_WRITERS, thread_name_prefix="seed") as pool:
            started = dict(zip(user_ids, pool.map(self._start_session, user_ids), strict=True))
        self.report.sessions_created += len(started)
        return started

    def _start_session(self, user_id: uuid.UUID) -> uuid.UUID:
        session_id = uuid.uuid4()
        expires = datetime.now(UTC) + timedelta(seconds=self._refresh_ttl)
        self._sessions.start(session_id, user_id, uuid.uuid4(), expires)  # its refresh token is never handed out
        return session_id

    def recorded_answers(self, quiz_ids: Sequence[str]) -> set[tuple[str, int, str]]:
        """(quiz id, question, user id) of every answer the database holds for these quizzes."""
        rows = self._select("SELECT quiz_id, position, user_id::text AS user_id FROM answers WHERE quiz_id = ANY(%s)", list(quiz_ids))
        return {(r["quiz_id"], r["position"], r["user_id"]) for r in rows}

    def _select(self, sql: str, values: list[Any]) -> list[dict[str, Any]]:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, (values,))
            return list(cur.fetchall())
