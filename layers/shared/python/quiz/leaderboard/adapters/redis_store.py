"""Redis adapter of the leaderboard's `Board` port: one sorted set per quiz, updated by a Lua script so
that a whole batch for a quiz applies atomically in one round trip, and only newer versions win."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import redis

from quiz.errors import DependencyUnavailable
from quiz.leaderboard.domain import BoardView, Climber, Pace, ScoreEvent, Standing, user_of

F = TypeVar("F", bound=Callable[..., Any])

TTL_S = 24 * 60 * 60  # a quiz's board outlives its session; after that reads rebuild it from PostgreSQL

# KEYS: sorted set, meta hash. ARGV: groups of (user_id, version, total, reached_ms, display_name, removed).
# The member is quiz.leaderboard.domain.rank_key's string, so ZREVRANGE reads the domain's ranking.
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


# What one push needs, read in one call whose cost does not grow with the room: the board's size, the
# top N with names, and for each player who moved in this tick their rank, score, name and the player
# just above them (for gap_to_next). O(top_n + moved × log N).
# KEYS: sorted set, meta hash. ARGV: top_n, then user ids.
# Returns {count, {uid, name, score, ...} for the top, {{uid, rank, score, name, above_score, above_name}, ...}}.
VIEW = """
local function name_of(uid)
  local meta = redis.call('HGET', KEYS[2], uid)
  if meta then return cjson.decode(meta).n end
  return ''
end
local top = {}
local rows = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
for i = 1, #rows, 2 do
  local uid = string.sub(rows[i], 15)
  top[#top + 1] = uid
  top[#top + 1] = name_of(uid)
  top[#top + 1] = rows[i + 1]
end
local moved = {}
for j = 2, #ARGV do
  local uid = ARGV[j]
  local meta = redis.call('HGET', KEYS[2], uid)
  if meta then
    local c = cjson.decode(meta)
    local rank = c.m ~= '' and redis.call('ZREVRANK', KEYS[1], c.m) or false
    if rank then
      local above_score, above_name = '', ''
      if rank > 0 then
        local a = redis.call('ZREVRANGE', KEYS[1], rank - 1, rank - 1, 'WITHSCORES')
        above_score = a[2]
        above_name = name_of(string.sub(a[1], 15))
      end
      moved[#moved + 1] = {uid, rank + 1, redis.call('ZSCORE', KEYS[1], c.m), c.n, above_score, above_name}
    end
  end
end
return {redis.call('ZCARD', KEYS[1]), top, moved}
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
        self._view = client.register_script(VIEW)

    @staticmethod
    def keys(quiz_id: str) -> dict[str, str]:
        base = f"lb:{{{quiz_id}}}"
        return {
            "z": f"{base}:z",
            "meta": f"{base}:meta",
            "seq": f"{base}:seq",
            "ready": f"{base}:ready",
            "pushed": f"{base}:pushed",  # "<ms since the epoch the last board push started>:<connections it went to>"
            "held": f"{base}:held",  # a board frame was held back to keep the pace and is still owed
            "tick": f"{base}:tick",  # a board tick is on its way through Kafka
        }

    def _args(self, events: Iterable[ScoreEvent]) -> list[Any]:
        args: list[Any] = []
        for e in events:
            args += [e.user_id, e.version, e.score, e.reached_ms, e.display_name, "1" if e.removed else "0"]
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

    def views(self, moved: dict[str, list[str]], top_n: int, *, frames: Iterable[str] = ()) -> dict[str, BoardView]:
        """Per quiz: the top N and where each moved player stands, and a new seq for the quizzes in
        `frames` (those about to get a board frame; 0 for the others), in one round trip for all quizzes.
        The cost grows with top N and the players who moved, never with the room."""
        quizzes = list(moved)
        numbered = set(frames)
        try:
            pipe = self._r.pipeline(transaction=False)
            now_ms = int(time.time() * 1000)
            for q in quizzes:
                k = self.keys(q)
                if q in numbered:
                    self._next_seq(keys=[k["seq"]], args=[now_ms, TTL_S], client=pipe)
                self._view(keys=[k["z"], k["meta"]], args=[top_n, *moved[q]], client=pipe)
            replies = iter(pipe.execute())
        except redis.RedisError as exc:
            raise DependencyUnavailable("Redis is unavailable") from exc
        views = {}
        for q in quizzes:
            seq = next(replies) if q in numbered else 0
            views[q] = _board_view(q, seq, next(replies))
        return views

    def pace_state(self, quiz_ids: list[str]) -> dict[str, Pace]:
        """Per quiz: when its last board push started, to how many connections, and whether a frame is owed."""
        if not quiz_ids:
            return {}
        try:
            pipe = self._r.pipeline(transaction=False)
            pipe.mget([self.keys(q)["pushed"] for q in quiz_ids])
            pipe.mget([self.keys(q)["held"] for q in quiz_ids])
            pushed, held = pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable("Redis is unavailable") from exc
        out = {}
        for q, value, owed in zip(quiz_ids, pushed, held, strict=True):
            at, _, audience = _s(value).partition(":") if value else ("", "", "")
            out[q] = Pace(int(at) if at else None, int(audience or 0), bool(owed))
        return out

    def hold(self, quiz_ids: list[str], tick_ttl_ms: int) -> list[str]:
        """Note that these quizzes owe a board frame; returns those that have no tick on its way yet (the
        caller sends one). A tick that never comes back (Kafka down) expires, and the next batch sends another."""
        if not quiz_ids:
            return []
        try:
            pipe = self._r.pipeline(transaction=False)
            for q in quiz_ids:
                k = self.keys(q)
                pipe.set(k["held"], "1", ex=TTL_S)
                pipe.set(k["tick"], "1", nx=True, px=tick_ttl_ms)
            replies = pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable("Redis is unavailable") from exc
        return [q for q, claimed in zip(quiz_ids, replies[1::2], strict=True) if claimed]

    def ticks_arrived(self, quiz_ids: list[str]) -> None:
        """These quizzes' ticks came back: a later hold must send a new one."""
        if quiz_ids:
            try:
                self._r.delete(*[self.keys(q)["tick"] for q in quiz_ids])
            except redis.RedisError as exc:
                raise DependencyUnavailable("Redis is unavailable") from exc

    def record_pushes(self, pushed: dict[str, int], *, at_ms: int) -> None:
        """Remember when each quiz's last push started and to how many connections it went (for pacing)."""
        if not pushed:
            return
        try:
            pipe = self._r.pipeline(transaction=False)
            for q, audience in pushed.items():
                pipe.set(self.keys(q)["pushed"], f"{at_ms}:{audience}", ex=TTL_S)
                pipe.delete(self.keys(q)["held"])
            pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable("Redis is unavailable") from exc


def _board_view(quiz_id: str, seq: Any, reply: Any) -> BoardView:
    count, top, climbers = reply
    return BoardView(
        quiz_id=quiz_id,
        seq=int(seq),
        player_count=int(count),
        top=[
            Standing(rank=r, user_id=_s(top[j]), display_name=_s(top[j + 1]), score=int(float(top[j + 2])))
            for r, j in enumerate(range(0, len(top), 3), 1)
        ],
        climbers=[
            Climber(
                Standing(rank=int(rank), user_id=_s(uid), display_name=_s(name), score=int(float(score))),
                above_score=int(float(above)) if _s(above) else None,
                above_name=_s(above_name) if _s(above) else None,
            )
            for uid, rank, score, name, above, above_name in climbers
        ],
    )
