"""Redis adapters: the login throttle and the revoked-session list. Keys expire on their own."""

from __future__ import annotations

from uuid import UUID

import redis

from quiz.config import LoginLimits
from quiz.errors import DependencyUnavailable, TooManyRequests


class RedisLoginThrottle:
    """Fixed-window counters of failed logins, per username and per source address.

    Per-username limits stop guessing one account's password from many addresses; per-address limits
    stop one address from spraying many accounts. The window is short, so a third party who locks an
    account out by failing on purpose only does so for `window_seconds`.
    """

    def __init__(self, client: redis.Redis, limits: LoginLimits, prefix: str = "auth:login-failures") -> None:
        self._redis = client
        self._limits = limits
        self._prefix = prefix

    def _keys(self, username_key: str, source_ip: str) -> tuple[str, str]:
        return f"{self._prefix}:user:{username_key}", f"{self._prefix}:ip:{source_ip}"

    def check(self, username_key: str, source_ip: str) -> None:
        """Count this attempt as a failure up front (atomically), then refuse it if over a limit.

        Reserving before the password is verified means parallel guesses cannot all slip through
        between a read and a write; a successful login gives the reservation back."""
        user_key, ip_key = self._keys(username_key, source_ip)
        window = self._limits.window_seconds
        try:
            pipe = self._redis.pipeline(transaction=True)
            for key in (user_key, ip_key):
                pipe.incr(key)
                pipe.expire(key, window, nx=True)
                pipe.ttl(key)
            user_count, _, user_ttl, ip_count, _, ip_ttl = pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable("the rate limiter is unavailable; try again shortly") from exc
        for count, ttl, limit, scope in (
            (user_count, user_ttl, self._limits.per_username, "username"),
            (ip_count, ip_ttl, self._limits.per_source_ip, "source_ip"),
        ):
            if int(count) > limit:
                retry_after = int(ttl) if int(ttl) > 0 else window
                raise TooManyRequests("too many failed logins; try again later", retry_after=retry_after, details={"scope": scope})

    def record_failure(self, username_key: str, source_ip: str) -> None:
        """Nothing to do: `check` counted the attempt already."""

    def record_success(self, username_key: str, source_ip: str) -> None:
        user_key, ip_key = self._keys(username_key, source_ip)
        try:
            pipe = self._redis.pipeline(transaction=True)
            pipe.delete(user_key)
            if source_ip:
                pipe.decr(ip_key)  # give back this attempt's reservation
            pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable("the rate limiter is unavailable; try again shortly") from exc


class RedisRevokedSessions:
    """Session ids signed out before their access tokens expire; each entry outlives those tokens."""

    def __init__(self, client: redis.Redis, prefix: str = "auth:revoked-session") -> None:
        self._redis = client
        self._prefix = prefix

    def revoke(self, session_id: UUID, ttl_seconds: int) -> None:
        try:
            self._redis.set(f"{self._prefix}:{session_id}", b"1", ex=ttl_seconds)
        except redis.RedisError as exc:
            raise DependencyUnavailable("the session store is unavailable; try again shortly") from exc

    def is_revoked(self, session_id: UUID) -> bool:
        try:
            return bool(self._redis.exists(f"{self._prefix}:{session_id}"))
        except redis.RedisError as exc:
            raise DependencyUnavailable("the session store is unavailable; try again shortly") from exc
