"""Redis loses the connection registry while the sockets stay open: the next ping that names the quiz
puts the connection back, the player is told to join again, and frames reach them again."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from clients.quiz_client import QuizClient
from tests.support import QUIZ, board_scores

pytestmark = pytest.mark.e2e


def lose_registry(r: redis.Redis, quiz_id: str, *connection_ids: str) -> None:
    """What a flush does to this quiz's registry (only this quiz's keys: other tests share the database)."""
    r.delete(f"quiz:{quiz_id}:connections", f"quiz:{quiz_id}:connections:v", *(f"connection:{c}" for c in connection_ids))


def test_a_ping_restores_a_lost_registry_and_frames_reach_the_player_again(player: Callable[[str], QuizClient], redis_url: str) -> None:
    host, ana, ben = player("Host"), player("Ana"), player("Ben")
    quiz_id = host.create_quiz(QUIZ)["quiz_id"]
    live_ana, live_ben = ana.live(), ben.live()
    for s in (live_ana, live_ben):
        s.request({"action": "join", "quiz_id": quiz_id}, expect="joined")
    ana_cid = live_ana.request({"action": "ping"}, expect="pong")["connectionId"]
    ben_cid = live_ben.request({"action": "ping"}, expect="pong")["connectionId"]

    r = redis.Redis.from_url(redis_url, decode_responses=True)
    lose_registry(r, quiz_id, ana_cid, ben_cid)
    assert r.hgetall(f"quiz:{quiz_id}:connections") == {}

    # a ping without the quiz cannot tell what was lost: still a plain pong
    assert live_ana.request({"action": "ping"}, expect="pong")["connectionId"] == ana_cid
    hint = live_ana.request({"action": "ping", "quiz_id": quiz_id.lower()}, expect="rejoin")
    assert hint == {"type": "rejoin", "quiz_id": quiz_id, "connectionId": ana_cid}
    assert r.hget(f"quiz:{quiz_id}:connections", ana_cid) == ana.user_id, "the ping re-registered the connection"
    assert r.hgetall(f"connection:{ana_cid}") == {"quiz_id": quiz_id, "user_id": ana.user_id}
    # once restored, the same ping is a pong again
    assert live_ana.request({"action": "ping", "quiz_id": quiz_id}, expect="pong")["connectionId"] == ana_cid
    # the client joined again by itself on the hint, and got a full snapshot
    assert live_ana.wait_for("joined")["quiz_id"] == quiz_id

    # the next question and leaderboard reach Ana again, though she never sent `join`
    host.host(quiz_id, "start")
    live_ana.wait_for("question_opened")
    first = ben.answer(quiz_id, 1, 0)
    frame = live_ana.wait_for("leaderboard", lambda f: board_scores(f).get(ben.user_id) == first["score"])
    assert board_scores(frame)[ben.user_id] == first["score"]

    # Ben restores his too, and the end of the quiz reaches both
    live_ben.request({"action": "ping", "quiz_id": quiz_id}, expect="rejoin")
    host.host(quiz_id, "end")
    for s in (live_ana, live_ben):
        assert s.wait_for("quiz_ended")["quiz_id"] == quiz_id
        s.close()


def test_a_ping_never_registers_someone_who_is_not_in_the_quiz(player: Callable[[str], QuizClient], redis_url: str) -> None:
    host, ana, eve = player("Host"), player("Ana"), player("Eve")
    quiz_id = host.create_quiz(QUIZ)["quiz_id"]
    live_ana, live_eve, live_host = ana.live(), eve.live(), host.live()
    live_ana.request({"action": "join", "quiz_id": quiz_id}, expect="joined")
    live_host.request({"action": "join", "quiz_id": quiz_id}, expect="joined")
    host.call("DELETE", f"/quizzes/{quiz_id}/players/{ana.user_id}")
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    host_cid = live_host.request({"action": "ping"}, expect="pong")["connectionId"]
    lose_registry(r, quiz_id, host_cid)

    # Eve never joined, Ana was removed: their pings name the quiz but restore nothing
    eve_cid = live_eve.request({"action": "ping", "quiz_id": quiz_id}, expect="pong")["connectionId"]
    ana_cid = live_ana.request({"action": "ping", "quiz_id": quiz_id}, expect="pong")["connectionId"]
    # a quiz that does not exist is not an error either
    live_eve.request({"action": "ping", "quiz_id": "ZZZZZZ"}, expect="pong")
    # the host watches without a seat, and is restored
    live_host.request({"action": "ping", "quiz_id": quiz_id}, expect="rejoin")
    assert r.hgetall(f"quiz:{quiz_id}:connections") == {host_cid: host.user_id}
    assert not r.exists(f"connection:{eve_cid}", f"connection:{ana_cid}")
    for s in (live_ana, live_eve, live_host):
        s.close()
