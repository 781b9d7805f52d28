"""What the quiz service needs from the outside world, as small protocols. Adapters (`quiz.quizzes.adapters`)
implement them; unit tests use in-memory fakes. Nothing here imports an adapter or a client library.

The store's writes take a `guard` (who may do this, decided by the service) and run it on the quiz they
locked, so the permission check and the change see the same state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from quiz.ports import Notifier as Notifier  # the one notifier port, shared with the leaderboard
from quiz.quizzes.domain import AnswerResult, Participant, Question, Quiz, QuizDraft
from quiz.quizzes.outbox import OutboxEvent
from quiz.quizzes.report import AnswerRow, PlayedQuiz, SessionRows

Guard = Callable[[Quiz], None]


@dataclass(frozen=True)
class ClosedQuestion:
    """A question this transaction closed, and the marker announcing it on the scores topic."""

    position: int
    event: OutboxEvent


@dataclass(frozen=True)
class RecordedAnswer:
    result: AnswerResult
    event: OutboxEvent | None  # None for a replay: nothing new to publish
    # The question, when it had already been closed (its question_closed frames possibly sent) by the
    # time this answer, received before the close, was recorded: the player's own frame is stale.
    closed_before: Question | None = None


class QuizStore(Protocol):
    """Quizzes, participants, answers and the outbox. Every change others must hear about returns the
    outbox event written in its own transaction; the store's clock is the one every decision uses."""

    def get(self, quiz_id: str) -> tuple[Quiz, datetime]:
        """The quiz and the store's current time, read together; raises NotFound."""
        ...

    def list_hosted(self, host_id: str) -> list[dict[str, Any]]: ...

    def participant(self, quiz_id: str, user_id: str) -> Participant | None: ...

    def participants(self, quiz_id: str) -> list[Participant]:
        """The active participants in rank order (the live board's order exactly)."""
        ...

    def active_scores(self, quiz_id: str) -> Mapping[str, int]:
        """Each active participant's score by user id, in no order (a close tells the whole room: no sort)."""
        ...

    def answers_for(self, quiz_id: str, position: int) -> Mapping[str, Mapping[str, Any]]:
        """Each answer to the question by user id (``correct``, ``points``, ``total_after``, ``given``)."""
        ...

    def create(self, host_id: str, draft: QuizDraft) -> str: ...

    def replace_draft(self, quiz_id: str, draft: QuizDraft, guard: Guard) -> None: ...

    def set_locked(self, quiz_id: str, locked: bool, guard: Guard) -> None: ...

    def join(self, quiz_id: str, user_id: str, display_name: str) -> tuple[Participant, OutboxEvent | None]:
        """Seat the player (or find their seat); the event is None when they were already in."""
        ...

    def remove(self, quiz_id: str, user_id: str, guard: Guard) -> OutboxEvent: ...

    def advance(self, quiz_id: str, guard: Guard, *, start: bool, expected: int | None = None) -> tuple[Quiz, ClosedQuestion | None, bool]:
        """Start the quiz or open the next question; (new state, question closed on the way, whether it moved)."""
        ...

    def end(self, quiz_id: str, guard: Guard) -> tuple[Quiz, ClosedQuestion | None]: ...

    def seconds_to_deadline(self, quiz_id: str, position: int) -> float | None:
        """Seconds until the question's deadline (≤ 0 when due); None when closed, never opened or unknown."""
        ...

    def close_if_due(self, quiz_id: str, position: int) -> ClosedQuestion | None: ...

    def record_answer(
        self, quiz_id: str, position: int, user_id: str, given: Any, idempotency_key: str | None, *, received_at: datetime | None = None
    ) -> RecordedAnswer:
        """Judge and store one answer with the new total and its outbox event, idempotently by key."""
        ...

    def pending_outbox(self, *, older_than_s: float, limit: int = 500) -> list[OutboxEvent]: ...

    def drain_outbox(
        self, publish: Callable[[list[OutboxEvent]], list[int]], *, exclude: list[int], older_than_s: float, limit: int = 200
    ) -> tuple[int, int]:
        """Publish the oldest unpublished events and mark what was acknowledged; (claimed, acknowledged)."""
        ...

    def prune_outbox(self, *, older_than_days: int = 7, limit: int = 10_000) -> int: ...

    def mark_published(self, ids: list[int]) -> None: ...

    def mark_published_later(self, ids: list[int]) -> None:
        """Rows to mark published with the next write that marks any (bookkeeping, never correctness)."""
        ...


class ScorePublisher(Protocol):
    def publish(self, events: list[OutboxEvent]) -> list[int]:
        """Publish outbox events; returns the outbox ids the broker acknowledged."""
        ...


class QuestionTimer(Protocol):
    def close_at(self, quiz_id: str, position: int, deadline: datetime) -> None:
        """Arrange for the question to be closed at its deadline even if the host does nothing."""
        ...


class ReportReader(Protocol):
    """What the report and a learner's results read from PostgreSQL, the source of truth: a few
    statements per call, each in one snapshot, never one per player."""

    def session(self, quiz_id: str) -> SessionRows:
        """The quiz's start and end, its active players with the tally of their answers, and those answers
        grouped by question and answer given."""
        ...

    def answers(self, quiz_id: str) -> list[AnswerRow]:
        """Every answer the quiz's active players recorded, one row each (the CSV table of answers)."""
        ...

    def played_by(self, user_id: str, *, limit: int) -> tuple[list[PlayedQuiz], datetime]:
        """The started quizzes the user holds an active seat in, most recent first, with the store's time."""
        ...
