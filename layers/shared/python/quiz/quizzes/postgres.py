"""PostgreSQL adapter of the quiz store. PostgreSQL's clock is the one clock every decision uses.

Every state change that others must hear about writes its outbox row in the same transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from quiz.errors import Conflict, DependencyUnavailable, NotFound
from quiz.quizzes.domain import (
    AnswerResult,
    Question,
    QuestionRound,
    Quiz,
    QuizDraft,
    new_quiz_id,
    score_event,
)
from quiz.quizzes.scoring import award

Row = dict[str, Any]


@dataclass(frozen=True)
class Participant:
    user_id: str
    display_name: str
    status: str
    total: int
    version: int
    reached_at: datetime
    joined_at: datetime

    def body(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "display_name": self.display_name, "total": self.total, "joined_at": self.joined_at.isoformat()}


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    event_id: str
    topic: str
    key: str
    payload: dict[str, Any]
    headers: dict[str, str]


def _question(row: Row) -> Question:
    return Question(
        position=row["position"],
        kind=row["kind"],
        prompt=row["prompt"],
        time_limit_ms=row["time_limit_ms"],
        points=row["points"],
        choices=tuple(row["choices"] or ()),
        correct_choice=row["correct_choice"],
        accepted_answers=tuple(row["accepted_answers"] or ()),
        typo_tolerance=row["typo_tolerance"],
    )


def _participant(row: Row) -> Participant:
    return Participant(
        user_id=str(row["user_id"]),
        display_name=row["display_name"],
        status=row["status"],
        total=row["total"],
        version=row["version"],
        reached_at=row["reached_at"],
        joined_at=row["joined_at"],
    )


class PostgresQuizStore:
    """Quizzes, participants, answers and the outbox in PostgreSQL."""

    def __init__(self, pool: ConnectionPool, scores_topic: str) -> None:
        self._pool = pool
        self._topic = scores_topic

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Row]]:
        try:
            with self._pool.connection() as conn:
                conn.row_factory = dict_row  # type: ignore[assignment]
                try:
                    with conn.transaction():
                        yield conn  # type: ignore[misc]
                finally:
                    conn.row_factory = tuple_row  # the pool is shared with other adapters
        except psycopg.OperationalError as exc:
            raise DependencyUnavailable("the database is unavailable; retry shortly") from exc

    # ------------------------------------------------------------------ reading

    def now(self) -> datetime:
        with self._tx() as conn:
            row = conn.execute("SELECT clock_timestamp() AS now").fetchone()
        assert row
        return row["now"]  # type: ignore[no-any-return]

    def _load(self, conn: psycopg.Connection[Row], quiz_id: str, *, lock: bool = False) -> Quiz | None:
        row = conn.execute("SELECT * FROM quizzes WHERE id = %s" + (" FOR UPDATE" if lock else ""), (quiz_id,)).fetchone()
        if row is None:
            return None
        rounds = tuple(
            QuestionRound(_question(q), q["opened_at"], q["deadline"], q["closed_at"])
            for q in conn.execute("SELECT * FROM questions WHERE quiz_id = %s ORDER BY position", (quiz_id,))
        )
        return Quiz(
            id=row["id"],
            host_id=str(row["host_id"]),
            title=row["title"],
            status=row["status"],
            locked=row["locked"],
            streak_bonus=row["streak_bonus"],
            current_position=row["current_position"],
            rounds=rounds,
            created_at=row["created_at"],
        )

    def get(self, quiz_id: str) -> tuple[Quiz, datetime]:
        """The quiz and the database's current time, read together."""
        with self._tx() as conn:
            quiz = self._load(conn, quiz_id)
            now = conn.execute("SELECT clock_timestamp() AS now").fetchone()
        if quiz is None:
            raise NotFound(f"no quiz with id {quiz_id}", details={"quiz_id": quiz_id})
        assert now
        return quiz, now["now"]

    def list_hosted(self, host_id: str) -> list[Row]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id AS quiz_id, title, status, locked, question_count, created_at,"
                " (SELECT count(*) FROM participants p WHERE p.quiz_id = q.id AND p.status = 'active') AS participants"
                " FROM quizzes q WHERE host_id = %s ORDER BY created_at DESC LIMIT 200",
                (host_id,),
            ).fetchall()
        return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]

    def participant(self, quiz_id: str, user_id: str) -> Participant | None:
        with self._tx() as conn:
            row = conn.execute("SELECT * FROM participants WHERE quiz_id = %s AND user_id = %s", (quiz_id, user_id)).fetchone()
        return _participant(row) if row else None

    def participants(self, quiz_id: str) -> list[Participant]:
        with self._tx() as conn:
            rows = conn.execute(
                # The live board's order exactly (quiz/leaderboard/redis_store.py): score, then who reached it
                # first to the millisecond, then the user id backwards (Redis' order of equal members).
                "SELECT * FROM participants WHERE quiz_id = %s AND status = 'active'"
                " ORDER BY total DESC, date_trunc('milliseconds', reached_at), user_id::text DESC",
                (quiz_id,),
            ).fetchall()
        return [_participant(r) for r in rows]

    def answers_for(self, quiz_id: str, position: int) -> dict[str, Row]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT user_id, correct, points, total_after, given FROM answers WHERE quiz_id = %s AND position = %s",
                (quiz_id, position),
            ).fetchall()
        return {str(r["user_id"]): r for r in rows}

    # ------------------------------------------------------------------ authoring

    def _write_questions(self, conn: psycopg.Connection[Row], quiz_id: str, draft: QuizDraft) -> None:
        conn.execute("DELETE FROM questions WHERE quiz_id = %s", (quiz_id,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO questions (quiz_id, position, kind, prompt, choices, correct_choice, accepted_answers,"
                " typo_tolerance, time_limit_ms, points) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        quiz_id,
                        q.position,
                        q.kind,
                        q.prompt,
                        Jsonb(list(q.choices)) if q.kind == "multiple_choice" else None,
                        q.correct_choice,
                        Jsonb(list(q.accepted_answers)) if q.kind == "typed" else None,
                        q.typo_tolerance,
                        q.time_limit_ms,
                        q.points,
                    )
                    for q in draft.questions
                ],
            )

    def create(self, host_id: str, draft: QuizDraft) -> str:
        for _ in range(8):
            quiz_id = new_quiz_id()
            try:
                with self._tx() as conn:
                    conn.execute(
                        "INSERT INTO quizzes (id, host_id, title, streak_bonus, question_count) VALUES (%s, %s, %s, %s, %s)",
                        (quiz_id, host_id, draft.title, draft.streak_bonus, len(draft.questions)),
                    )
                    self._write_questions(conn, quiz_id, draft)
                return quiz_id
            except psycopg.errors.UniqueViolation:
                continue  # PIN collision: draw another
        raise DependencyUnavailable("could not allocate a quiz id; retry")

    def replace_draft(self, quiz_id: str, draft: QuizDraft, guard: Callable[[Quiz], None]) -> None:
        with self._tx() as conn:
            quiz = self._load(conn, quiz_id, lock=True)
            if quiz is None:
                raise NotFound(f"no quiz with id {quiz_id}")
            guard(quiz)
            quiz.require_editable()
            conn.execute(
                "UPDATE quizzes SET title = %s, streak_bonus = %s, question_count = %s, updated_at = now() WHERE id = %s",
                (draft.title, draft.streak_bonus, len(draft.questions), quiz_id),
            )
            self._write_questions(conn, quiz_id, draft)

    def set_locked(self, quiz_id: str, locked: bool, guard: Callable[[Quiz], None]) -> None:
        with self._tx() as conn:
            quiz = self._load(conn, quiz_id, lock=True)
            if quiz is None:
                raise NotFound(f"no quiz with id {quiz_id}")
            guard(quiz)
            conn.execute("UPDATE quizzes SET locked = %s, updated_at = now() WHERE id = %s", (locked, quiz_id))

    # ------------------------------------------------------------------ players

    def join(self, quiz_id: str, user_id: str, display_name: str) -> tuple[Participant, OutboxEvent | None]:
        """Add the player (or return their existing seat). The event is None when they were already in."""
        with self._tx() as conn:
            quiz = conn.execute("SELECT status, locked FROM quizzes WHERE id = %s FOR SHARE", (quiz_id,)).fetchone()
            if quiz is None:
                raise NotFound(f"no quiz with id {quiz_id}", details={"quiz_id": quiz_id})
            existing = conn.execute("SELECT * FROM participants WHERE quiz_id = %s AND user_id = %s", (quiz_id, user_id)).fetchone()
            if existing is not None:
                if existing["status"] == "removed":
                    raise _Removed()
                return _participant(existing), None
            if quiz["status"] == "ended":
                raise QuizEnded()
            if quiz["locked"]:
                raise QuizLocked()
            row = conn.execute(
                "INSERT INTO participants (quiz_id, user_id, display_name, reached_at) VALUES (%s, %s, %s, clock_timestamp())"
                " ON CONFLICT (quiz_id, user_id) DO NOTHING RETURNING *",
                (quiz_id, user_id, display_name),
            ).fetchone()
            if row is None:  # a concurrent join of the same player won: theirs is the seat
                seated = conn.execute("SELECT * FROM participants WHERE quiz_id = %s AND user_id = %s", (quiz_id, user_id)).fetchone()
                assert seated
                return _participant(seated), None
            participant = _participant(row)
            return participant, self._enqueue(conn, quiz_id, participant, reason="joined")

    def remove(self, quiz_id: str, user_id: str, guard: Callable[[Quiz], None]) -> OutboxEvent:
        with self._tx() as conn:
            quiz = self._load(conn, quiz_id, lock=True)
            if quiz is None:
                raise NotFound(f"no quiz with id {quiz_id}")
            guard(quiz)
            row = conn.execute(
                "UPDATE participants SET status = 'removed', version = version + 1 WHERE quiz_id = %s AND user_id = %s AND status = 'active'"
                " RETURNING *",
                (quiz_id, user_id),
            ).fetchone()
            if row is None:
                raise NotFound("that player is not in this quiz", details={"user_id": user_id})
            return self._enqueue(conn, quiz_id, _participant(row), reason="removed", removed=True)

    # ------------------------------------------------------------------ pacing

    def _open(self, conn: psycopg.Connection[Row], quiz_id: str, position: int) -> None:
        conn.execute(
            "UPDATE questions SET opened_at = clock_timestamp(), deadline = clock_timestamp() + time_limit_ms * interval '1 millisecond'"
            " WHERE quiz_id = %s AND position = %s",
            (quiz_id, position),
        )
        conn.execute(
            "UPDATE quizzes SET status = 'running', current_position = %s, started_at = coalesce(started_at, clock_timestamp()),"
            " updated_at = now() WHERE id = %s",
            (position, quiz_id),
        )

    def _close_current(self, conn: psycopg.Connection[Row], quiz: Quiz) -> int | None:
        """Close the current question if it is still open; returns its position when this call closed it."""
        if not quiz.current_position:
            return None
        row = conn.execute(
            "UPDATE questions SET closed_at = least(clock_timestamp(), deadline) WHERE quiz_id = %s AND position = %s"
            " AND opened_at IS NOT NULL AND closed_at IS NULL RETURNING position",
            (quiz.id, quiz.current_position),
        ).fetchone()
        return row["position"] if row else None

    def advance(
        self, quiz_id: str, guard: Callable[[Quiz], None], *, start: bool, expected: int | None = None
    ) -> tuple[Quiz, int | None, bool]:
        """Start the quiz or move to the next question. Returns the new state, the position closed on the
        way, and whether anything moved: with ``expected`` (the question the host is moving on from), a
        retry that finds the quiz already past it changes nothing."""
        with self._tx() as conn:
            quiz = self._load(conn, quiz_id, lock=True)
            if quiz is None:
                raise NotFound(f"no quiz with id {quiz_id}")
            guard(quiz)
            if expected is not None and quiz.current_position > expected and quiz.status != "open":
                return quiz, None, False
            if start and quiz.status != "open":
                raise Conflict("the quiz has already started", details={"status": quiz.status})
            if not start and quiz.status != "running":
                raise Conflict("the quiz is not running: start it first" if quiz.status == "open" else "the quiz has ended")
            if quiz.current_position >= quiz.question_count:
                raise NoMoreQuestions()
            closed = self._close_current(conn, quiz)
            self._open(conn, quiz_id, quiz.current_position + 1)
            fresh = self._load(conn, quiz_id)
        assert fresh
        return fresh, closed, True

    def end(self, quiz_id: str, guard: Callable[[Quiz], None]) -> tuple[Quiz, int | None]:
        with self._tx() as conn:
            quiz = self._load(conn, quiz_id, lock=True)
            if quiz is None:
                raise NotFound(f"no quiz with id {quiz_id}")
            guard(quiz)
            if quiz.status == "ended":
                raise Conflict("the quiz has already ended")
            closed = self._close_current(conn, quiz)
            conn.execute("UPDATE quizzes SET status = 'ended', ended_at = clock_timestamp(), updated_at = now() WHERE id = %s", (quiz_id,))
            fresh = self._load(conn, quiz_id)
        assert fresh
        return fresh, closed

    def seconds_to_deadline(self, quiz_id: str, position: int) -> float | None:
        """Seconds until the question's deadline on PostgreSQL's clock (≤ 0 when due); None when the
        question is already closed, was never opened, or does not exist."""
        with self._tx() as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM deadline - clock_timestamp()) AS left FROM questions"
                " WHERE quiz_id = %s AND position = %s AND closed_at IS NULL AND deadline IS NOT NULL",
                (quiz_id, position),
            ).fetchone()
        return None if row is None else float(row["left"])

    def close_if_due(self, quiz_id: str, position: int) -> bool:
        """Close a question whose deadline has passed; True only for the call that closed it."""
        with self._tx() as conn:
            row = conn.execute(
                "UPDATE questions SET closed_at = deadline WHERE quiz_id = %s AND position = %s AND closed_at IS NULL"
                " AND deadline IS NOT NULL AND deadline <= clock_timestamp() RETURNING position",
                (quiz_id, position),
            ).fetchone()
        return row is not None

    # ------------------------------------------------------------------ answers

    def record_answer(
        self, quiz_id: str, position: int, user_id: str, given: str | int, idempotency_key: str | None
    ) -> tuple[AnswerResult, OutboxEvent | None]:
        """Judge and store one answer with the new total and its outbox row, in one transaction."""
        with self._tx() as conn:
            # The player's row is the lock: a concurrent retry of the same request waits here, then
            # finds the first one's answer by its key and replays it instead of seeing a conflict.
            member = conn.execute(
                "SELECT * FROM participants WHERE quiz_id = %s AND user_id = %s FOR UPDATE", (quiz_id, user_id)
            ).fetchone()
            if idempotency_key is not None:
                prior = conn.execute(
                    "SELECT * FROM answers WHERE quiz_id = %s AND user_id = %s AND idempotency_key = %s",
                    (quiz_id, user_id, idempotency_key),
                ).fetchone()
                if prior is not None:
                    if prior["position"] != position or prior["given"] != json.dumps(given):
                        raise IdempotencyKeyReused()
                    return self._stored_result(conn, quiz_id, prior), None
            quiz_row = conn.execute("SELECT status, streak_bonus FROM quizzes WHERE id = %s", (quiz_id,)).fetchone()
            if quiz_row is None:
                raise NotFound(f"no quiz with id {quiz_id}", details={"quiz_id": quiz_id})
            if member is None or member["status"] != "active":
                raise NotAParticipant()
            q = conn.execute(
                # FOR SHARE: a concurrent next/end that closes this question waits for this answer (or
                # this answer waits for the close and then sees it), so question_closed never misses it.
                "SELECT *, clock_timestamp() AS now FROM questions WHERE quiz_id = %s AND position = %s FOR SHARE",
                (quiz_id, position),
            ).fetchone()
            if q is None:
                raise UnknownQuestion(position)
            if q["opened_at"] is None:
                raise QuestionNotOpen(position)
            question = _question(q)
            given = question.check_answer_shape(given)
            already = conn.execute(
                "SELECT 1 FROM answers WHERE quiz_id = %s AND position = %s AND user_id = %s", (quiz_id, position, user_id)
            ).fetchone()
            if already is not None:
                raise AlreadyAnswered(position)
            now: datetime = q["now"]
            if q["closed_at"] is not None or now >= q["deadline"]:
                raise QuestionClosed(position)
            correct = question.is_correct(given)
            elapsed_ms = int((now - q["opened_at"]).total_seconds() * 1000)
            consecutive = member["last_correct_position"] == position - 1 and member["streak"] > 0
            streak = (member["streak"] + 1 if consecutive else 1) if correct else 0
            points = award(
                correct=correct,
                points=question.points,
                elapsed_ms=elapsed_ms,
                limit_ms=question.time_limit_ms,
                streak_bonus=quiz_row["streak_bonus"],
                streak=streak,
            )
            row = conn.execute(
                "UPDATE participants SET total = total + %s, version = version + 1, streak = %s,"
                " last_correct_position = CASE WHEN %s THEN %s ELSE last_correct_position END,"
                " reached_at = CASE WHEN %s > 0 THEN %s ELSE reached_at END"
                " WHERE quiz_id = %s AND user_id = %s RETURNING *",
                (points, streak, correct, position, points, now, quiz_id, user_id),
            ).fetchone()
            assert row
            participant = _participant(row)
            conn.execute(
                "INSERT INTO answers (quiz_id, position, user_id, idempotency_key, given, correct, points, elapsed_ms,"
                " total_after, version_after, streak_after, answered_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    quiz_id,
                    position,
                    user_id,
                    idempotency_key,
                    json.dumps(given),
                    correct,
                    points,
                    elapsed_ms,
                    participant.total,
                    participant.version,
                    streak,
                    now,
                ),
            )
            event = self._enqueue(conn, quiz_id, participant, reason="answer", question_id=position, points=points, correct=correct)
            result = AnswerResult(quiz_id, position, correct, points, participant.total, elapsed_ms, streak)
            return result, event

    def _stored_result(self, conn: psycopg.Connection[Row], quiz_id: str, prior: Row) -> AnswerResult:
        return AnswerResult(
            quiz_id,
            prior["position"],
            prior["correct"],
            prior["points"],
            prior["total_after"],
            prior["elapsed_ms"],
            prior["streak_after"],
            replayed=True,
        )

    # ------------------------------------------------------------------ outbox

    def _enqueue(self, conn: psycopg.Connection[Row], quiz_id: str, p: Participant, *, reason: str, **extra: Any) -> OutboxEvent:
        event_id = str(uuid.uuid4())
        payload = score_event(
            event_id=event_id,
            quiz_id=quiz_id,
            user_id=p.user_id,
            display_name=p.display_name,
            total=p.total,
            version=p.version,
            reached_at=p.reached_at,
            reason=reason,
            **extra,
        )
        headers = _trace_headers()
        row = conn.execute(
            "INSERT INTO outbox (event_id, topic, key, payload, headers) VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (event_id, self._topic, quiz_id, Jsonb(payload), Jsonb(headers)),
        ).fetchone()
        assert row
        return OutboxEvent(row["id"], event_id, self._topic, quiz_id, payload, headers)

    def pending_outbox(self, *, older_than_s: float, limit: int = 500) -> list[OutboxEvent]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, event_id, topic, key, payload, headers FROM outbox WHERE published_at IS NULL AND topic = %s"
                " AND created_at <= clock_timestamp() - %s * interval '1 second' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (self._topic, older_than_s, limit),
            ).fetchall()
        return [OutboxEvent(r["id"], str(r["event_id"]), r["topic"], r["key"], r["payload"], r["headers"]) for r in rows]

    def prune_outbox(self, *, older_than_days: int = 7, limit: int = 10_000) -> int:
        """Delete published rows past their usefulness (the relay calls it); returns how many."""
        with self._tx() as conn:
            cur = conn.execute(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE published_at < clock_timestamp() - %s * interval '1 day'"
                " ORDER BY id LIMIT %s)",
                (older_than_days, limit),
            )
            return cur.rowcount

    def mark_published(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._tx() as conn:
            conn.execute("UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY(%s) AND published_at IS NULL", (ids,))


def _trace_headers() -> dict[str, str]:
    """W3C trace context of the current span, carried into Kafka so the push joins the same trace."""
    try:
        from opentelemetry import propagate
    except ImportError:  # pragma: no cover - the layer always ships it
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


# Domain errors specific to playing; each has its stable code (documented in the OpenAPI document).
class QuizLocked(Conflict):
    code = "quiz_locked"

    def __init__(self) -> None:
        super().__init__("the host has locked this quiz: no new players can join")


class QuizEnded(Conflict):
    code = "quiz_ended"

    def __init__(self) -> None:
        super().__init__("this quiz has ended")


class _Removed(Conflict):
    status = 403
    code = "removed_from_quiz"

    def __init__(self) -> None:
        super().__init__("the host removed you from this quiz")


class NotAParticipant(Conflict):
    status = 403
    code = "not_a_participant"

    def __init__(self) -> None:
        super().__init__("join the quiz before answering")


class UnknownQuestion(NotFound):
    code = "unknown_question"

    def __init__(self, position: int) -> None:
        super().__init__(f"this quiz has no question {position}", details={"question_id": position})


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


class IdempotencyKeyReused(Conflict):
    status = 422
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used for a different answer; use a new key per answer")


class NoMoreQuestions(Conflict):
    code = "no_more_questions"

    def __init__(self) -> None:
        super().__init__("that was the last question: end the quiz")
