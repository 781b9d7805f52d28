"""The one port every service pushes frames through, and what one push of a quiz carries.

The quiz service (question opened/closed, removals, the end) and the leaderboard (board and rank frames)
both talk to the players' connections through `Notifier`; `quiz.realtime.broadcaster.Broadcaster` is
its adapter. Pure: no I/O, no adapter imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Frame = Mapping[str, Any]


@dataclass(frozen=True)
class QuizPush:
    """One tick of one quiz: the board frame for every connection (None: held back this tick, to keep
    the pace), and personal frames by user id."""

    quiz_id: str
    board: Frame | None
    personal: Mapping[str, Frame]


class Notifier(Protocol):
    """Frames to the connections watching a quiz. Best effort: a frame a player misses comes back with
    their next `join` (the snapshot) or the next tick."""

    def to_quiz(self, quiz_id: str, frame: Frame) -> int:
        """One frame to every connection of the quiz; returns how many were reached."""
        ...

    def to_players(self, quiz_id: str, frames: Mapping[str, Frame]) -> int:
        """A frame of their own to each player (by user id), on every connection they have open."""
        ...

    def deliver(self, pushes: Sequence[QuizPush]) -> dict[str, int]:
        """Every quiz's board frame to all its connections and each personal frame to its player, in as few
        calls as the gateway allows; returns, per quiz, how many connections it has."""
        ...

    def unsubscribe(self, quiz_id: str, user_id: str) -> None:
        """Stop sending this quiz's frames to every connection of this player."""
        ...
