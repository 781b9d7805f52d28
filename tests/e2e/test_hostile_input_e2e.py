"""Issue 10: every input a fuzzer found answered with a 500 (or with silence on the WebSocket) now gets
a 4xx, or an error frame with a code, and changes nothing. Through the real emulator, over real sockets."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from clients.quiz_client import LiveSession, QuizClient

pytestmark = pytest.mark.e2e

HUGE_INT = "1" * 4400  # past Python's 4,300-digit int() limit
QUIZ: dict[str, Any] = {
    "title": "Hostile input",
    "questions": [
        {"kind": "typed", "prompt": "Opposite of 'up'?", "accepted_answers": ["down"], "time_limit_ms": 60000, "points": 1000},
        {"kind": "multiple_choice", "prompt": "'Big' means?", "choices": ["large", "small"], "correct_choice": 0, "time_limit_ms": 60000},
    ],
}


def deep(depth: int) -> str:
    return "[" * depth + "0" + "]" * depth


def rejected(client: QuizClient, method: str, path: str, **kw: Any) -> dict[str, Any]:
    """The error a request gets; it must be a 4xx with a JSON error code (never a 5xx, never a success)."""
    response = client.http.request(method, path, headers={"Authorization": f"Bearer {client.access_token}", **kw.pop("headers", {})}, **kw)
    assert 400 <= response.status_code < 500, f"{method} {path} answered {response.status_code}: {response.text[:300]}"
    error = response.json()["error"]
    assert error["code"] in ("bad_request", "validation_failed"), error
    return dict(error)


def raw_json(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


def error_frame(live: LiveSession, raw: str) -> dict[str, Any]:
    """Send a raw text frame; the reply must be an error frame with a code (API Gateway's bare
    `{"message": "Internal server error"}` has no type, so it never matches)."""
    live.ws.send(raw)
    frame = live.wait_for("error")
    assert frame["error"]["code"] in ("bad_request", "validation_failed"), frame
    return frame


@pytest.fixture
def running_quiz(player: Callable[[str], QuizClient]) -> tuple[QuizClient, QuizClient, str]:
    host, ana = player("Host"), player("Ana")
    quiz_id = host.create_quiz(QUIZ)["quiz_id"]
    ana.join(quiz_id)
    host.host(quiz_id, "start")
    return host, ana, quiz_id


def test_http_bodies_past_the_limits_get_a_400_and_create_nothing(player: Callable[[str], QuizClient]) -> None:
    host = player("Host")
    before = host.call("GET", "/quizzes")["quizzes"]
    question = json.dumps(QUIZ["questions"][1])
    bodies = {
        "integer_too_long": '{"title": "T", "questions": [' + question[:-1] + ', "points": ' + HUGE_INT + "}]}",
        "too_deep": '{"title": "T", "questions": ' + deep(990) + "}",
        "too_deep ": '{"title": "T", "questions": ' + deep(5000) + "}",
    }
    for reason, body in bodies.items():
        error = rejected(host, "POST", "/quizzes", **raw_json(body))
        assert (error["code"], error["details"]["reason"]) == ("bad_request", reason.strip())
    assert host.call("GET", "/quizzes")["quizzes"] == before


def test_nul_and_lone_surrogates_in_any_string_field_get_a_400_naming_it(player: Callable[[str], QuizClient]) -> None:
    host = player("Host")
    quiz_id = host.create_quiz(QUIZ)["quiz_id"]
    before = host.call("GET", f"/quizzes/{quiz_id}")
    for bad, reason in (("\\u0000", "nul_character"), ("\\ud800", "unpaired_surrogate")):
        cases = {
            "title": '{"title": "T' + bad + '", "questions": [' + json.dumps(QUIZ["questions"][1]) + "]}",
            "questions[0].prompt": '{"title": "T", "questions": [{"kind": "typed", "prompt": "P' + bad + '", "accepted_answers": ["a"]}]}',
            "questions[0].choices[1]": '{"title": "T", "questions": [{"kind": "multiple_choice", "prompt": "P", "choices": ["a", "b'
            + bad
            + '"], "correct_choice": 0}]}',
        }
        for field, body in cases.items():
            for method, path in (("POST", "/quizzes"), ("PUT", f"/quizzes/{quiz_id}")):
                error = rejected(host, method, path, **raw_json(body))
                assert (error["code"], error["details"]) == ("validation_failed", {"field": field, "reason": reason})
        login = '{"username": "ana' + bad + '", "password": "correct horse battery staple"}'
        error = rejected(host, "POST", "/auth/login", **raw_json(login))
        assert error["details"] == {"field": "username", "reason": reason}
    assert host.call("GET", f"/quizzes/{quiz_id}") == before, "the rejected updates changed nothing"


def test_a_huge_limit_in_the_query_gets_a_400(running_quiz: tuple[QuizClient, QuizClient, str]) -> None:
    _, ana, quiz_id = running_quiz
    for limit in (HUGE_INT, "1" * 30):
        error = rejected(ana, "GET", f"/quizzes/{quiz_id}/leaderboard", params={"limit": limit})
        assert (error["code"], error["details"]["field"]) == ("validation_failed", "limit")


def test_participant_ids_python_accepts_but_postgresql_does_not_get_a_400(running_quiz: tuple[QuizClient, QuizClient, str]) -> None:
    host, ana, quiz_id = running_quiz
    before = host.call("GET", f"/quizzes/{quiz_id}/players")["players"]
    for user_id in (f"urn:uuid:{ana.user_id}", "1-" + ana.user_id.replace("-", "")[1:], "\u0661" * 32, ana.user_id.replace("-", "")):
        uuid.UUID(user_id)  # what made these reach the database
        error = rejected(host, "DELETE", f"/quizzes/{quiz_id}/players/{user_id}")
        assert (error["code"], error["details"]["field"]) == ("validation_failed", "user_id")
    assert host.call("GET", f"/quizzes/{quiz_id}/players")["players"] == before, "nobody was removed"


def test_hostile_websocket_frames_get_an_error_frame_and_record_no_answer(
    running_quiz: tuple[QuizClient, QuizClient, str], player: Callable[[str], QuizClient]
) -> None:
    _, ana, quiz_id = running_quiz
    live = ana.live()
    answer = '{"action": "answer", "quiz_id": "' + quiz_id + '", "question_id": 1, '
    try:
        # nested past the emulator's own parser: route selection falls back to $default, which says why
        for depth in (990, 5000):
            frame = error_frame(live, '{"action": "answer", "quiz_id": "' + quiz_id + '", "answer": ' + deep(depth) + "}")
            assert frame["error"]["details"]["reason"] == "too_deep"
        frame = error_frame(live, '{"action": "answer", "quiz_id": "' + quiz_id + '", "question_id": ' + HUGE_INT + ', "answer": 0}')
        assert frame["error"]["details"]["reason"] == "integer_too_long"
        # within what the gateway parses but past the layer's limits: the answer route refuses it
        frame = error_frame(live, answer + '"answer": ' + deep(100) + ', "request_id": "r-deep"}')
        assert (frame["action"], frame["error"]["details"]["reason"]) == ("answer", "too_deep"), "unparsed, so no request_id to echo"
        for bad, reason in (("\\u0000", "nul_character"), ("\\ud800", "unpaired_surrogate")):
            frame = error_frame(live, answer + '"answer": "down' + bad + '", "request_id": "r-' + reason + '"}')
            assert frame["error"]["details"] == {"field": "answer", "reason": reason} and frame["request_id"] == f"r-{reason}"
            frame = error_frame(live, answer + '"answer": "down", "request_id": "r' + bad + '"}')
            assert (frame["error"]["code"], frame["error"]["details"]) == ("bad_request", {"field": "request_id"})
            frame = error_frame(live, '{"action": "join", "quiz_id": "' + quiz_id + bad + '"}')
            assert frame["error"]["details"] == {"field": "quiz_id", "reason": reason}
        # none of it was recorded: the player's one answer to question 1 is still to come
        result = live.request({"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": "down"}, expect="answer_result")
        assert result["correct"] and result["score"] == result["points"] > 0
    finally:
        live.close()


def test_a_stranger_s_hostile_request_id_is_refused_before_any_lookup(
    running_quiz: tuple[QuizClient, QuizClient, str], player: Callable[[str], QuizClient]
) -> None:
    _, _, quiz_id = running_quiz
    stranger = player("Stranger")
    live = stranger.live()
    try:
        for request_id in ("\\ud800", "\\u0000", "x" * 129):
            frame = error_frame(
                live,
                '{"action": "answer", "quiz_id": "'
                + quiz_id
                + '", "question_id": 1, "answer": "down", "request_id": "'
                + request_id
                + '"}',
            )
            assert (frame["error"]["code"], frame["error"]["details"]) == ("bad_request", {"field": "request_id"})
        # the stranger is still a stranger: a well-formed request_id reaches the membership check
        live.ws.send(json.dumps({"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": "down", "request_id": "ok-1"}))
        assert live.wait_for("error")["error"]["code"] not in ("bad_request", "validation_failed", "internal_error")
    finally:
        live.close()
