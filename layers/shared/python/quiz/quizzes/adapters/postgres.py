"""PostgreSQL adapter of the quiz store (`quiz.quizzes.ports.QuizStore`). PostgreSQL's clock is the one clock every decision uses, but
for an answer's arrival, which API Gateway stamps (see `quiz.quizzes.judging`).

Every state change that others must hear about writes its outbox row in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any, NoReturn

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from quiz.errors import Conflict, DependencyUnavailable, NotFound
from quiz.observability import span
from quiz.quizzes.adapters.outbox import MARK_PUBLISHED, AckedRows, enqueue, trace_headers
from quiz.quizzes.domain import (
    AnswerResult,
    Participant,
    Question,
    QuestionRound,
    Quiz,
    QuizDraft,
    new_quiz_id,
    question_closed_event,
    score_event,
)
from quiz.quizzes.errors import (
    IdempotencyKeyReused,
    NoMoreQuestions,
    NotAParticipant,
    QuizEnded,
    QuizLocked,
    RemovedFromQuiz,
    UnknownQuestion,
)
from quiz.quizzes.judging import Judgement, QuestionTimes, StreakSoFar, judge
from quiz.quizzes.outbox import OutboxEvent, new_event_id
from quiz.quizzes.ports import ClosedQuestion, RecordedAnswer

Row = dict[str, Any]


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


# The quiz with its questions (as JSON, in order) and the database's clock, in one statement.
_GET = (
    "SELECT q.*, clock_timestamp() AS now, (SELECT coalesce(json_agg(x ORDER BY x.position), '[]'::json) FROM"
    " (SELECT position, kind, prompt, time_limit_ms, points, choices, correct_choice, accepted_answers, typo_tolerance,"
    " opened_at, deadline, closed_at FROM questions WHERE quiz_id = q.id) x) AS rounds FROM quizzes q WHERE q.id = %s"
)


def _quiz(row: Row, rounds: tuple[QuestionRound, ...]) -> Quiz:
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


def _instant(value: str | None) -> datetime | None:
    """A timestamptz that came through json_agg (ISO 8601 text) back as a datetime."""
    return datetime.fromisoformat(value) if value is not None else None


def _participant(row: Row) -> Participant:
    return Participant(
        user_id=str(row["user_id"]),
        display_name=row["display_name"],
        status=row["status"],
        score=row["total"],  # the column keeps its name; the API and the domain say `score`
        version=row["version"],
        reached_at=row["reached_at"],
        joined_at=row["joined_at"],
    )


def _replayed(ctx: Row, quiz_id: str, position: int, given: Any) -> AnswerResult:
    """The stored result of the answer this idempotency key first sent; the key may not change the answer."""
    if ctx["prior_position"] != position or ctx["prior_given"] != json.dumps(given):
        raise IdempotencyKeyReused()
    return AnswerResult(
        quiz_id,
        position,
        ctx["prior_correct"],
        ctx["prior_points"],
        ctx["prior_total"],
        ctx["prior_elapsed_ms"],
        ctx["prior_streak"],
        replayed=True,
    )


class PostgresQuizStore:
    """Quizzes, participants, answers and the outbox in PostgreSQL."""

    def __init__(self, pool: ConnectionPool, scores_topic: str) -> None:
        self._pool = pool
        self._topic = scores_topic
        self._acked = AckedRows()

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

    @contextmanager
    def _autocommit(self) -> Iterator[psycopg.Connection[Row]]:
        """Each statement its own transaction: no BEGIN and COMMIT round trips around it (one-statement
        reads, such as the close's players and answers, and the answer path's one writing statement)."""
        try:
            with self._pool.connection() as conn:
                conn.row_factory = dict_row  # type: ignore[assignment]
                conn.autocommit = True
                try:
                    yield conn  # type: ignore[misc]
                finally:
                    with suppress(psycopg.Error):  # a broken connection: the pool discards it
                        conn.autocommit = False
                    conn.row_factory = tuple_row
        except psycopg.OperationalError as exc:
            raise DependencyUnavailable("the database is unavailable; retry shortly") from exc

    # ------------------------------------------------------------------ reading

    def now(self) -> datetime:
        with self._autocommit() as conn:
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
        return _quiz(row, rounds)

    def get(self, quiz_id: str) -> tuple[Quiz, datetime]:
        """The quiz and the database's current time, read together: one statement, so one snapshot and one
        round trip (a join reads the quiz twice; this was five round trips each)."""
        with self._autocommit() as conn:
            row = conn.execute(_GET, (quiz_id,)).fetchone()
        if row is None:
            raise NotFound(f"no quiz with id {quiz_id}", details={"quiz_id": quiz_id})
        rounds = tuple(
            QuestionRound(_question(q), _instant(q["opened_at"]), _instant(q["deadline"]), _instant(q["closed_at"])) for q in row["rounds"]
        )
        return _quiz(row, rounds), row["now"]

    def list_hosted(self, host_id: str) -> list[Row]:
        with self._autocommit() as conn:
            rows = conn.execute(
                "SELECT id AS quiz_id, title, status, locked, question_count, created_at,"
                " (SELECT count(*) FROM participants p WHERE p.quiz_id = q.id AND p.status = 'active') AS player_count"
                " FROM quizzes q WHERE host_id = %s ORDER BY created_at DESC LIMIT 200",
                (host_id,),
            ).fetchall()
        return [{**r, "created_at": r["created_at"].isoformat()} for r in rows]

    def participant(self, quiz_id: str, user_id: str) -> Participant | None:
        with self._autocommit() as conn:
            row = conn.execute("SELECT * FROM participants WHERE quiz_id = %s AND user_id = %s", (quiz_id, user_id)).fetchone()
        return _participant(row) if row else None

    def participants(self, quiz_id: str) -> list[Participant]:
        with self._autocommit() as conn:
            rows = conn.execute(
                # The ranking of quiz.leaderboard.domain.rank_key (the live board's order exactly): score, then
                # who reached it first to the millisecond, then the user id backwards.
                "SELECT * FROM participants WHERE quiz_id = %s AND status = 'active'"
                " ORDER BY total DESC, date_trunc('milliseconds', reached_at), user_id::text DESC",
                (quiz_id,),
            ).fetchall()
        return [_participant(r) for r in rows]

    def active_scores(self, quiz_id: str) -> dict[str, int]:
        with self._autocommit() as conn:
            rows = conn.execute(
                "SELECT user_id::text AS user_id, total FROM participants WHERE quiz_id = %s AND status = 'active'", (quiz_id,)
            ).fetchall()
        return {r["user_id"]: r["total"] for r in rows}

    def answers_for(self, quiz_id: str, position: int) -> dict[str, Row]:
        with self._autocommit() as conn:
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
        """Add the player (or return their existing seat). The event is None when they were already in.

        Outbox rows acknowledged earlier and left to mark later (the previous join's or answer's) are marked
        in this transaction, so a burst of joins spends no transaction of its own on that bookkeeping."""
        acked = self._acked.take()
        try:
            with self._tx() as conn:
                seated = self._join(conn, quiz_id, user_id, display_name)
                if acked:
                    conn.execute(MARK_PUBLISHED, (acked,))
                return seated
        except BaseException:
            self._acked.add(acked)  # not marked after all: a later transaction tries again
            raise

    def _join(self, conn: psycopg.Connection[Row], quiz_id: str, user_id: str, display_name: str) -> tuple[Participant, OutboxEvent | None]:
        quiz = conn.execute("SELECT status, locked FROM quizzes WHERE id = %s FOR SHARE", (quiz_id,)).fetchone()
        if quiz is None:
            raise NotFound(f"no quiz with id {quiz_id}", details={"quiz_id": quiz_id})
        existing = conn.execute("SELECT * FROM participants WHERE quiz_id = %s AND user_id = %s", (quiz_id, user_id)).fetchone()
        if existing is not None:
            if existing["status"] == "removed":
                raise RemovedFromQuiz()
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

    def _close_current(self, conn: psycopg.Connection[Row], quiz: Quiz) -> ClosedQuestion | None:
        """Close the current question if it is still open; returns it when this call closed it."""
        if not quiz.current_position:
            return None
        row = conn.execute(
            "UPDATE questions SET closed_at = least(clock_timestamp(), deadline) WHERE quiz_id = %s AND position = %s"
            " AND opened_at IS NOT NULL AND closed_at IS NULL RETURNING position, closed_at",
            (quiz.id, quiz.current_position),
        ).fetchone()
        return self._closed(conn, quiz.id, row) if row else None

    def _closed(self, conn: psycopg.Connection[Row], quiz_id: str, row: Row) -> ClosedQuestion:
        """The question_closed marker, in the transaction that closed the question."""
        event_id = new_event_id()
        payload = question_closed_event(event_id=event_id, quiz_id=quiz_id, question_id=row["position"], closed_at=row["closed_at"])
        return ClosedQuestion(row["position"], enqueue(conn, self._topic, quiz_id, event_id, payload))

    def advance(
        self, quiz_id: str, guard: Callable[[Quiz], None], *, start: bool, expected: int | None = None
    ) -> tuple[Quiz, ClosedQuestion | None, bool]:
        """Start the quiz or move to the next question. Returns the new state, the question closed on the
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

    def end(self, quiz_id: str, guard: Callable[[Quiz], None]) -> tuple[Quiz, ClosedQuestion | None]:
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
        question is already closed, was never opened, or does not exist. One statement, one round trip."""
        with self._autocommit() as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM deadline - clock_timestamp()) AS left FROM questions"
                " WHERE quiz_id = %s AND position = %s AND closed_at IS NULL AND deadline IS NOT NULL",
                (quiz_id, position),
            ).fetchone()
        return None if row is None else float(row["left"])

    def close_if_due(self, quiz_id: str, position: int) -> ClosedQuestion | None:
        """Close a question whose deadline has passed; returns it only to the call that closed it."""
        with self._tx() as conn:
            row = conn.execute(
                "UPDATE questions SET closed_at = deadline WHERE quiz_id = %s AND position = %s AND closed_at IS NULL"
                " AND deadline IS NOT NULL AND deadline <= clock_timestamp() RETURNING position, closed_at",
                (quiz_id, position),
            ).fetchone()
            return self._closed(conn, quiz_id, row) if row else None

    # ------------------------------------------------------------------ answers

    def record_answer(
        self,
        quiz_id: str,
        position: int,
        user_id: str,
        given: Any,
        idempotency_key: str | None,
        *,
        received_at: datetime | None = None,
    ) -> RecordedAnswer:
        """Judge and store one answer with the new total and its outbox row: one statement reads what the
        judgement needs, `judge` decides in Python, one statement writes it all (its own transaction).

        The write only happens if nothing it was decided on has changed since the read: the player's
        version (so a concurrent retry of the same request, or a removal, makes it try again and then
        find the first one's answer by its key) and the question's close, held FOR SHARE (so a
        concurrent next/end waits for this answer, or this answer sees the close and is judged again).

        ``received_at`` is when the answer reached the API; None falls back to the database's clock."""
        with span("answer transaction", attributes={"db.system": "postgresql", "quiz.id": quiz_id, "quiz.question_id": position}):
            return self._record_answer(quiz_id, position, user_id, given, idempotency_key, received_at)

    def _record_answer(
        self, quiz_id: str, position: int, user_id: str, given: Any, idempotency_key: str | None, received_at: datetime | None
    ) -> RecordedAnswer:
        read = {"quiz_id": quiz_id, "position": position, "user_id": user_id, "key": idempotency_key}
        for _ in range(ANSWER_ATTEMPTS):
            with self._autocommit() as conn:
                ctx = conn.execute(_READ_ANSWER, read).fetchone()
                if ctx is None:
                    self._refuse_unanswerable(conn, quiz_id, position, user_id, idempotency_key)
                if ctx["prior_position"] is not None:
                    return RecordedAnswer(_replayed(ctx, quiz_id, position, given), None)
                if ctx["status"] != "active":
                    raise NotAParticipant()
                question = _question(ctx)
                verdict = judge(
                    question,
                    given,
                    QuestionTimes(ctx["opened_at"], ctx["deadline"], ctx["closed_at"]),
                    received_at=received_at,
                    now=ctx["now"],
                    already_answered=ctx["already"],
                    before=StreakSoFar(ctx["streak"], ctx["last_correct_position"]),
                    streak_bonus=ctx["streak_bonus"],
                )
                recorded = self._write_answer(conn, ctx, quiz_id, question, verdict, idempotency_key)
            if recorded is not None:
                return recorded
        raise DependencyUnavailable("the answer kept racing other changes of this player or question; retry it")

    def _write_answer(
        self, conn: psycopg.Connection[Row], ctx: Row, quiz_id: str, question: Question, verdict: Judgement, key: str | None
    ) -> RecordedAnswer | None:
        """Write a judged answer; None when what it was judged on changed since the read (judge again)."""
        user_id = str(ctx["user_id"])
        # The new values are exact if the write's guards hold, so the event is built before the write.
        total, version = ctx["total"] + verdict.points, ctx["version"] + 1
        reached_at = verdict.answered_at if verdict.points > 0 else ctx["reached_at"]
        event_id = new_event_id()
        payload = score_event(
            event_id=event_id,
            quiz_id=quiz_id,
            user_id=user_id,
            display_name=ctx["display_name"],
            total=total,
            version=version,
            reached_at=reached_at,
            reason="answer",
            question_id=question.position,
            points=verdict.points,
            correct=verdict.correct,
        )
        headers = trace_headers()
        acked = self._acked.take()
        try:
            row = conn.execute(
                _WRITE_ANSWER,
                {
                    "quiz_id": quiz_id,
                    "user_id": user_id,
                    "position": question.position,
                    "closed_at": ctx["closed_at"],
                    "total": total,
                    "version": version,
                    "streak": verdict.streak,
                    "correct": verdict.correct,
                    "reached_at": reached_at,
                    "key": key,
                    "given": json.dumps(verdict.given),
                    "points": verdict.points,
                    "elapsed_ms": verdict.elapsed_ms,
                    "answered_at": verdict.answered_at,
                    "event_id": event_id,
                    "topic": self._topic,
                    "payload": Jsonb(payload),
                    "headers": Jsonb(headers),
                    "acked": acked,
                },
            ).fetchone()
        except BaseException:
            self._acked.add(acked)  # not marked after all: a later transaction tries again
            raise
        if row is None:
            return None
        event = OutboxEvent(row["id"], event_id, self._topic, quiz_id, payload, headers)
        result = AnswerResult(quiz_id, question.position, verdict.correct, verdict.points, total, verdict.elapsed_ms, verdict.streak)
        return RecordedAnswer(result, event, question if verdict.after_close else None)

    def _refuse_unanswerable(self, conn: psycopg.Connection[Row], quiz_id: str, position: int, user_id: str, key: str | None) -> NoReturn:
        """No such question (or quiz): say which, in the order the answer path checks (the error path only)."""
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM quizzes WHERE id = %(quiz_id)s) AS quiz,"
            " EXISTS (SELECT 1 FROM participants WHERE quiz_id = %(quiz_id)s AND user_id = %(user_id)s AND status = 'active') AS member,"
            " EXISTS (SELECT 1 FROM answers WHERE quiz_id = %(quiz_id)s AND user_id = %(user_id)s AND idempotency_key = %(key)s) AS prior",
            {"quiz_id": quiz_id, "user_id": user_id, "key": key},
        ).fetchone()
        assert row
        if row["prior"]:
            raise IdempotencyKeyReused()  # the key of an answer to another question; this one does not exist
        if not row["quiz"]:
            raise NotFound(f"no quiz with id {quiz_id}", details={"quiz_id": quiz_id})
        if not row["member"]:
            raise NotAParticipant()
        raise UnknownQuestion(position)

    # ------------------------------------------------------------------ outbox

    def _enqueue(self, conn: psycopg.Connection[Row], quiz_id: str, p: Participant, *, reason: str, **extra: Any) -> OutboxEvent:
        event_id = new_event_id()
        payload = score_event(
            event_id=event_id,
            quiz_id=quiz_id,
            user_id=p.user_id,
            display_name=p.display_name,
            total=p.score,
            version=p.version,
            reached_at=p.reached_at,
            reason=reason,
            **extra,
        )
        return enqueue(conn, self._topic, quiz_id, event_id, payload)

    def pending_outbox(self, *, older_than_s: float, limit: int = 500) -> list[OutboxEvent]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, event_id, topic, key, payload, headers FROM outbox WHERE published_at IS NULL AND topic = %s"
                " AND created_at <= clock_timestamp() - %s * interval '1 second' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (self._topic, older_than_s, limit),
            ).fetchall()
        return [OutboxEvent(r["id"], str(r["event_id"]), r["topic"], r["key"], r["payload"], r["headers"]) for r in rows]

    def drain_outbox(
        self, publish: Callable[[list[OutboxEvent]], list[int]], *, exclude: list[int], older_than_s: float, limit: int = 200
    ) -> tuple[int, int]:
        """Publish the oldest unpublished rows of the topic (up to ``limit``, oldest first) and mark what
        the broker acknowledged, in one transaction that holds the rows meanwhile: ``FOR UPDATE SKIP
        LOCKED``, so two containers draining at once share the backlog instead of both sending it.
        ``older_than_s`` leaves alone the rows whose own publish may still be in flight; ``exclude``
        (rows this container published or is publishing) and the rows acknowledged but not marked yet
        are left out. Returns (rows claimed, rows acknowledged)."""
        skip = [*exclude, *self._acked.peek()]
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT id, event_id, topic, key, payload, headers FROM outbox WHERE published_at IS NULL AND topic = %s"
                " AND created_at <= clock_timestamp() - %s * interval '1 second' AND id <> ALL(%s::bigint[])"
                " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED",
                (self._topic, older_than_s, skip, limit),
            ).fetchall()
            if not rows:
                return 0, 0
            acked = publish([OutboxEvent(r["id"], str(r["event_id"]), r["topic"], r["key"], r["payload"], r["headers"]) for r in rows])
            if acked:
                conn.execute(MARK_PUBLISHED, (acked,))
        return len(rows), len(acked)

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
        """Mark rows published now, with any the answer path left to mark later."""
        ids = [*ids, *self._acked.take()]
        if not ids:
            return
        try:
            with self._tx() as conn:
                conn.execute(MARK_PUBLISHED, (ids,))
        except BaseException:
            self._acked.add(ids)
            raise

    def mark_published_later(self, ids: list[int]) -> None:
        """Rows to mark published with this container's next transaction that marks any (see `AckedRows`)."""
        self._acked.add(ids)


