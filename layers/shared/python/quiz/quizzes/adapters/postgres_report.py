"""PostgreSQL adapter of the report reader (`quiz.quizzes.ports.ReportReader`): the rows a report and a
learner's results are computed from, in a fixed number of statements whatever the room's size.

Each call is one read-only REPEATABLE READ transaction, so the players and the answers of a running
quiz are read from one snapshot (an answer never appears for a player the read did not see).
Times that decide a ranking are whole milliseconds since the epoch computed by PostgreSQL
(`date_trunc('milliseconds', ...)`, exact integers), as the final standings' ORDER BY truncates them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from quiz.errors import DependencyUnavailable
from quiz.quizzes.domain import Question, QuestionRound
from quiz.quizzes.report import AnswerGroup, AnswerRow, PlayedQuestion, PlayedQuiz, PlayerRow, SessionRows

_MS = "(extract(epoch FROM date_trunc('milliseconds', {0})) * 1000)::bigint"

_SESSION_QUIZ = "SELECT started_at, ended_at FROM quizzes WHERE id = %s"

# Each active player with the tally of their answers. The answers are tallied first, in one pass over the
# quiz's answers (the primary key leads with quiz_id), then joined: joined row by row instead, a plan that
# looks answers up per player by (quiz_id, user_id), which no index leads with, took minutes at 5,000 players.
_SESSION_PLAYERS = f"""
SELECT p.user_id::text, p.display_name, p.total, {_MS.format("p.reached_at")},
       coalesce(t.answered, 0), coalesce(t.correct, 0), coalesce(t.elapsed_ms, 0), coalesce(t.streak, 0)
  FROM participants p
  LEFT JOIN (
       SELECT user_id, count(*) AS answered, count(*) FILTER (WHERE correct) AS correct,
              sum(elapsed_ms) AS elapsed_ms, max(streak_after) AS streak
         FROM answers
        WHERE quiz_id = %(quiz_id)s
        GROUP BY user_id
       ) t ON t.user_id = p.user_id
 WHERE p.quiz_id = %(quiz_id)s AND p.status = 'active'
"""

# The active players' answers grouped by question and answer given, with every answer time (for the median).
# Driven by the quiz's answers (the primary key leads with quiz_id); a removed player's are left out by
# an anti-join on the participants' primary key, whatever the planner thinks of the room's size.
_ACTIVE_ANSWERS = """
  FROM answers a
 WHERE a.quiz_id = %s
   AND NOT EXISTS (SELECT 1 FROM participants r WHERE r.quiz_id = a.quiz_id AND r.user_id = a.user_id AND r.status <> 'active')
"""
_SESSION_ANSWERS = (
    "SELECT a.position, a.given, a.correct, array_agg(a.elapsed_ms)" + _ACTIVE_ANSWERS + " GROUP BY a.position, a.given, a.correct"
)

# Every answer of the active players, one row each (the CSV table of answers).
_ANSWERS = "SELECT a.user_id::text, a.position, a.given, a.correct, a.points, a.elapsed_ms, a.streak_after" + _ACTIVE_ANSWERS

# The user's seats, with what their rank needs from the rest of the room: how many score higher and who
# is on the same score (ties are settled by the ranking's own key, in Python). One pass over each
# quiz's participants (primary key), found through participants_user_idx (db/migrations/0013).
_PLAYED = f"""
SELECT q.id, q.title, q.status, q.started_at, q.ended_at, p.user_id::text, p.total, {_MS.format("p.reached_at")}, p.joined_at,
       room.player_count, room.higher, room.tied
  FROM participants p
  JOIN quizzes q ON q.id = p.quiz_id
 CROSS JOIN LATERAL (
       SELECT count(*) AS player_count,
              count(*) FILTER (WHERE o.total > p.total) AS higher,
              coalesce(json_agg(json_build_array(o.user_id::text, {_MS.format("o.reached_at")}))
                       FILTER (WHERE o.total = p.total AND o.user_id <> p.user_id), '[]'::json) AS tied
         FROM participants o
        WHERE o.quiz_id = p.quiz_id AND o.status = 'active'
       ) room
 WHERE p.user_id = %s AND p.status = 'active' AND q.started_at IS NOT NULL
 ORDER BY q.started_at DESC, q.id
 LIMIT %s
