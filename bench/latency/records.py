"""One answer and the player who gave it, as the drive fills them in and the report reads them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clients.quiz_client import Frame, LiveSession, QuizClient

AnswerVia = str  # "ws" | "http" | "mixed"


@dataclass
class AnswerRecord:
    """One answer and when its effect reached the player who gave it (monotonic seconds)."""

    players: int
    player: int
    question: int
    via: str
    scheduled_s: float  # offset into the question at which the player meant to answer
    correct: bool = False
    points: int = 0
    score: int = 0
    t_sent: float = 0.0
    t_ack: float = 0.0
    error: str | None = None
    t_leaderboard: float | None = None  # first `leaderboard` frame listing the player at `total`
    t_your_rank: float | None = None  # first `your_rank` frame with score == `total`

    @property
    def changes_total(self) -> bool:
        return self.error is None and self.points > 0

    @property
    def measure(self) -> str | None:
        """Which frame showed the new score: the leaderboard when the player is in its top N, else your_rank."""
        if self.t_leaderboard is not None:
            return "leaderboard"
        if self.t_your_rank is not None:
            return "your_rank"
        return None

    @property
    def t_board(self) -> float | None:
        return self.t_leaderboard if self.t_leaderboard is not None else self.t_your_rank

    def delay_ms(self) -> float | None:
        return None if self.t_board is None else (self.t_board - self.t_ack) * 1000

    def row(self) -> dict[str, Any]:
        def ms(t: float | None) -> float | None:
            return None if t is None else round((t - self.t_ack) * 1000, 2)

        return {
            "players": self.players,
            "player": self.player,
            "question": self.question,
            "via": self.via,
            "correct": self.correct,
            "points": self.points,
            "score": self.score,
            "ack_ms": round((self.t_ack - self.t_sent) * 1000, 2) if self.error is None else None,
            "measure": self.measure if self.changes_total else None,
            "delay_ms": ms(self.t_board) if self.changes_total else None,
            "leaderboard_delay_ms": ms(self.t_leaderboard) if self.changes_total else None,
            "your_rank_delay_ms": ms(self.t_your_rank) if self.changes_total else None,
            "error": self.error,
        }


@dataclass
class Player:
    index: int
    client: QuizClient
    live: LiveSession | None = None
    via: str = "ws"

    @property
    def user_id(self) -> str:
        return self.client.user_id


# ---------------------------------------------------------------------------------------------- reflection


def _board_score(frame: Frame, user_id: str) -> int | None:
    for row in frame.get("top", ()):
        if row.get("user_id") == user_id:
            return int(row["score"])
    return None


def find_reflection(record: AnswerRecord, frames: Sequence[tuple[float, Frame]], user_id: str) -> None:
    """Fill in t_leaderboard / t_your_rank from a player's frames (in arrival order).

    Frames that arrived before the answer was sent cannot show it. Totals only grow (one answer per
    question, questions one after another), so a frame carrying exactly the new score shows this answer."""
    for at, frame in frames:
        if at < record.t_sent:
            continue
        kind = frame.get("type")
        if kind == "leaderboard" and record.t_leaderboard is None and _board_score(frame, user_id) == record.score:
            record.t_leaderboard = at
        elif kind == "your_rank" and record.t_your_rank is None and frame.get("score") == record.score:
            record.t_your_rank = at
        if record.t_leaderboard is not None and record.t_your_rank is not None:
            return


def reflected(record: AnswerRecord, player: Player) -> bool:
    assert player.live is not None
    frames = list(player.live.frames)  # the reader thread appends; a copy is a consistent prefix
    find_reflection(record, frames, player.user_id)
    return record.t_board is not None