# Retries of the read-judge-write cycle when a guard of the write failed: the player changed (their
# own concurrent request, a removal) or the question closed since the read. The second read sees why.
ANSWER_ATTEMPTS = 3

# Everything the judgement needs, in one statement (one snapshot), without locks.
_READ_ANSWER = """
SELECT q.position, q.kind, q.prompt, q.time_limit_ms, q.points, q.choices, q.correct_choice, q.accepted_answers,
       q.typo_tolerance, q.opened_at, q.deadline, q.closed_at, z.streak_bonus, clock_timestamp() AS now,
       p.user_id, p.status, p.display_name, p.total, p.version, p.streak, p.last_correct_position, p.reached_at,
       EXISTS (SELECT 1 FROM answers a WHERE a.quiz_id = q.quiz_id AND a.position = q.position AND a.user_id = %(user_id)s) AS already,
       k.position AS prior_position, k.given AS prior_given, k.correct AS prior_correct, k.points AS prior_points,
       k.total_after AS prior_total, k.elapsed_ms AS prior_elapsed_ms, k.streak_after AS prior_streak
  FROM questions q
  JOIN quizzes z ON z.id = q.quiz_id
  LEFT JOIN participants p ON p.quiz_id = q.quiz_id AND p.user_id = %(user_id)s
  LEFT JOIN answers k ON k.quiz_id = q.quiz_id AND k.user_id = %(user_id)s AND k.idempotency_key = %(key)s
 WHERE q.quiz_id = %(quiz_id)s AND q.position = %(position)s
"""

