"""Score events and standings in the leaderboard's own words. Pure (no I/O).

The ranking is defined here, once (`rank_key`): higher score first; on equal scores, whoever reached
that score first (to the millisecond) ranks higher; on a tie of both, the larger user id. The Redis
board (its Lua builds the same member as `rank_key`, and ZREVRANGE reads it) and the SQL ORDER BY of the
final standings implement it; tests/integration/test_ranking_order.py checks both against `ranked_order`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from quiz.ports import QuizPush as QuizPush  # defined with the port that carries it; importers keep working


class BadScoreEvent(ValueError):
    """A record on the scores topic that is not a score event this version understands."""


@dataclass(frozen=True)
class QuestionClosed:
    """The quiz service's marker that a question closed, on the same partition as the quiz's scores,
    so it arrives after every score of that question: the natural moment to tell everyone their rank."""

    event_id: str
    quiz_id: str
    question_id: int

    @classmethod
    def parse(cls, data: dict[str, Any]) -> QuestionClosed:
        try:
            return cls(event_id=str(data["event_id"]), quiz_id=str(data["quiz_id"]), question_id=int(data["question_id"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BadScoreEvent(f"unreadable question_closed marker: {exc}") from exc


@dataclass(frozen=True)
class ScoreEvent:
    event_id: str
    quiz_id: str
    user_id: str
    display_name: str
    score: int
    version: int
    reached_ms: int
    removed: bool

    @classmethod
    def parse(cls, raw: bytes | str) -> ScoreEvent:
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("type") != "score":
                raise BadScoreEvent("not a score event")
            reached = datetime.fromisoformat(data["reached_at"])
            return cls(
                event_id=str(data["event_id"]),
                quiz_id=str(data["quiz_id"]),
                user_id=str(data["user_id"]),
                display_name=str(data["display_name"]),
                score=int(data["score"]),
                version=int(data["version"]),
                reached_ms=int(reached.timestamp() * 1000),
                removed=bool(data.get("removed", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadScoreEvent(f"unreadable score event: {exc}") from exc


@dataclass(frozen=True)
class BoardTick:
    """The leaderboard's own reminder, put on the quiz's partition when it held a board frame back to keep
    the pace: when it comes back and nothing newer pushed the board, the held-back frame goes out."""

    quiz_id: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> BoardTick:
        if not isinstance(data.get("quiz_id"), str):
            raise BadScoreEvent("unreadable board_tick: no quiz_id")
        return cls(quiz_id=data["quiz_id"])


BoardRecord = ScoreEvent | QuestionClosed | BoardTick


def parse_record(raw: bytes | str) -> BoardRecord:
    """A record of the scores topic: a player's new total, a question's close, or a board tick."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadScoreEvent(f"not JSON: {exc}") from exc
    if isinstance(data, dict) and data.get("type") == "question_closed":
        return QuestionClosed.parse(data)
    if isinstance(data, dict) and data.get("type") == "board_tick":
        return BoardTick.parse(data)
    return ScoreEvent.parse(raw)


# 13 digits of milliseconds (until the year 2286); an earlier time gives the larger member.
_REACHED_MS_MAX = 9_999_999_999_999


def rank_key(user_id: str, score: int, reached_ms: int) -> tuple[int, str]:
    """Higher keys rank higher. The string is the board's sorted-set member: Redis orders members of equal
    score lexicographically, so putting the inverted time first makes it settle ties itself."""
    return score, f"{_REACHED_MS_MAX - reached_ms:013d}|{user_id}"


def ranked_order(rows: Iterable[tuple[str, int, int]]) -> list[str]:
    """User ids of (user id, score, reached_ms) rows in rank order."""
    return [u for u, _, _ in sorted(rows, key=lambda r: rank_key(*r), reverse=True)]


def user_of(member_name: str) -> str:
    """The user id in a sorted-set member built by `rank_key`."""
    return member_name.split("|", 1)[1]


def latest(events: list[ScoreEvent]) -> dict[tuple[str, str], ScoreEvent]:
    """Per (quiz, player), the event with the highest version in a batch (earlier ones are moot)."""
    out: dict[tuple[str, str], ScoreEvent] = {}
    for e in events:
        key = (e.quiz_id, e.user_id)
        if key not in out or e.version > out[key].version:
            out[key] = e
    return out


@dataclass(frozen=True)
class Standing:
    rank: int
    user_id: str
    display_name: str
    score: int

    def body(self) -> dict[str, Any]:
        return {"rank": self.rank, "user_id": self.user_id, "display_name": self.display_name, "score": self.score}


@dataclass(frozen=True)
class Climber:
    """A player whose score event arrived in this tick, where they stand now, and who is just above."""

    standing: Standing
    above_score: int | None
    above_name: str | None


@dataclass(frozen=True)
class BoardView:
    """What one push of a quiz shows: read in a cost bounded by the top N and the players who moved."""

    quiz_id: str
    seq: int
    player_count: int
    top: list[Standing]
    climbers: list[Climber]


def leaderboard_frame(view: BoardView, server_time: str) -> dict[str, Any]:
    return {
        "type": "leaderboard",
        "quiz_id": view.quiz_id,
        "seq": view.seq,
        "player_count": view.player_count,
        "top": [s.body() for s in view.top],
        "server_time": server_time,
    }


def rank_frame(quiz_id: str, me: Standing, above_score: int | None, above_name: str | None, player_count: int) -> dict[str, Any]:
    """A player's own place: rank, score and the points needed to pass the player above."""
    return {
        "type": "your_rank",
        "quiz_id": quiz_id,
        "rank": me.rank,
        "score": me.score,
        "player_count": player_count,
        # on equal scores the earlier player stays ahead, so passing them needs one point more
        "gap_to_next": (above_score - me.score + 1) if above_score is not None else 0,
        "next_display_name": above_name,
    }


def everyone_ranks(quiz_id: str, ranked: list[Standing]) -> dict[str, dict[str, Any]]:
    """Every player's own frame, from the whole board in rank order (once per question, at its close)."""
    frames = {}
    for i, me in enumerate(ranked):
        above = ranked[i - 1] if i > 0 else None
        frames[me.user_id] = rank_frame(quiz_id, me, above.score if above else None, above.display_name if above else None, len(ranked))
    return frames


def push_interval_ms(audience: int, *, min_interval_ms: int, fanout_frames_per_s: int) -> int:
    """The shortest gap between two leaderboard frames of one quiz: never under the configured minimum,
    and long enough that a room of `audience` connections stays within what delivery can carry."""
    return max(min_interval_ms, (1000 * audience) // max(1, fanout_frames_per_s))


def wait_before_push_ms(last_push_ms: int | None, interval_ms: int, now_ms: int) -> int:
    """How long this tick waits so that frames of one quiz keep their pace (0: push now). The tick
    always pushes after waiting, so the last change is never left unsent (a trailing push). A clock
    that jumped is never waited out for longer than one interval."""
    if last_push_ms is None:
        return 0
    return max(0, min(last_push_ms + interval_ms - now_ms, interval_ms))


@dataclass(frozen=True)
class Pace:
    """A quiz's board frames so far: when the last push started (ms since the epoch), to how many
    connections, and whether a frame held back to keep the pace is still owed."""

    last_push_ms: int | None
    audience: int
    held: bool
