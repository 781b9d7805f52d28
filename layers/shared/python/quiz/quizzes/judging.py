"""Judging one answer: is it in time, is it right, what does it earn. Pure (no I/O).

An answer's time is when it reached the API (API Gateway's request time), never when a busy or cold
worker got to it: queueing must neither refuse an answer given in time nor cost it points. The store
reads the question's times and the player's streak, then asks `judge`; the same rules, same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from quiz.errors import Conflict
from quiz.quizzes.domain import Question
from quiz.quizzes.scoring import award

# The gateway's clock and the database's are different machines' clocks. An answer stamped a little
# before its question opened (by less than this) is taken as given at the opening; one stamped earlier
# was sent before the player could have seen the question: it is refused as not open yet.
CLOCK_SKEW = timedelta(seconds=1)


@dataclass(frozen=True)
class QuestionTimes:
    """A question's clock as the database recorded it (``closed_at`` set once it was closed)."""

    opened_at: datetime | None
    deadline: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class StreakSoFar:
    """The player's run of correct answers before this one."""

    streak: int
    last_correct_position: int


@dataclass(frozen=True)
class Judgement:
    given: str | int
    correct: bool
    points: int
    elapsed_ms: int
    streak: int
    answered_at: datetime  # the time the answer was judged on: when it reached the API
    after_close: bool  # accepted although its question had been closed by the time it was processed


def answer_time(received_at: datetime | None, now: datetime) -> datetime:
    """When the answer counts as given: when it reached the API, or the database's ``now`` when the
    request time is unknown. Never later than ``now``: an answer cannot arrive after it is processed."""
    return now if received_at is None else min(received_at, now)


def judge(
    question: Question,
    given: Any,
    times: QuestionTimes,
    *,
    received_at: datetime | None,
    now: datetime,
    already_answered: bool,
    before: StreakSoFar,
    streak_bonus: int,
) -> Judgement:
    """Judge an answer to ``question`` received at ``received_at`` and processed at ``now``.

    Refused (nothing changes) when the question was not open when the answer arrived, when the answer
    does not fit the question, when the player already answered it, or when it arrived at or after the
    deadline or after the host closed the question early. Otherwise scored on its arrival time."""
    at = answer_time(received_at, now)
    if times.opened_at is None or times.deadline is None or at + CLOCK_SKEW < times.opened_at:
        raise QuestionNotOpen(question.position)
    shaped = question.check_answer_shape(given)
    if already_answered:
        raise AlreadyAnswered(question.position)
    if at >= times.deadline or (times.closed_at is not None and at >= times.closed_at):
        raise QuestionClosed(question.position)
    correct = question.is_correct(shaped)
    elapsed_ms = max(0, int((at - times.opened_at).total_seconds() * 1000))
    consecutive = before.last_correct_position == question.position - 1 and before.streak > 0
    streak = (before.streak + 1 if consecutive else 1) if correct else 0
    points = award(
        correct=correct,
        points=question.points,
        elapsed_ms=elapsed_ms,
        limit_ms=question.time_limit_ms,
        streak_bonus=streak_bonus,
        streak=streak,
    )
    return Judgement(shaped, correct, points, elapsed_ms, streak, at, after_close=times.closed_at is not None)


class QuestionNotOpen(Conflict):
    code = "question_not_open"

    def __init__(self, position: int) -> None:
        super().__init__(f"question {position} has not been opened yet", details={"question_id": position})


class QuestionClosed(Conflict):
    code = "question_closed"

    def __init__(self, position: int) -> None:
        super().__init__(f"question {position} is closed: answers after the deadline do not count", details={"question_id": position})


class AlreadyAnswered(Conflict):
    code = "already_answered"

    def __init__(self, position: int) -> None:
        super().__init__(f"you already answered question {position}; one answer per question", details={"question_id": position})
