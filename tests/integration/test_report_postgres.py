"""The report, a learner's results and play-again over the real PostgreSQL, after a small quiz played
through the real quiz service. Every answer's arrival time is set (as API Gateway would stamp it), so
times and points are known exactly; the expected figures are worked out by hand in the comments.

The broker, the pushes and the timer are stand-ins at their ports (they play no part in a report).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from quiz import db
from quiz.auth import Principal, Role
from quiz.errors import QuizError
from quiz.leaderboard.domain import rank_key, ranked_order
from quiz.quizzes.adapters.postgres import PostgresQuizStore
from quiz.quizzes.adapters.postgres_report import PostgresReportReader
from quiz.quizzes.outbox import OutboxEvent
from quiz.quizzes.reporting import ReportService
from quiz.quizzes.service import QuizService

pytestmark = pytest.mark.integration

# Time limits and points are the defaults (20 s, 1000 points): a correct answer after t ms earns
# round_half_up(1000 × (1 − t / 40000)), plus 50 × (streak − 1) from the second correct answer in a row.
QUIZ = {
    "title": "Adjectives, week 3",
    "streak_bonus": 50,
    "questions": [
        {"kind": "multiple_choice", "prompt": "A synonym of 'happy'?", "choices": ["glum", "joyful", "tired"], "correct_choice": 1},
        {"kind": "typed", "prompt": "Opposite of 'ancient'?", "accepted_answers": ["modern", "new"], "typo_tolerance": 1},
        {"kind": "multiple_choice", "prompt": "'Brief' means?", "choices": ["short", "long"], "correct_choice": 0},
    ],
}


class Silent:
    """The notifier, the timer and the publisher at once: pushes go nowhere, nothing is acknowledged
    (the outbox rows stay on this test's own topic, which nothing consumes)."""

    def to_quiz(self, quiz_id: str, frame: Mapping[str, Any]) -> int:
        return 0

    def to_players(self, quiz_id: str, frames: Mapping[str, Mapping[str, Any]]) -> int:
        return 0

    def unsubscribe(self, quiz_id: str, user_id: str) -> None:
        pass

    def close_at(self, quiz_id: str, position: int, deadline: datetime) -> None:
        pass

    def publish(self, events: list[OutboxEvent]) -> list[int]:
        return []


def make_user(database_url: str, name: str, role: Role = Role.PLAYER) -> Principal:
    user_id = uuid.uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO users (id, username, display_name, password_hash) VALUES (%s, %s, %s, 'x')",
            (user_id, f"{name}-{user_id.hex[:8]}", name),
        )
    return Principal(user_id=user_id, display_name=name, role=role)


@pytest.fixture
def store(database_url: str, unique: str) -> PostgresQuizStore:
    return PostgresQuizStore(db.pool(database_url), f"report.test.{unique}")


@pytest.fixture
def quizzes(store: PostgresQuizStore) -> QuizService:
    silent = Silent()
    return QuizService(store, silent, silent, silent)


@pytest.fixture
def reports(database_url: str, store: PostgresQuizStore) -> ReportService:
    return ReportService(PostgresReportReader(db.pool(database_url)), store, rank_key=rank_key)


class Game:
    """A quiz being played: answers arrive a set number of ms after their question opened."""

    def __init__(self, quizzes: QuizService, database_url: str) -> None:
        self.quizzes = quizzes
        self.host = make_user(database_url, "Host")
        self.ana, self.ben, self.cy = (make_user(database_url, n) for n in ("Ana", "Ben", "Cy"))
        self.quiz_id: str = quizzes.create(self.host, QUIZ)["quiz_id"]
        for p in (self.ana, self.ben, self.cy):
            quizzes.join(p, self.quiz_id)

    def open(self, first: bool = False) -> None:
        if first:
            self.quizzes.start(self.host, self.quiz_id)
        else:
            self.quizzes.next(self.host, self.quiz_id)
        # Answers are stamped up to 300 ms after the opening; an answer cannot arrive after it is processed.
        quiz, now = self.quizzes.state(self.quiz_id)
        assert quiz.current is not None and quiz.current.opened_at is not None
        self.opened_at = quiz.current.opened_at
        wait = self.opened_at + timedelta(milliseconds=350) - now
        if wait > timedelta(0):
            time.sleep(wait.total_seconds())

    def answer(self, player: Principal, answer: Any, after_ms: int) -> int:
        quiz, _ = self.quizzes.state(self.quiz_id)
        result = self.quizzes.answer(
            player,
            self.quiz_id,
            quiz.current_position,
            answer,
            uuid.uuid4().hex,
            received_at=self.opened_at + timedelta(milliseconds=after_ms),
        )
        assert result.elapsed_ms == after_ms
        return result.points