# The judged answer in one statement, one transaction: the player's new absolute total, the answer row,
# the outbox row, and the marking of rows this container published since its last write. Written only
# if the question's close is still what the judgement saw (held FOR SHARE until the commit: a
# next/end/clock closing it waits for this answer, so its question_closed sees it) and the player's
# version is still the one read (the UPDATE waits for a concurrent change of the player, then skips).
_WRITE_ANSWER = """
WITH question AS (
    SELECT 1 FROM questions
     WHERE quiz_id = %(quiz_id)s AND position = %(position)s AND closed_at IS NOT DISTINCT FROM %(closed_at)s::timestamptz
       FOR SHARE
), player AS (
    UPDATE participants
       SET total = %(total)s, version = %(version)s, streak = %(streak)s,
           last_correct_position = CASE WHEN %(correct)s THEN %(position)s ELSE last_correct_position END,
           reached_at = %(reached_at)s
     WHERE quiz_id = %(quiz_id)s AND user_id = %(user_id)s AND version = %(version)s - 1 AND status = 'active'
       AND EXISTS (SELECT 1 FROM question)
 RETURNING quiz_id, user_id
), answer AS (
    INSERT INTO answers (quiz_id, position, user_id, idempotency_key, given, correct, points, elapsed_ms,
                         total_after, version_after, streak_after, answered_at)
    SELECT quiz_id, %(position)s, user_id, %(key)s, %(given)s, %(correct)s, %(points)s, %(elapsed_ms)s,
           %(total)s, %(version)s, %(streak)s, %(answered_at)s
      FROM player
), published AS (
    UPDATE outbox SET published_at = clock_timestamp() WHERE id IN
        (SELECT id FROM outbox WHERE id = ANY(%(acked)s::bigint[]) AND published_at IS NULL FOR UPDATE SKIP LOCKED)
)
INSERT INTO outbox (event_id, topic, key, payload, headers)
SELECT %(event_id)s::uuid, %(topic)s, quiz_id, %(payload)s, %(headers)s FROM player
RETURNING id
"""
