"""The User service: accounts, logins, token rotation, logout; and verifying who speaks on a request."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from quiz.auth.domain import Principal, Role, User, login_password, username_key, valid_display_name, valid_password, valid_username
from quiz.auth.errors import InvalidCredentials, RefreshTokenReused, TokenRejected, TokenRevoked
from quiz.auth.ports import LoginThrottle, PasswordHasher, RevokedSessions, Rotation, SessionStore, UserRepository
from quiz.auth.tokens import TokenService


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in_ms: int
    refresh_expires_in_ms: int

    def to_body(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in_ms": self.expires_in_ms,
            "refresh_expires_in_ms": self.refresh_expires_in_ms,
        }


@dataclass(frozen=True)
class SignedIn:
    user: User
    tokens: TokenPair

    def to_body(self) -> dict[str, Any]:
        return {"user": self.user.to_public(), **self.tokens.to_body()}


class Authenticator:
    """Turns a bearer token into the `Principal` it speaks for, or refuses it (401)."""

    def __init__(self, tokens: TokenService, revoked: RevokedSessions) -> None:
        self._tokens = tokens
        self._revoked = revoked

    def principal(self, token: str) -> Principal:
        return self.still_signed_in(self._tokens.verify_access(token).principal)

    def still_signed_in(self, principal: Principal) -> Principal:
        """Refuse a caller whose session has been signed out (logout, refresh-token reuse)."""
        if principal.session_id is not None and self._revoked.is_revoked(principal.session_id):
            raise TokenRevoked("this session has been signed out")
        return principal


class AuthService:
    """Sign-up, login, refresh with rotation and reuse detection, logout, and the caller's profile."""

    def __init__(
        self,
        users: UserRepository,
        sessions: SessionStore,
        revoked: RevokedSessions,
        throttle: LoginThrottle,
        hasher: PasswordHasher,
        tokens: TokenService,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._revoked = revoked
        self._throttle = throttle
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock

    def signup(self, username: str, password: str, display_name: str) -> SignedIn:
        username = valid_username(username)
        name = valid_display_name(display_name)
        password = valid_password(password, username=username)
        now = self._clock()
        user = User(uuid.uuid4(), username, name, self._hasher.hash(password), Role.PLAYER, now, now)
        self._users.add(user)
        return SignedIn(user, self._start_session(user))

    def login(self, username: str, password: str, source_ip: str) -> SignedIn:
        key = username_key(username)
        self._throttle.check(key, source_ip)
        password = login_password(password)
        user = self._users.by_username(key)
        if user is None:
            self._hasher.verify_dummy(password)
        if user is None or not self._hasher.verify(user.password_hash, password):
            self._throttle.record_failure(key, source_ip)
            raise InvalidCredentials("wrong username or password")
        self._throttle.record_success(key, source_ip)
        if self._hasher.needs_rehash(user.password_hash):
            self._users.set_password_hash(user.id, self._hasher.hash(password), self._clock())
        return SignedIn(user, self._start_session(user))

    def refresh(self, refresh_token: str) -> SignedIn:
        claims = self._tokens.verify_refresh(refresh_token)
        next_jti = uuid.uuid4()
        outcome = self._sessions.rotate(claims.session_id, claims.jti, next_jti, self._refresh_expiry())
        if outcome is Rotation.REUSED:
            self._revoked.revoke(claims.session_id, self._tokens.revocation_ttl)
            raise RefreshTokenReused("this refresh token was already used; the session has been revoked, please log in again")
        if outcome is not Rotation.ROTATED:
            raise TokenRevoked("this session has been signed out; please log in again")
        user = self._users.by_id(claims.user_id)
        if user is None:
            raise TokenRejected("the account no longer exists")
        return SignedIn(user, self._pair(user, claims.session_id, next_jti))

    def logout(self, principal: Principal, *, everywhere: bool = False) -> None:
        """Revoke the caller's session (or all of them): refresh tokens stop working at once, and so do
        the access tokens already handed out, through the revocation list every verifier checks."""
        session_ids = {principal.session_id} if principal.session_id else set()
        if everywhere:
            session_ids.update(self._sessions.revoke_all(principal.user_id, "logout_all"))
        elif principal.session_id is not None:
            self._sessions.revoke(principal.session_id, principal.user_id, "logout")
        for session_id in session_ids:
            self._revoked.revoke(session_id, self._tokens.revocation_ttl)

    def profile(self, principal: Principal) -> User:
        user = self._users.by_id(principal.user_id)
        if user is None:
            raise TokenRejected("the account no longer exists")
        return user

    def rename(self, principal: Principal, display_name: str) -> User:
        user = self._users.rename(principal.user_id, valid_display_name(display_name), self._clock())
        if user is None:
            raise TokenRejected("the account no longer exists")
        return user

    def _refresh_expiry(self) -> datetime:
        return self._clock() + timedelta(seconds=self._tokens.refresh_ttl)

    def _start_session(self, user: User) -> TokenPair:
        session_id, jti = uuid.uuid4(), uuid.uuid4()
        self._sessions.start(session_id, user.id, jti, self._refresh_expiry())
        return self._pair(user, session_id, jti)

    def _pair(self, user: User, session_id: UUID, jti: UUID) -> TokenPair:
        return TokenPair(
            access_token=self._tokens.issue_access(user, session_id),
            refresh_token=self._tokens.issue_refresh(user.id, session_id, jti),
            expires_in_ms=self._tokens.access_ttl * 1000,  # the token service counts whole seconds
            refresh_expires_in_ms=self._tokens.refresh_ttl * 1000,
        )
