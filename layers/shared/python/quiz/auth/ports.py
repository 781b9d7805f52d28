"""What the User service needs from the outside world. Adapters implement these; unit tests use fakes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol
from uuid import UUID

from quiz.auth.domain import User


class UserRepository(Protocol):
    def add(self, user: User) -> None:
        """Store a new account; raises UsernameTaken when the username exists (case-insensitively)."""

    def by_username(self, username: str) -> User | None: ...

    def by_id(self, user_id: UUID) -> User | None: ...

    def rename(self, user_id: UUID, display_name: str, now: datetime) -> User | None: ...

    def set_password_hash(self, user_id: UUID, password_hash: str, now: datetime) -> None: ...


class Rotation(StrEnum):
    ROTATED = "rotated"  # the presented token was current: it is now used, its successor stored
    REUSED = "reused"  # the presented token was already rotated: the family has just been revoked
    REVOKED = "revoked"  # the family was revoked earlier (logout, earlier reuse)
    UNKNOWN = "unknown"  # no such token in that family


class SessionStore(Protocol):
    """Refresh-token families ("sessions"): one per login, each refresh rotates to a new token."""

    def start(self, session_id: UUID, user_id: UUID, jti: UUID, expires_at: datetime) -> None: ...

    def rotate(self, session_id: UUID, jti: UUID, next_jti: UUID, next_expires_at: datetime) -> Rotation:
        """Atomically: if `jti` is the family's current token, mark it used and store `next_jti`;
        if it was already used, revoke the whole family (reuse detection) and say so."""

    def revoke(self, session_id: UUID, user_id: UUID, reason: str) -> bool: ...

    def revoke_all(self, user_id: UUID, reason: str) -> list[UUID]: ...


class RevokedSessions(Protocol):
    """Sessions whose still-unexpired access tokens must be refused (a short-lived deny list)."""

    def revoke(self, session_id: UUID, ttl_seconds: int) -> None: ...

    def is_revoked(self, session_id: UUID) -> bool: ...


class LoginThrottle(Protocol):
    """Failed-login counters per username and per source address."""

    def check(self, username_key: str, source_ip: str) -> None:
        """Count this attempt (before the password is checked, so parallel guesses cannot slip through)
        and raise TooManyRequests (with Retry-After) when either counter is over its limit."""

    def record_failure(self, username_key: str, source_ip: str) -> None: ...

    def record_success(self, username_key: str, source_ip: str) -> None:
        """The attempt succeeded: clear the username's failures and give back the address's reservation."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def verify_dummy(self, password: str) -> None:
        """Spend the time a verification costs, so unknown usernames cannot be told apart by timing."""

    def needs_rehash(self, password_hash: str) -> bool: ...