def play(game: Game, reports: ReportService) -> dict[str, Any]:
    """The whole quiz; returns the host's report taken while question 1 was still open."""
    g = game
    g.open(first=True)
    assert g.answer(g.ana, 1, 100) == 998  # 997.5 up
    assert g.answer(g.ben, 1, 300) == 993  # 992.5 up
    assert g.answer(g.cy, 0, 200) == 0
    live = reports.report(g.host, g.quiz_id).body()
    g.open()
    assert g.answer(g.ana, "Modern", 220) == 1045  # 994.5 up + 50 (second in a row)
    assert g.answer(g.ben, "ancient", 150) == 0
    assert g.answer(g.cy, "Ancient!", 250) == 0
    g.open()
    assert g.answer(g.ana, 0, 300) == 1093  # 993 + 100 (third in a row)
    assert g.answer(g.cy, 0, 100) == 998  # Ben does not answer
    g.quizzes.end(g.host, g.quiz_id)
    return live


def code_of(exc: pytest.ExceptionInfo[QuizError]) -> tuple[int, str, dict[str, Any]]:
    return exc.value.status, exc.value.code, exc.value.to_body()


def test_the_hosts_report_of_a_played_quiz(quizzes: QuizService, reports: ReportService, database_url: str) -> None:
    g = Game(quizzes, database_url)
    live = play(g, reports)

    assert live["status"] == "running" and live["questions"][0]["answered"] == 3 and live["questions"][1]["opened"] is False

    body = reports.report(g.host, g.quiz_id).body()
    assert body["quiz_id"] == g.quiz_id and body["title"] == "Adjectives, week 3" and body["status"] == "ended"
    assert body["started_at"] is not None and body["ended_at"] is not None
    assert body["player_count"] == 3 and body["question_count"] == 3

    q1, q2, q3 = body["questions"]
    assert (q1["answered"], q1["correct"], q1["accuracy"], q1["median_answer_ms"]) == (3, 2, 0.6667, 200)
    assert [(c["text"], c["count"], c["correct"]) for c in q1["choices"]] == [("glum", 1, False), ("joyful", 2, True), ("tired", 0, False)]
    assert (q2["answered"], q2["correct"], q2["accuracy"], q2["median_answer_ms"]) == (3, 1, 0.3333, 220)
    assert q2["wrong_answers"] == [{"answer": "ancient", "count": 2}]  # "ancient" and "Ancient!" normalise alike
    assert (q3["answered"], q3["correct"], q3["accuracy"], q3["median_answer_ms"]) == (2, 2, 1.0, 200)  # (100 + 300) / 2
    assert [c["count"] for c in q3["choices"]] == [2, 0]

    def user(p: Principal) -> str:
        return str(p.user_id)

    assert body["players"] == [
        # 998 + 1045 + 1093; (100 + 220 + 300) / 3 = 206.7
        {
            "rank": 1,
            "user_id": user(g.ana),
            "display_name": "Ana",
            "score": 3136,
            "answered": 3,
            "correct": 3,
            "average_answer_ms": 207,
            "longest_streak": 3,
        },
        # (200 + 250 + 100) / 3 = 183.3
        {
            "rank": 2,
            "user_id": user(g.cy),
            "display_name": "Cy",
            "score": 998,
            "answered": 3,
            "correct": 1,
            "average_answer_ms": 183,
            "longest_streak": 1,
        },
        {
            "rank": 3,
            "user_id": user(g.ben),
            "display_name": "Ben",
            "score": 993,
            "answered": 2,
            "correct": 1,
            "average_answer_ms": 225,
            "longest_streak": 1,
        },
    ]

    csv_answers = reports.report_csv(g.host, g.quiz_id.lower(), "answers")
    assert csv_answers.filename == f"quiz-{g.quiz_id}-answers.csv"
    lines = csv_answers.text.splitlines()
    assert len(lines) == 1 + 8 and lines[1] == f"1,{user(g.ana)},Ana,joyful,true,998,100,1"


