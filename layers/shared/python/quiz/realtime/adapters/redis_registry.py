"""The registry of WebSocket connections per quiz, in Redis (the `Connections` port).

``quiz:{quiz_id}:connections`` is a hash of connection id -> user id (every connection watching the
quiz); ``connection:{connection_id}`` remembers which quiz and user a connection joined, so
``$disconnect`` can clean up without scanning. Both expire after API Gateway's 2-hour maximum
connection duration, so a lost ``$disconnect`` (it is best effort) cannot leak forever.
``quiz:{quiz_id}:connections:v`` counts the changes to a quiz's hash, so a reader that kept a copy
re-reads the whole hash only when it changed (a tick to a 5,000-player room must not re-read 5,000
entries when nobody joined or left).
"""

from __future__ import annotations

import time

import redis

from quiz.errors import DependencyUnavailable
from quiz.realtime.ports import Membership as Membership  # defined with its port; importers keep working

MAX_CONNECTION_S = 2 * 60 * 60


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisQuizConnections:
    """Which connections follow which quiz (a Redis hash per quiz, and each connection's membership): the
    quiz's own view, the `Connections` port. Not the emulator's `ConnectionRegistry`, which is API
    Gateway's table of open sockets and their owner nodes."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    @staticmethod
    def quiz_key(quiz_id: str) -> str:
        return f"quiz:{quiz_id}:connections"

    @staticmethod
    def version_key(quiz_id: str) -> str:
        return f"quiz:{quiz_id}:connections:v"

    @staticmethod
    def connection_key(connection_id: str) -> str:
        return f"connection:{connection_id}"

    def add(self, m: Membership) -> None:
        """Record that a connection watches a quiz (leaving any quiz it watched before)."""
        try:
            previous = self._r.hget(self.connection_key(m.connection_id), "quiz_id")
            pipe = self._r.pipeline(transaction=True)
            if previous and _text(previous) != m.quiz_id:
                pipe.hdel(self.quiz_key(_text(previous)), m.connection_id)
                self._changed(pipe, _text(previous))
            pipe.hset(self.quiz_key(m.quiz_id), m.connection_id, m.user_id)
            pipe.expire(self.quiz_key(m.quiz_id), MAX_CONNECTION_S)
            self._changed(pipe, m.quiz_id)
            pipe.hset(self.connection_key(m.connection_id), mapping={"quiz_id": m.quiz_id, "user_id": m.user_id})
            pipe.expire(self.connection_key(m.connection_id), MAX_CONNECTION_S)
            pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable("the connection registry is unavailable; retry") from exc

    def remove(self, connection_id: str) -> Membership | None:
        try:
            found = self._r.hgetall(self.connection_key(connection_id))
            pipe = self._r.pipeline(transaction=True)
            pipe.delete(self.connection_key(connection_id))
            if found:
                pipe.hdel(self.quiz_key(_text(found[b"quiz_id"])), connection_id)
                self._changed(pipe, _text(found[b"quiz_id"]))
            pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable("the connection registry is unavailable; retry") from exc
        if not found:
            return None
        return Membership(connection_id, _text(found[b"quiz_id"]), _text(found[b"user_id"]))

    def remove_gone(self, quiz_id: str, connection_ids: list[str]) -> None:
        """Drop connections the gateway reported gone (410)."""
        if not connection_ids:
            return
        try:
            pipe = self._r.pipeline(transaction=False)
            pipe.hdel(self.quiz_key(quiz_id), *connection_ids)
            self._changed(pipe, quiz_id)
            for cid in connection_ids:
                pipe.delete(self.connection_key(cid))
            pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable("the connection registry is unavailable; retry") from exc

    def _changed(self, pipe: redis.client.Pipeline, quiz_id: str) -> None:
        # A counter that Redis lost (a flush) starts again from the clock, never from 1: a reader's copy
        # of the room taken at an old value can then never match a new room by accident.
        pipe.set(self.version_key(quiz_id), time.time_ns() // 1000, nx=True)
        pipe.incr(self.version_key(quiz_id))
        pipe.expire(self.version_key(quiz_id), MAX_CONNECTION_S)

    def versions(self, quiz_ids: list[str]) -> list[int | None]:
        """Each quiz's change counter (None: never counted, or expired with the hash)."""
        try:
            raw = self._r.mget([self.version_key(q) for q in quiz_ids]) if quiz_ids else []
        except redis.RedisError as exc:
            raise DependencyUnavailable("the connection registry is unavailable; retry") from exc
        return [int(v) if v is not None else None for v in raw]

    def of_quiz(self, quiz_id: str) -> dict[str, str]:
        """connection id -> user id for every connection watching the quiz."""
        try:
            raw = self._r.hgetall(self.quiz_key(quiz_id))
        except redis.RedisError as exc:
            raise DependencyUnavailable("the connection registry is unavailable; retry") from exc
        return {_text(k): _text(v) for k, v in raw.items()}

    def membership(self, connection_id: str) -> Membership | None:
        try:
            found = self._r.hgetall(self.connection_key(connection_id))
        except redis.RedisError as exc:
            raise DependencyUnavailable("the connection registry is unavailable; retry") from exc
        if not found:
            return None
        return Membership(connection_id, _text(found[b"quiz_id"]), _text(found[b"user_id"]))
