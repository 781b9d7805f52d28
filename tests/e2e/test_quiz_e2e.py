"""A host and several players run a whole quiz through the emulator, over real sockets: HTTP for the
host, WebSockets for everyone, Kafka → leaderboard function → management API → frames."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis

from clients.quiz_client import ApiError, Frame, LiveSession, QuizClient
from tests.e2e.conftest import Product
from tests.support import QUIZ, FrameRecorder, board_scores

pytestmark = pytest.mark.e2e


# ---- a whole quiz, one step per test -------------------------------------------------------------
# The steps share one quiz (module scope) and run in file order; each checks what its step shows, so a
# failing step does not hide the ones after it. A step that needs what an earlier, failed step would have
# noted (an answer's result) is skipped, naming it.


@dataclass
class LiveQuiz:
    """A host and three players in one quiz, every player's WebSocket joined, the host's too."""

    host: QuizClient
    ana: QuizClient
    ben: QuizClient
    cy: QuizClient
    quiz_id: str
    sessions: dict[str, LiveSession]
    host_live: LiveSession
    joined: dict[str, Frame]  # each player's `joined` frame
    host_joined: Frame
    noted: dict[str, Any] = field(default_factory=dict)  # results a later step checks against

    def needs(self, *keys: str) -> list[Any]:
        missing = [k for k in keys if k not in self.noted]
        if missing:
            pytest.skip(f"an earlier step failed before noting {', '.join(missing)}")
        return [self.noted[k] for k in keys]


@pytest.fixture(scope="module")
def live_quiz(product: Product) -> Iterator[LiveQuiz]:
    # The per-test frame check (tests/e2e/conftest.py) sees only sessions opened during a test; these
    # outlive every test, so their frames are checked against docs/asyncapi.yaml here, at the end.
    recorder = FrameRecorder(own_sessions_only=True)
    clients: list[QuizClient] = []
    sessions: dict[str, LiveSession] = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        recorder.install(monkeypatch)

        def signed_up(display_name: str) -> QuizClient:
            client = QuizClient(product.base_url)
            clients.append(client)
            client.signup(f"p{uuid.uuid4().hex[:12]}", "correct horse battery staple", display_name)
            return client

        try:
            host = signed_up("Host")
            ana, ben, cy = (signed_up(n) for n in ("Ana", "Ben", "Cy"))
            quiz_id = host.create_quiz(QUIZ)["quiz_id"]
            joined: dict[str, Frame] = {}
            for name, client in (("ana", ana), ("ben", ben), ("cy", cy)):
                sessions[name] = client.live()
                joined[name] = sessions[name].request({"action": "join", "quiz_id": quiz_id.lower()}, expect="joined")
            sessions["host"] = host_live = host.live(token_in="header")
            host_joined = host_live.request({"action": "join", "quiz_id": quiz_id}, expect="joined")
            recorder.stop_taking_sessions()  # a session a test opens is that test's to check
            players = {k: v for k, v in sessions.items() if k != "host"}
            yield LiveQuiz(host, ana, ben, cy, quiz_id, players, host_live, joined, host_joined)
        finally:
            for s in sessions.values():
                s.close()
            for c in clients:
                c.close()
    recorder.assert_documented()


def test_players_and_the_host_join_with_a_small_snapshot(live_quiz: LiveQuiz) -> None:
    assert len(live_quiz.quiz_id) == 6
    for joined in live_quiz.joined.values():
        assert joined["role"] == "player" and joined["quiz"]["status"] == "open" and joined["open_question"] is None
        assert "questions" not in joined["quiz"], "the snapshot stays small whatever the quiz's size"
    assert live_quiz.host_joined["role"] == "host"


def test_question_1_opens_for_everyone_without_its_answer(live_quiz: LiveQuiz) -> None:
    live_quiz.host.host(live_quiz.quiz_id, "start")
    for s in live_quiz.sessions.values():
        opened = s.wait_for("question_opened")
        assert opened["question"]["question_id"] == 1 and "correct_choice" not in opened["question"]
        assert 25_000 < opened["remaining_ms"] <= 30_000


def test_answers_over_the_websocket_and_over_http_with_an_idempotency_key(live_quiz: LiveQuiz) -> None:
    quiz_id, sessions, ben = live_quiz.quiz_id, live_quiz.sessions, live_quiz.ben
    # Ana answers over the WebSocket, Ben over HTTP with an Idempotency-Key, twice (a retry)
    result = live_quiz.noted["ana_1"] = sessions["ana"].request(
        {"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": 0}, expect="answer_result"
    )
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


def test_the_leaderboard_arrives_on_every_socket_with_ana_on_top(live_quiz: LiveQuiz) -> None:
    (result,) = live_quiz.needs("ana_1")
    ana, sessions = live_quiz.ana, live_quiz.sessions
    # coalesced: the frame that shows Ana's total also counts everyone
    frame = sessions["cy"].wait_for("leaderboard", lambda f: board_scores(f).get(ana.user_id) == result["score"])
    assert frame["player_count"] == 3 and frame["top"][0]["user_id"] == ana.user_id
    mine = sessions["ana"].wait_for("your_rank", lambda f: f["score"] == result["score"])
    assert (mine["rank"], mine["gap_to_next"], mine["player_count"]) == (1, 0, 3)


def test_next_closes_question_1_with_each_players_result_and_opens_question_2(live_quiz: LiveQuiz) -> None:
    quiz_id, sessions, ben, cy = live_quiz.quiz_id, live_quiz.sessions, live_quiz.ben, live_quiz.cy
    live_quiz.host.host(quiz_id, "next")
    closed_cy = sessions["cy"].wait_for("question_closed", lambda f: f["question_id"] == 1)
    assert closed_cy["correct_answer"] == "surrender" and closed_cy["your_result"]["answered"] is False
    closed_ana = sessions["ana"].wait_for("question_closed")
    sessions["ben"].wait_for("question_opened", lambda f: f["question"]["question_id"] == 2)
    typed = live_quiz.noted["cy_2"] = cy.answer(quiz_id, 2, "  Postpone ")
    typo = live_quiz.noted["ben_2"] = ben.answer(quiz_id, 2, "postpne")
    assert typed["correct"] and typo["correct"]
    sessions["ana"].wait_for("leaderboard", lambda f: board_scores(f).get(cy.user_id) == typed["score"])
    (result,) = live_quiz.needs("ana_1")
    assert closed_ana["your_result"]["points"] == result["points"]


def test_the_scheduler_closes_a_question_nobody_acts_on_at_its_deadline(live_quiz: LiveQuiz) -> None:
    # question 3 has 5 seconds and nobody acts: the scheduler closes it at the deadline
    quiz_id, ana_live = live_quiz.quiz_id, live_quiz.sessions["ana"]
    live_quiz.host.host(quiz_id, "next")
    opened3 = ana_live.wait_for("question_opened", lambda f: f["question"]["question_id"] == 3)
    closed3 = ana_live.wait_for("question_closed", lambda f: f["question_id"] == 3, timeout=opened3["remaining_ms"] / 1000 + 10)
    assert closed3["your_result"]["answered"] is False
    with pytest.raises(ApiError) as err:
        live_quiz.ana.answer(quiz_id, 3, 0)
    assert err.value.code == "question_closed"


def test_a_player_who_comes_back_on_a_new_connection_gets_a_full_snapshot_and_keeps_the_score(live_quiz: LiveQuiz) -> None:
    quiz_id, sessions, ana, ben, cy = live_quiz.quiz_id, live_quiz.sessions, live_quiz.ana, live_quiz.ben, live_quiz.cy
    sessions["ben"].close()
    sessions["ben"] = ben.live()
    back = sessions["ben"].request({"action": "join", "quiz_id": quiz_id}, expect="joined")
    assert back["quiz"]["status"] == "running"
    assert {row["user_id"] for row in back["leaderboard"]["top"]} == {ana.user_id, ben.user_id, cy.user_id}
    board = ben.leaderboard(quiz_id, limit=2)
    assert [row["rank"] for row in board["top"]] == [1, 2] and board["me"]["user_id"] == ben.user_id
    (typo,) = live_quiz.needs("ben_2")
    assert back["me"]["score"] == typo["score"]


def test_ending_the_quiz_sends_the_final_standings(live_quiz: LiveQuiz) -> None:
    live_quiz.host.host(live_quiz.quiz_id, "end")
    final = live_quiz.sessions["cy"].wait_for("quiz_ended")
    totals = {row["user_id"]: row["score"] for row in final["standings"]}
    result, typo, typed = live_quiz.needs("ana_1", "ben_2", "cy_2")
    assert totals == {live_quiz.ana.user_id: result["score"], live_quiz.ben.user_id: typo["score"], live_quiz.cy.user_id: typed["score"]}


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
    live_ben.wait_for("leaderboard", lambda f: board_scores(f).get(ana.user_id) == first["score"])
    r.delete(*[k for k in r.scan_iter(f"lb:{{{quiz_id}}}:*")])
    second = ben.answer(quiz_id, 1, 0)
    frame = live_ana.wait_for("leaderboard", lambda f: board_scores(f).get(ben.user_id) == second["score"])
    assert board_scores(frame) == {ana.user_id: first["score"], ben.user_id: second["score"]}
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
    unknown = live.wait_for("error", lambda f: f["error"]["code"] == "unknown_action")
    assert set(unknown["error"]["details"]["actions"]) >= {"join", "answer", "ping"}
    live.send({"action": "ping"})
    assert live.wait_for("pong")["type"] == "pong"

    # signing out ends what the open connection may do, not only new connections
    ana.call("POST", "/auth/logout", json={})
    with pytest.raises(ApiError) as err:
        live.request({"action": "join", "quiz_id": "ZZZZZZ"}, expect="joined")
    assert err.value.body["error"]["code"] == "token_revoked"
    live.close()
    time.sleep(0.1)