def test_the_reports_ranking_is_the_final_standings_order_on_equal_scores(
    quizzes: QuizService, reports: ReportService, database_url: str
) -> None:
    g = Game(quizzes, database_url)
    g.open(first=True)
    for p in (g.ana, g.ben, g.cy):
        g.answer(p, 1, 200)  # three equal scores, reached at the same instant: the user id decides
    final = quizzes.end(g.host, g.quiz_id)["standings"]
    players = reports.report(g.host, g.quiz_id).body()["players"]
    assert [p["user_id"] for p in players] == [s["user_id"] for s in final]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT user_id::text, total, (extract(epoch FROM date_trunc('milliseconds', reached_at)) * 1000)::bigint"
            " FROM participants WHERE quiz_id = %s",
            (g.quiz_id,),
        ).fetchall()
    assert [p["user_id"] for p in players] == ranked_order(rows)


def test_who_may_see_the_report(quizzes: QuizService, reports: ReportService, database_url: str) -> None:
    g = Game(quizzes, database_url)
    outsider, admin = make_user(database_url, "Outsider"), make_user(database_url, "Admin", Role.ADMIN)

    with pytest.raises(QuizError) as not_joined:
        reports.report(outsider, g.quiz_id)
    with pytest.raises(QuizError) as unknown:
        reports.report(outsider, "ZZZZZZ")
    assert code_of(not_joined)[:2] == (404, "not_found")
    # the same answer for a quiz that exists and one that does not, but for the id itself
    assert code_of(not_joined)[2] == {
        "error": {"code": "not_found", "message": f"no quiz with id {g.quiz_id}", "details": {"quiz_id": g.quiz_id}}
    }
    assert code_of(unknown)[2] == {"error": {"code": "not_found", "message": "no quiz with id ZZZZZZ", "details": {"quiz_id": "ZZZZZZ"}}}

    with pytest.raises(QuizError) as player:
        reports.report(g.ben, g.quiz_id)
    assert code_of(player)[:2] == (403, "not_quiz_host")
    with pytest.raises(QuizError) as player_csv:
        reports.report_csv(g.ben, g.quiz_id, None)
    assert code_of(player_csv)[:2] == (403, "not_quiz_host")

    assert reports.report(admin, g.quiz_id).body()["player_count"] == 3
    before_start = reports.report(g.host, g.quiz_id).body()
    assert before_start["status"] == "open" and before_start["started_at"] is None
    assert [p["score"] for p in before_start["players"]] == [0, 0, 0]

    with pytest.raises(QuizError) as bad_table:
        reports.report_csv(g.host, g.quiz_id, "everything")
    assert code_of(bad_table)[:2] == (400, "validation_failed")


def test_a_learner_gets_the_words_they_missed_in_each_quiz_they_played(
    quizzes: QuizService, reports: ReportService, database_url: str
) -> None:
    g = Game(quizzes, database_url)
    g.open(first=True)
    g.answer(g.cy, 0, 200)
    # question 1 is still open: its answer must not show through the results
    assert [r["missed_words"] for r in reports.my_results(g.cy)] == [[]]
    g.answer(g.ana, 1, 100)
    g.answer(g.ben, 1, 300)
    g.open()
    g.answer(g.ana, "Modern", 220)
    g.answer(g.ben, "ancient", 150)
    g.answer(g.cy, "Ancient!", 250)
    g.open()
    g.answer(g.ana, 0, 300)
    g.answer(g.cy, 0, 100)
    quizzes.end(g.host, g.quiz_id)

    (ben,) = reports.my_results(g.ben)
    assert {k: ben[k] for k in ("quiz_id", "title", "status", "score", "rank", "player_count")} == {
        "quiz_id": g.quiz_id,
        "title": "Adjectives, week 3",
        "status": "ended",
        "score": 993,
        "rank": 3,
        "player_count": 3,
    }
    assert ben["started_at"] is not None and ben["ended_at"] is not None
    assert ben["missed_words"] == [
        {
            "question_id": 2,
            "kind": "typed",
            "prompt": "Opposite of 'ancient'?",
            "your_answer": "ancient",
            "correct_answer": "modern",
            "accepted_answers": ["modern", "new"],
        },
        {"question_id": 3, "kind": "multiple_choice", "prompt": "'Brief' means?", "your_answer": None, "correct_answer": "short"},
    ]
    (cy,) = reports.my_results(g.cy)
    assert (cy["rank"], cy["score"]) == (2, 998)
    assert [(m["question_id"], m["your_answer"]) for m in cy["missed_words"]] == [(1, "glum"), (2, "Ancient!")]
    (ana,) = reports.my_results(g.ana)
    assert (ana["rank"], ana["missed_words"]) == (1, [])
    assert reports.my_results(g.host) == []  # the host ran it, did not play it

    # A second quiz lists first (most recent first); one that has not started is not listed.
    again = reports.play_again(g.host, g.quiz_id)
    quizzes.join(g.ben, again["quiz_id"])
    assert [r["quiz_id"] for r in reports.my_results(g.ben)] == [g.quiz_id]
    quizzes.start(g.host, again["quiz_id"])
    assert [r["quiz_id"] for r in reports.my_results(g.ben)] == [again["quiz_id"], g.quiz_id]


