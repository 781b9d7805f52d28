"""After the quiz, through the emulator over real sockets: the host's report (JSON and CSV), a learner's
results with the words they missed, and playing a finished quiz again; and who is told what."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from clients.quiz_client import ApiError, QuizClient
from tests.e2e.conftest import Product
from tests.support import QUIZ, sign_ups

pytestmark = pytest.mark.e2e


@dataclass
class PlayedQuiz:
    """A host, Ana (right, right), Bo (wrong, wrong) and an outsider; question 3 never opened; ended."""

    host: QuizClient
    ana: QuizClient
    bo: QuizClient
    outsider: QuizClient
    quiz_id: str


@pytest.fixture(scope="module")
def played(product: Product) -> Iterator[PlayedQuiz]:
    with sign_ups(product.base_url) as signed_up:
        host, ana, bo, outsider = signed_up("Host"), signed_up("Ana"), signed_up("Bo"), signed_up("Eve")
        quiz_id = host.create_quiz(QUIZ)["quiz_id"]
        ana.join(quiz_id)
        bo.join(quiz_id)
        host.host(quiz_id, "start")
        ana.answer(quiz_id, 1, 0)
        bo.answer(quiz_id, 1, 1)
        host.host(quiz_id, "next", from_question_id=1)
        ana.answer(quiz_id, 2, "Postpone")
        bo.answer(quiz_id, 2, "cancel")
        host.host(quiz_id, "end")
        yield PlayedQuiz(host, ana, bo, outsider, quiz_id)


def raw(product: Product, client: QuizClient | None, method: str, path: str, **headers: str) -> httpx.Response:
    if client is not None:
        headers["Authorization"] = f"Bearer {client.access_token}"
    return httpx.request(method, product.base_url + path, headers=headers, timeout=15)


def error_of(call: Callable[[], object]) -> tuple[int, str | None]:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value.status, caught.value.code


def test_the_host_reads_the_report_as_json(product: Product, played: PlayedQuiz) -> None:
    reply = raw(product, played.host, "GET", f"/quizzes/{played.quiz_id}/report")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    assert reply.headers["vary"] == "Accept"
    report = reply.json()
    assert (report["quiz_id"], report["status"], report["player_count"], report["question_count"]) == (played.quiz_id, "ended", 2, 3)
    q1, q2, q3 = report["questions"]
    assert [(c["text"], c["count"], c["correct"]) for c in q1["choices"]] == [
        ("surrender", 1, True),
        ("donate", 1, False),
        ("lift", 0, False),
    ]
    assert (q1["answered"], q1["correct"], q1["accuracy"]) == (2, 1, 0.5) and q1["median_answer_ms"] >= 0
    assert q2["wrong_answers"] == [{"answer": "cancel", "count": 1}] and q2["correct_answer"] == "postpone"
    assert (q3["opened"], q3["answered"], q3["accuracy"], q3["median_answer_ms"]) == (False, 0, None, None)
    ana, bo = report["players"]
    assert (ana["display_name"], ana["rank"], ana["correct"], ana["longest_streak"]) == ("Ana", 1, 2, 2)
    assert (bo["display_name"], bo["rank"], bo["correct"], bo["score"]) == ("Bo", 2, 0, 0)


def test_the_host_downloads_each_table_as_csv(product: Product, played: PlayedQuiz) -> None:
    reply = raw(product, played.host, "GET", f"/quizzes/{played.quiz_id}/report", Accept="text/csv")
    assert reply.status_code == 200 and reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert reply.headers["content-disposition"] == f'attachment; filename="quiz-{played.quiz_id}-players.csv"'
    assert reply.headers["vary"] == "Accept"
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [(r["rank"], r["display_name"], r["correct"]) for r in rows] == [("1", "Ana", "2"), ("2", "Bo", "0")]

    name, text = played.host.report_csv(played.quiz_id, "questions")
    assert name == f"quiz-{played.quiz_id}-questions.csv"
    questions = list(csv.DictReader(io.StringIO(text)))
    assert [q["accuracy"] for q in questions] == ["0.5", "0.5", ""]
    assert questions[0]["distribution"] == "surrender: 1 | donate: 1 | lift: 0"

    _, text = played.host.report_csv(played.quiz_id, "answers")
    answers = list(csv.DictReader(io.StringIO(text)))
    assert [(a["question_id"], a["display_name"], a["answer"], a["correct"]) for a in answers] == [
        ("1", "Ana", "surrender", "true"),
        ("1", "Bo", "donate", "false"),
        ("2", "Ana", "Postpone", "true"),
        ("2", "Bo", "cancel", "false"),
    ]


def test_json_stays_the_default_unless_csv_outranks_it(product: Product, played: PlayedQuiz) -> None:
    for accept in ("*/*", "application/json, text/csv", "text/csv;q=0.5, application/json"):
        reply = raw(product, played.host, "GET", f"/quizzes/{played.quiz_id}/report", Accept=accept)
        assert reply.headers["content-type"].startswith("application/json"), accept
    reply = raw(product, played.host, "GET", f"/quizzes/{played.quiz_id}/report?table=everything", Accept="text/csv")
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "validation_failed"
    assert reply.json()["error"]["details"]["allowed"] == ["players", "questions", "answers"]


def test_everyone_else_is_refused_as_on_every_host_route(product: Product, played: PlayedQuiz) -> None:
    assert error_of(lambda: played.ana.report(played.quiz_id)) == (403, "not_quiz_host"), "a player knows the quiz exists"
    assert error_of(lambda: played.ana.report_csv(played.quiz_id)) == (403, "not_quiz_host")
    assert error_of(lambda: played.outsider.report(played.quiz_id)) == (404, "not_found"), "no probing PINs"
    assert error_of(lambda: played.host.report("ZZZZZZ")) == (404, "not_found")
    reply = raw(product, None, "GET", f"/quizzes/{played.quiz_id}/report")
    assert (reply.status_code, reply.json()["error"]["code"]) == (401, "missing_token")


def test_a_learner_sees_the_words_they_missed_with_the_right_answers(played: PlayedQuiz) -> None:
    (mine,) = [r for r in played.bo.results() if r["quiz_id"] == played.quiz_id]
    assert (mine["title"], mine["score"], mine["rank"], mine["player_count"]) == (QUIZ["title"], 0, 2, 2)
    assert [(w["question_id"], w["your_answer"], w["correct_answer"]) for w in mine["missed_words"]] == [
        (1, "donate", "surrender"),
        (2, "cancel", "postpone"),
    ], "question 3 never opened: nothing to practise there"
    assert mine["missed_words"][1]["accepted_answers"] == ["postpone", "delay"]
    (anas,) = [r for r in played.ana.results() if r["quiz_id"] == played.quiz_id]
    assert (anas["rank"], anas["missed_words"]) == (1, [])
    assert [r for r in played.outsider.results() if r["quiz_id"] == played.quiz_id] == []
    assert [r for r in played.host.results() if r["quiz_id"] == played.quiz_id] == [], "the host did not play"


def test_the_host_plays_an_ended_quiz_again_under_a_new_id(product: Product, played: PlayedQuiz) -> None:
    reply = raw(product, played.host, "POST", f"/quizzes/{played.quiz_id}/again")
    assert reply.status_code == 201, reply.text
    again = reply.json()
    assert again["quiz_id"] != played.quiz_id and reply.headers["location"] == f"/quizzes/{again['quiz_id']}"
    assert (again["title"], again["status"], again["question_count"], again["locked"]) == (QUIZ["title"], "open", 3, False)
    assert played.host.report(again["quiz_id"])["players"] == [], "a new session, a report of its own"
    assert played.host.report(played.quiz_id)["player_count"] == 2, "the old session's report is as it was"

    assert error_of(lambda: played.ana.play_again(played.quiz_id)) == (403, "not_quiz_host")
    assert error_of(lambda: played.outsider.play_again(played.quiz_id)) == (404, "not_found")
    assert error_of(lambda: played.host.play_again(again["quiz_id"])) == (409, "quiz_not_ended"), "not started yet"
    played.ana.join(again["quiz_id"])
    played.host.host(again["quiz_id"], "start")
    reply = raw(product, played.host, "POST", f"/quizzes/{again['quiz_id']}/again")
    assert reply.status_code == 409 and reply.json()["error"] == {
        "code": "quiz_not_ended",
        "message": "only a quiz that has ended can be played again: end it first",
        "details": {"status": "running"},
    }
