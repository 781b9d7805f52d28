"""Score events and standings in the leaderboard's own words. Pure (no I/O).

Ordering: higher score first; on equal scores, whoever reached that score first ranks higher.
The sorted-set member carries the tie-break so Redis orders ties itself: members of equal score
are ordered lexicographically, so the member starts with ``MAX_MS - reached_ms`` (earlier = larger).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

MAX_MS = 9_999_999_999_999  # 13 digits: good until the year 2286


class BadScoreEvent(ValueError):
    """A record on the scores topic that is not a score event this version understands."""


@dataclass(frozen=True)
class ScoreEvent:
    event_id: str
    quiz_id: str
    user_id: str
    display_name: str
    total: int
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
                total=int(data["total"]),
                version=int(data["version"]),
                reached_ms=int(reached.timestamp() * 1000),
                removed=bool(data.get("removed", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadScoreEvent(f"unreadable score event: {exc}") from exc


def member(user_id: str, reached_ms: int) -> str:
    return f"{MAX_MS - reached_ms:013d}|{user_id}"


def user_of(member_name: str) -> str:
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


def personal_frame(quiz_id: str, ranked: list[Standing], index: int, participants: int) -> dict[str, Any]:
    """A player's own place: rank, score and the points needed to pass the player above."""
    me = ranked[index]
    above = ranked[index - 1] if index > 0 else None
    return {
        "type": "your_rank",
        "quiz_id": quiz_id,
        "rank": me.rank,
        "score": me.score,
        "participants": participants,
        # on equal scores the earlier player stays ahead, so passing them needs one point more
        "gap_to_next": (above.score - me.score + 1) if above else 0,
        "next_display_name": above.display_name if above else None,
    }