def test_play_again_starts_a_new_session_of_a_finished_quiz(quizzes: QuizService, reports: ReportService, database_url: str) -> None:
    g = Game(quizzes, database_url)
    g.open(first=True)
    g.answer(g.ana, 1, 100)

    with pytest.raises(QuizError) as running:
        reports.play_again(g.host, g.quiz_id)
    assert code_of(running)[:2] == (409, "quiz_not_ended") and running.value.details == {"status": "running"}

    quizzes.end(g.host, g.quiz_id)
    with pytest.raises(QuizError) as player:
        reports.play_again(g.ana, g.quiz_id)
    assert code_of(player)[:2] == (403, "not_quiz_host")
    with pytest.raises(QuizError) as outsider:
        reports.play_again(make_user(database_url, "Outsider"), g.quiz_id)
    assert code_of(outsider)[:2] == (404, "not_found")

    again = reports.play_again(g.host, g.quiz_id)
    assert again["quiz_id"] != g.quiz_id
    assert (again["title"], again["status"], again["host_id"], again["streak_bonus"]) == (
        "Adjectives, week 3",
        "open",
        str(g.host.user_id),
        50,
    )
    original = quizzes.get(g.host, g.quiz_id)
    keep = ("question_id", "kind", "prompt", "choices", "correct_choice", "accepted_answers", "typo_tolerance", "points", "time_limit_ms")
    assert [{k: q.get(k) for k in keep} for q in again["questions"]] == [{k: q.get(k) for k in keep} for q in original["questions"]]

    # Reports stay per session: the new one has nobody in it, the old one is unchanged.
    assert reports.report(g.host, again["quiz_id"]).body()["player_count"] == 0
    old = reports.report(g.host, g.quiz_id).body()
    assert old["player_count"] == 3 and old["questions"][0]["answered"] == 1
    quizzes.join(g.ana, again["quiz_id"])  # the new session takes players


def test_a_player_the_host_removed_leaves_the_report_with_their_answers(
    quizzes: QuizService, reports: ReportService, database_url: str
) -> None:
    g = Game(quizzes, database_url)
    g.open(first=True)
    g.answer(g.ana, 1, 100)
    g.answer(g.ben, 0, 200)
    g.answer(g.cy, 2, 300)
    quizzes.remove(g.host, g.quiz_id, str(g.cy.user_id))

    report = reports.report(g.host, g.quiz_id)
    body = report.body()
    assert [p["display_name"] for p in body["players"]] == ["Ana", "Ben"] and body["player_count"] == 2
    q1 = body["questions"][0]
    assert (q1["answered"], q1["correct"], q1["median_answer_ms"]) == (2, 1, 150)  # (100 + 200) / 2
    assert [c["count"] for c in q1["choices"]] == [1, 1, 0]  # Cy's "tired" is gone
    answers = reports.report_csv(g.host, g.quiz_id, "answers").text.splitlines()
    assert [line.split(",")[2] for line in answers[1:]] == ["Ana", "Ben"]
    assert reports.my_results(g.cy) == []