"""

# The questions of those quizzes with the user's own answer to each (NULL: not answered).
_PLAYED_QUESTIONS = """
SELECT q.quiz_id, q.position, q.kind, q.prompt, q.time_limit_ms, q.points, q.choices, q.correct_choice, q.accepted_answers,
       q.typo_tolerance, q.opened_at, q.deadline, q.closed_at, a.given, a.correct
  FROM questions q
  LEFT JOIN answers a ON a.quiz_id = q.quiz_id AND a.position = q.position AND a.user_id = %s
 WHERE q.quiz_id = ANY(%s)
 ORDER BY q.quiz_id, q.position
"""


def _given(stored: str | None) -> str | int | None:
    """The answer as sent: the store keeps it as JSON text, a choice index (``2``) or a string (``"word"``).
    A string without escapes is its text between the quotes: read so, a large report's 50,000 answers
    cost a fraction of json.loads each (the rest go through it)."""
    if stored is None:
        return None
    if stored.startswith('"') and "\\" not in stored:
        return stored[1:-1]
    value = json.loads(stored)
    return value if isinstance(value, str | int) and not isinstance(value, bool) else str(value)


def _round(row: tuple[Any, ...]) -> QuestionRound:
    _, position, kind, prompt, time_limit_ms, points, choices, correct_choice, accepted, tolerance, opened_at, deadline, closed_at = row[
        :13
    ]
    question = Question(
        position=position,
        kind=kind,
        prompt=prompt,
        time_limit_ms=time_limit_ms,
        points=points,
        choices=tuple(choices or ()),
        correct_choice=correct_choice,
        accepted_answers=tuple(accepted or ()),
        typo_tolerance=tolerance,
    )
    return QuestionRound(question, opened_at, deadline, closed_at)


class PostgresReportReader:
    """Reads what the report and the learner's results are computed from (see `quiz.quizzes.report`)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    @contextmanager
    def _snapshot(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                yield conn
        except psycopg.OperationalError as exc:
            raise DependencyUnavailable("the database is unavailable; retry shortly") from exc

    def session(self, quiz_id: str) -> SessionRows:
        with self._snapshot() as conn:
            quiz = conn.execute(_SESSION_QUIZ, (quiz_id,)).fetchone()
            players = conn.execute(_SESSION_PLAYERS, {"quiz_id": quiz_id}).fetchall()
            groups = conn.execute(_SESSION_ANSWERS, (quiz_id,)).fetchall()
        started_at, ended_at = quiz if quiz else (None, None)
        return SessionRows(
            started_at=started_at,
            ended_at=ended_at,
            players=tuple(PlayerRow(*row) for row in players),
            answers=tuple(AnswerGroup(q, _given(g), correct, tuple(ms)) for q, g, correct, ms in groups),  # type: ignore[arg-type]
        )

    def answers(self, quiz_id: str) -> list[AnswerRow]:
        with self._snapshot() as conn:
            rows = conn.execute(_ANSWERS, (quiz_id,)).fetchall()
        # A quiz's answers repeat a few choices and spellings: each is decoded once.
        given = {stored: _given(stored) for stored in {row[2] for row in rows}}
        return [AnswerRow(u, q, given[g], correct, points, ms, streak) for u, q, g, correct, points, ms, streak in rows]  # type: ignore[arg-type]

    def played_by(self, user_id: str, *, limit: int) -> tuple[list[PlayedQuiz], datetime]:
        with self._snapshot() as conn:
            seats = conn.execute(_PLAYED, (user_id, limit)).fetchall()
            questions = conn.execute(_PLAYED_QUESTIONS, (user_id, [s[0] for s in seats])).fetchall() if seats else []
            now_row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert now_row
        by_quiz: dict[str, list[PlayedQuestion]] = {}
        for row in questions:
            given, correct = row[13], row[14]
            by_quiz.setdefault(row[0], []).append(PlayedQuestion(_round(row), _given(given), bool(correct)))
        played = [
            PlayedQuiz(
                quiz_id=quiz_id,
                title=title,
                status=status,
                started_at=started_at,
                ended_at=ended_at,
                user_id=user,
                score=score,
                reached_ms=reached_ms,
                joined_at=joined_at,
                player_count=player_count,
                higher=higher,
                tied=tuple((str(u), int(ms)) for u, ms in tied),
                questions=tuple(by_quiz.get(quiz_id, ())),
            )
            for quiz_id, title, status, started_at, ended_at, user, score, reached_ms, joined_at, player_count, higher, tied in seats
        ]
        return played, now_row[0]
