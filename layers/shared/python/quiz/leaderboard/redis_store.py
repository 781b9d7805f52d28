"""Redis adapter of the leaderboard: one sorted set per quiz, updated by a Lua script so that a
whole batch for a quiz applies atomically in one round trip, and only newer versions win."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import redis

from quiz.errors import DependencyUnavailable
from quiz.leaderboard.domain import ScoreEvent, Standing, user_of

F = TypeVar("F", bound=Callable[..., Any])

TTL_S = 24 * 60 * 60  # a quiz's board outlives its session; after that reads rebuild it from PostgreSQL

# KEYS: sorted set, meta hash. ARGV: groups of (user_id, version, total, reached_ms, display_name, removed).
# meta[user] = {"v": version, "m": member or "" when removed, "t": total, "n": display name}
APPLY = """
local changed = {}
for i = 1, #ARGV - 1, 6 do
  local uid, ver = ARGV[i], tonumber(ARGV[i + 1])
  local cur = redis.call('HGET', KEYS[2], uid)
  local apply = true
  if cur then
    local c = cjson.decode(cur)
    if c.v >= ver then
      apply = false
    elseif c.m ~= '' then
      redis.call('ZREM', KEYS[1], c.m)
    end
  end
  if apply then
    local m = ''
    if ARGV[i + 5] ~= '1' then
      m = string.format('%013d', 9999999999999 - tonumber(ARGV[i + 3])) .. '|' .. uid
      redis.call('ZADD', KEYS[1], tonumber(ARGV[i + 2]), m)
    end
    redis.call('HSET', KEYS[2], uid, cjson.encode({v = ver, m = m, t = tonumber(ARGV[i + 2]), n = ARGV[i + 4]}))
    changed[#changed + 1] = uid
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[#ARGV])
redis.call('EXPIRE', KEYS[2], ARGV[#ARGV])
return changed
"""


NEXT_SEQ = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  n = tonumber(ARGV[1])
  redis.call('SET', KEYS[1], n)
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return n
"""


def _unavailable_on_redis_error(method: F) -> F:
    """Redis failures become the domain's 503 (DependencyUnavailable), never a bare 500."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            raise DependencyUnavailable("Redis is unavailable") from exc

    return wrapper  # type: ignore[return-value]


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLeaderboard:
    """Sorted sets per quiz (keys hash-tagged by quiz so a cluster keeps a quiz on one shard)."""

    def __init__(self, client: redis.Redis) -> None:
        self._r: Any = client  # redis-py's stubs type replies as unions of every reply shape
        self._apply = client.register_script(APPLY)
        self._next_seq = client.register_script(NEXT_SEQ)

    @staticmethod
    def keys(quiz_id: str) -> dict[str, str]:
        base = f"lb:{{{quiz_id}}}"
        return {"z": f"{base}:z", "meta": f"{base}:meta", "sent": f"{base}:sent", "seq": f"{base}:seq", "ready": f"{base}:ready"}

    def _args(self, events: Iterable[ScoreEvent]) -> list[Any]:
        args: list[Any] = []
        for e in events:
            args += [e.user_id, e.version, e.total, e.reached_ms, e.display_name, "1" if e.removed else "0"]
        return [*args, TTL_S]

    def missing(self, quiz_ids: Iterable[str]) -> list[str]:
        """Quizzes whose board is not in Redis (never built, expired, or Redis lost its data)."""
        ids = list(quiz_ids)
        try:
            pipe = self._r.pipeline(transaction=False)
            for q in ids:
                pipe.exists(self.keys(q)["ready"])
            found = pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable("Redis is unavailable") from exc
        return [q for q, ok in zip(ids, found, strict=True) if not ok]

    def apply(self, by_quiz: dict[str, list[ScoreEvent]]) -> dict[str, list[str]]:
        """Apply each quiz's events (one script call per quiz, all in one pipeline). Returns changed players."""
        quizzes = [q for q, evs in by_quiz.items() if evs]
        try:
            pipe = self._r.pipeline(transaction=False)
            for q in quizzes:
                k = self.keys(q)
                self._apply(keys=[k["z"], k["meta"]], args=self._args(by_quiz[q]), client=pipe)
            results = pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable("Redis is unavailable") from exc
        return {q: [_s(u) for u in changed] for q, changed in zip(quizzes, results, strict=True)}

    @_unavailable_on_redis_error
    def mark_ready(self, quiz_id: str) -> None:
        self._r.set(self.keys(quiz_id)["ready"], "1", ex=TTL_S)

    def ranked(self, quiz_id: str, limit: int | None = None) -> list[Standing]:
        """Standings in rank order (all of them when limit is None)."""
        k = self.keys(quiz_id)
        try:
            rows = self._r.zrevrange(k["z"], 0, -1 if limit is None else limit - 1, withscores=True)
            users = [user_of(_s(m)) for m, _ in rows]
            metas = self._r.hmget(k["meta"], users) if users else []
        except redis.RedisError as exc:
            raise DependencyUnavailable("Redis is unavailable") from exc
        out = []
        for i, ((_, score), user, meta) in enumerate(zip(rows, users, metas, strict=True), 1):
            name = json.loads(meta)["n"] if meta else ""
            out.append(Standing(rank=i, user_id=user, display_name=name, score=int(score)))
        return out

    @_unavailable_on_redis_error
    def rank_of(self, quiz_id: str, user_id: str) -> Standing | None:
        k = self.keys(quiz_id)
        meta = self._r.hget(k["meta"], user_id)
        if not meta:
            return None
        m = json.loads(meta)
        if not m["m"]:
            return None
        rank = self._r.zrevrank(k["z"], m["m"])
        return None if rank is None else Standing(rank=int(rank) + 1, user_id=user_id, display_name=m["n"], score=int(m["t"]))

    @_unavailable_on_redis_error
    def count(self, quiz_id: str) -> int:
        return int(self._r.zcard(self.keys(quiz_id)["z"]))

    @_unavailable_on_redis_error
    def next_seq(self, quiz_id: str) -> int:
        """+1 per frame; a missing counter (new board, or Redis lost it) restarts from the clock in ms,
        so a quiz's sequence never goes backwards."""
        return int(self._next_seq(keys=[self.keys(quiz_id)["seq"]], args=[int(time.time() * 1000), TTL_S]))

    @_unavailable_on_redis_error
    def sent_state(self, quiz_id: str) -> dict[str, str]:
        return {_s(k): _s(v) for k, v in self._r.hgetall(self.keys(quiz_id)["sent"]).items()}

    @_unavailable_on_redis_error
    def remember_sent(self, quiz_id: str, state: dict[str, str]) -> None:
        if not state:
            return
        k = self.keys(quiz_id)["sent"]
        pipe = self._r.pipeline(transaction=False)
        pipe.hset(k, mapping=state)
        pipe.expire(k, TTL_S)
        pipe.execute()
