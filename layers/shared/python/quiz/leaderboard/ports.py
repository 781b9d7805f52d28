"""What the leaderboard service needs from the outside world, as small protocols. Adapters
(`quiz.leaderboard.adapters`) implement them; unit tests use in-memory fakes. Frames go out through the
layer's one `quiz.ports.Notifier`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from quiz.leaderboard.domain import BoardView, Pace, ScoreEvent, Standing
from quiz.ports import Notifier as Notifier  # the one notifier port, shared with the quiz service


class Board(Protocol):
    """The live board of each quiz (Redis): applied idempotently by version, read in a cost bounded by the
    top N and the players who moved, plus the pacing state of its board frames."""

    def missing(self, quiz_ids: Iterable[str]) -> list[str]:
        """Quizzes whose board is not there (never built, expired, or lost)."""
        ...

    def apply(self, by_quiz: dict[str, list[ScoreEvent]]) -> dict[str, list[str]]:
        """Apply each quiz's events, only those newer than what the board holds; returns the players changed."""
        ...

    def mark_ready(self, quiz_id: str) -> None: ...

    def ranked(self, quiz_id: str, limit: int | None = None) -> list[Standing]:
        """Standings in rank order (all of them when limit is None)."""
        ...

    def views(self, moved: dict[str, list[str]], top_n: int, *, frames: Iterable[str] = ()) -> dict[str, BoardView]:
        """Per quiz: the top N, where each moved player stands, and a new seq for the quizzes in `frames`."""
        ...

    def pace_state(self, quiz_ids: list[str]) -> dict[str, Pace]: ...

    def hold(self, quiz_ids: list[str], tick_ttl_ms: int) -> list[str]:
        """Note that these quizzes owe a board frame; returns those with no tick on its way yet."""
        ...

    def ticks_arrived(self, quiz_ids: list[str]) -> None: ...

    def record_pushes(self, pushed: dict[str, int], *, at_ms: int) -> None:
        """When each quiz's last board push started and to how many connections it went."""
        ...


class Standings(Protocol):
    """The persisted standings and the quiz service's committed totals (PostgreSQL)."""

    def persist(self, events: list[ScoreEvent]) -> None:
        """Upsert the latest event per player; an older version never overwrites a newer one."""
        ...

    def viewer_role(self, quiz_id: str, user_id: str) -> str | None:
        """ "host", "player" (an active participant) or None; raises NotFound for an unknown quiz."""
        ...

    def source_of_truth(self, quiz_id: str) -> list[ScoreEvent]:
        """Every participant's current total as the quiz service committed it (to rebuild a lost board)."""
        ...


class Ticker(Protocol):
    def tick(self, quiz_ids: list[str]) -> None:
        """Put a board tick for each quiz on its partition of the scores topic (best effort)."""
        ...
