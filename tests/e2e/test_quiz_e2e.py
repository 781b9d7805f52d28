"""A host and several players run a whole quiz through the emulator, over real sockets: HTTP for the
host, WebSockets for everyone, Kafka → leaderboard function → management API → frames."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis

from clients.quiz_client import ApiError, LiveSession, QuizClient

pytestmark = pytest.mark.e2e

QUIZ: dict[str, Any] = {
    "title": "Phrasal verbs",
    "questions": [
        {"kind": "multiple_choice", "prompt": "'Give up' means?", "choices": ["surrender", "donate", "lift"], "correct_choice": 0,
         "time_limit_s": 30, "points": 1000},
        {"kind": "typed", "prompt": "Put off = ? (one word)", "accepted_answers": ["postpone", "delay"], "typo_tolerance": 1,
         "time_limit_s": 30, "points": 1000},
        {"kind": "multiple_choice", "prompt": "'Run out of' means?", "choices": ["have none left", "escape"], "correct_choice": 0,
         "time_limit_s": 5, "points": 1000},
    ],
}  # fmt: skip


def board_scores(frame: dict[str, Any]) -> dict[str, int]:
    return {row["user_id"]: row["score"] for row in frame["top"]}


def test_a_full_quiz_live(player: Callable[[str], QuizClient]) -> None:
    host = player("Host")
    ana, ben, cy = (player(n) for n in ("Ana", "Ben", "Cy"))
    quiz = host.create_quiz(QUIZ)
    quiz_id = quiz["quiz_id"]
    assert len(quiz_id) == 6

    sessions: dict[str, LiveSession] = {}
    for name, client in (("ana", ana), ("ben", ben), ("cy", cy)):
        sessions[name] = client.live()
        joined = sessions[name].request({"action": "join", "quiz_id": quiz_id.lower()}, expect="joined")
        assert joined["role"] == "player" and joined["quiz"]["status"] == "open" and joined["open_question"] is None
        assert "questions" not in joined["quiz"], "the snapshot stays small whatever the quiz's size"
    host_live = host.live(token_in="header")
    assert host_live.request({"action": "join", "quiz_id": quiz_id}, expect="joined")["role"] == "host"

    # question 1 opens for everyone, without its answer
    host.host(quiz_id, "start")
    for s in sessions.values():
        opened = s.wait_for("question_opened")
        assert opened["question"]["question_id"] == 1 and "correct_choice" not in opened["question"]
        assert 25_000 < opened["remaining_ms"] <= 30_000

    # Ana answers over the WebSocket, Ben over HTTP with an Idempotency-Key, twice (a retry)
    result = sessions["ana"].request({"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": 0}, expect="answer_result")
    assert result["correct"] and 900 < result["points"] <= 1000
    key = str(uuid.uuid4())
    wrong = ben.answer(quiz_id, 1, 2, key)
    assert (wrong["correct"], wrong["points"]) == (False, 0)
    assert ben.answer(quiz_id, 1, 2, key) == wrong, "a retry with the same key returns the same result"
    retry = ben.http.post(
        f"/quizzes/{quiz_id}/answers",
        json={"question_id": 1, "answer": 2},
        headers={"Authorization": f"Bearer {ben.access_token}", "Idempotency-Key": key},
    )
    assert retry.json() == wrong and retry.headers["Idempotent-Replayed"] == "true"
    with pytest.raises(ApiError) as err:
        ben.answer(quiz_id, 1, 0)
    assert (err.value.status, err.value.code) == (409, "already_answered")
    with pytest.raises(ApiError) as err:
        sessions["cy"].request({"action": "answer", "quiz_id": quiz_id, "question_id": 7, "answer": 0}, expect="answer_result")
    assert err.value.body["error"]["code"] == "unknown_question"

    # the leaderboard arrives on every socket, coalesced, with Ana on top
    frame = sessions["cy"].wait_for("leaderboard", lambda f: board_scores(f).get(ana.user_id) == result["total"])
    assert frame["participants"] == 3 and frame["top"][0]["user_id"] == ana.user_id
    mine = sessions["ana"].wait_for("your_rank", lambda f: f["score"] == result["total"])
    assert (mine["rank"], mine["gap_to_next"], mine["participants"]) == (1, 0, 3)

    # next: question 1 closes (each player learns their own result), question 2 opens
    host.host(quiz_id, "next")
    closed_cy = sessions["cy"].wait_for("question_closed", lambda f: f["question_id"] == 1)
    assert closed_cy["correct_answer"] == "surrender" and closed_cy["your_result"]["answered"] is False
    assert sessions["ana"].wait_for("question_closed")["your_result"]["points"] == result["points"]
    sessions["ben"].wait_for("question_opened", lambda f: f["question"]["question_id"] == 2)
    typed = cy.answer(quiz_id, 2, "  Postpone ")
    typo = ben.answer(quiz_id, 2, "postpne")
    assert typed["correct"] and typo["correct"]
    sessions["ana"].wait_for("leaderboard", lambda f: board_scores(f).get(cy.user_id) == typed["total"])

    # question 3 has 5 seconds and nobody acts: the scheduler closes it at the deadline
    host.host(quiz_id, "next")
    opened3 = sessions["ana"].wait_for("question_opened", lambda f: f["question"]["question_id"] == 3)
    closed3 = sessions["ana"].wait_for("question_closed", lambda f: f["question_id"] == 3, timeout=opened3["remaining_ms"] / 1000 + 10)
    assert closed3["your_result"]["answered"] is False
    with pytest.raises(ApiError) as err:
        ana.answer(quiz_id, 3, 0)
    assert err.value.code == "question_closed"

    # a player drops and comes back on a new connection: full snapshot, score kept
    sessions["ben"].close()
    sessions["ben"] = ben.live()
    back = sessions["ben"].request({"action": "join", "quiz_id": quiz_id}, expect="joined")
    assert back["me"]["score"] == typo["total"] and back["quiz"]["status"] == "running"
    assert {row["user_id"] for row in back["leaderboard"]["top"]} == {ana.user_id, ben.user_id, cy.user_id}

    board = ben.leaderboard(quiz_id, limit=2)
    assert [row["rank"] for row in board["top"]] == [1, 2] and board["me"]["user_id"] == ben.user_id

    host.host(quiz_id, "end")
    final = sessions["cy"].wait_for("quiz_ended")
    totals = {row["user_id"]: row["score"] for row in final["standings"]}
    assert totals == {ana.user_id: result["total"], ben.user_id: typo["total"], cy.user_id: typed["total"]}
    for s in [*sessions.values(), host_live]:
        s.close()


def test_a_dead_connection_does_not_stop_delivery_and_a_lost_board_comes_back(player: Callable[[str], QuizClient], redis_url: str) -> None:
    host = player("Host")
    ana, ben = player("Ana"), player("Ben")
    quiz_id = host.create_quiz(QUIZ)["quiz_id"]
    live_ana, live_ben = ana.live(), ben.live()
    for s in (live_ana, live_ben):
        s.request({"action": "join", "quiz_id": quiz_id}, expect="joined")

    # a connection the registry still lists but the gateway no longer has (its $disconnect was lost)
    r = redis.Redis.from_url(redis_url)
    r.hset(f"quiz:{quiz_id}:connections", "ghostConnId=", ben.user_id)
    host.host(quiz_id, "start")
    live_ana.wait_for("question_opened")
    live_ben.wait_for("question_opened")
    assert not r.hexists(f"quiz:{quiz_id}:connections", "ghostConnId="), "the 410 pruned the dead connection"

    # Redis loses the quiz's leaderboard mid-quiz; the next push is still right
    first = ana.answer(quiz_id, 1, 0)
    live_ben.wait_for("leaderboard", lambda f: board_scores(f).get(ana.user_id) == first["total"])
    r.delete(*[k for k in r.scan_iter(f"lb:{{{quiz_id}}}:*")])
    second = ben.answer(quiz_id, 1, 0)
    frame = live_ana.wait_for("leaderboard", lambda f: board_scores(f).get(ben.user_id) == second["total"])
    assert board_scores(frame) == {ana.user_id: first["total"], ben.user_id: second["total"]}
    for s in (live_ana, live_ben):
        s.close()


@pytest.mark.sends_invalid_frames
def test_websocket_errors_are_frames_with_codes(player: Callable[[str], QuizClient]) -> None:
    ana = player("Ana")
    live = ana.live()
    with pytest.raises(ApiError) as err:
        live.request({"action": "join", "quiz_id": "ZZZZZZ"}, expect="joined")
    assert err.value.body["error"]["code"] == "not_found"
    with pytest.raises(ApiError) as err:
        live.request({"action": "answer", "quiz_id": "ZZZZZZ", "question_id": 1, "answer": 0, "request_id": 7}, expect="answer_result")
    assert err.value.body["error"]["code"] == "bad_request"
    with pytest.raises(ApiError) as err:
        ana.leaderboard("ZZZZZZ")
    assert (err.value.status, err.value.code) == (404, "not_found")
    for bad in ("0", "101", "²", "ten"):
        with pytest.raises(ApiError) as err:
            ana.call("GET", "/quizzes/ZZZZZZ/leaderboard", params={"limit": bad})
        assert (err.value.status, err.value.code) == (400, "validation_failed")
    live.send({"action": "dance"})
    unknown = live.wait_for("error", lambda f: f.get("code") == "unknown_action")
    assert set(unknown["actions"]) >= {"join", "answer", "ping"}
    live.send({"action": "ping"})
    assert live.wait_for("pong")["type"] == "pong"

    # signing out ends what the open connection may do, not only new connections
    ana.call("POST", "/auth/logout", json={})
    with pytest.raises(ApiError) as err:
        live.request({"action": "join", "quiz_id": "ZZZZZZ"}, expect="joined")
    assert err.value.body["error"]["code"] == "token_revoked"
    live.close()
    time.sleep(0.1)
