"""`QuizService` with in-memory fakes at its ports (tests/unit/fakes.py): what a host and players see
happen, without PostgreSQL or Kafka (tests/integration/test_quiz_service.py runs the same service on them)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from quiz.auth.domain import Principal, Role
from quiz.auth.errors import NotQuizHost
from quiz.quizzes.errors import DeadlineNotReached, HostCannotPlay, IdempotencyKeyReused, QuizLocked
from quiz.quizzes.judging import AlreadyAnswered
from quiz.quizzes.service import QuizService
from tests.unit.fakes import START, FakeNotifier, FakePublisher, FakeQuizStore, FakeTimer

HOST = Principal(uuid.uuid4(), "Hana", Role.PLAYER)
ANA = Principal(uuid.uuid4(), "Ana", Role.PLAYER)
BEN = Principal(uuid.uuid4(), "Ben", Role.PLAYER)

DRAFT: dict[str, Any] = {
    "title": "Animals",
    "questions": [
        {"kind": "multiple_choice", "prompt": "A cat is a...", "choices": ["plant", "animal"], "correct_choice": 1, "time_limit_ms": 10000},
        {"kind": "typed", "prompt": "Spell 'dog' in French", "accepted_answers": ["chien"], "time_limit_ms": 10000},
    ],
}


class Game:
    def __init__(self) -> None:
        self.store, self.publisher, self.notifier, self.timer = FakeQuizStore(), FakePublisher(), FakeNotifier(), FakeTimer()
        self.service = QuizService(self.store, self.publisher, self.notifier, self.timer, clock=lambda: 0.0)

    def quiz_with_players(self, *players: Principal) -> str:
        quiz_id = str(self.service.create(HOST, DRAFT)["quiz_id"])
        for p in players:
            self.service.join(p, quiz_id)
        return quiz_id

    def published(self, kind: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.publisher.sent if e.payload["type"] == kind]


@pytest.fixture
def game() -> Game:
    return Game()


def test_the_host_creates_a_quiz_and_players_join_it_once(game: Game) -> None:
    quiz_id = game.quiz_with_players(ANA)
    again = game.service.join(ANA, quiz_id.lower())

    assert again["joined"] is False and again["player"]["display_name"] == "Ana"
    assert [e["reason"] for e in game.published("score")] == ["joined"]  # one seat, one event
    view = game.service.get(HOST, quiz_id)
    assert view["player_count"] == 1 and view["questions"][0]["correct_choice"] == 1
    assert "correct_choice" not in str(game.service.get(ANA, quiz_id)["questions"])  # players see no unopened question


def test_the_host_cannot_play_and_a_locked_quiz_takes_no_one(game: Game) -> None:
    quiz_id = game.quiz_with_players()
    with pytest.raises(HostCannotPlay):
        game.service.join(HOST, quiz_id)
    game.service.set_locked(HOST, quiz_id, True)
    with pytest.raises(QuizLocked):
        game.service.join(ANA, quiz_id)


def test_only_the_host_paces_the_quiz(game: Game) -> None:
    quiz_id = game.quiz_with_players(ANA)
    with pytest.raises(NotQuizHost):
        game.service.start(ANA, quiz_id)
    assert game.notifier.to_everyone == []


def test_start_opens_the_first_question_for_everyone_and_sets_its_timer(game: Game) -> None:
    quiz_id = game.quiz_with_players(ANA)
    view = game.service.start(HOST, quiz_id)

    assert view["status"] == "running" and view["current_question_id"] == 1
    [(to, frame)] = game.notifier.to_everyone
    assert to == quiz_id and frame["type"] == "question_opened" and frame["remaining_ms"] == 10_000
    assert "correct_choice" not in frame["question"]
    assert game.timer.scheduled == [(quiz_id, 1, START + timedelta(seconds=10))]


def test_an_answer_is_scored_once_and_a_retry_with_its_key_replays_it(game: Game) -> None:
    quiz_id = game.quiz_with_players(ANA)
    game.service.start(HOST, quiz_id)
    game.store.tick(1)

    first = game.service.answer(ANA, quiz_id, 1, 1, "k-1")
    retry = game.service.answer(ANA, quiz_id, 1, 1, "k-1")

    assert first.correct and first.points > 0 and first.score == first.points and not first.replayed
    assert retry.replayed and retry.score == first.score
    assert [e["score"] for e in game.published("score") if e["reason"] == "answer"] == [first.score]  # published once
    with pytest.raises(IdempotencyKeyReused):
        game.service.answer(ANA, quiz_id, 1, 0, "k-1")  # the same key may not change the answer
    with pytest.raises(AlreadyAnswered):
        game.service.answer(ANA, quiz_id, 1, 0, "k-2")


def test_next_closes_the_question_with_each_players_own_result(game: Game) -> None:
    quiz_id = game.quiz_with_players(ANA, BEN)
    game.service.start(HOST, quiz_id)
    game.store.tick(2)
    right = game.service.answer(ANA, quiz_id, 1, 1, "a-1")

    game.service.next(HOST, quiz_id, from_question_id=1)

    [ana] = game.notifier.frames_of(str(ANA.user_id), "question_closed")
    [ben] = game.notifier.frames_of(str(BEN.user_id), "question_closed")
    [host] = game.notifier.frames_of(str(HOST.user_id), "question_closed")
    assert ana["your_result"] == {"answered": True, "correct": True, "points": right.points, "score": right.score}
    assert ben["your_result"] == {"answered": False, "correct": False, "points": 0, "score": 0}
    assert host["correct_answer"] == "animal" and host["answers"] == 1
    assert [e["question_id"] for e in game.published("question_closed")] == [1]
    assert game.notifier.to_everyone[-1][1]["question"]["question_id"] == 2


def test_a_retried_next_moves_once(game: Game) -> None:
    quiz_id = game.quiz_with_players(ANA)
    game.service.start(HOST, quiz_id)
    game.service.next(HOST, quiz_id, from_question_id=1)
    again = game.service.next(HOST, quiz_id, from_question_id=1)

    assert again["current_question_id"] == 2
    assert len(game.published("question_closed")) == 1


def test_end_closes_the_open_question_and_sends_the_final_standings(game: Game) -> None:
    quiz_id = game.quiz_with_players(ANA, BEN)
    game.service.start(HOST, quiz_id)
    game.store.tick(1)
    game.service.answer(BEN, quiz_id, 1, 1, "b-1")
    game.store.tick(1)
    game.service.answer(ANA, quiz_id, 1, 1, "a-1")

    ended = game.service.end(HOST, quiz_id)

    assert ended["status"] == "ended"
    assert [row["display_name"] for row in ended["standings"]] == ["Ben", "Ana"]  # Ben answered sooner: more points
    assert game.notifier.to_everyone[-1][1] == {"type": "quiz_ended", "quiz_id": quiz_id, "standings": ended["standings"]}
    assert len(game.published("question_closed")) == 1


def test_a_push_that_fails_does_not_fail_the_committed_change(game: Game) -> None:
    quiz_id = game.quiz_with_players(ANA)
    game.notifier.broken = True

    assert game.service.start(HOST, quiz_id)["status"] == "running"
    assert game.store.quizzes[quiz_id].status == "running"


def test_what_the_broker_did_not_take_is_published_by_the_next_successful_publish(game: Game) -> None:
    game.publisher.down = True
    quiz_id = game.quiz_with_players(ANA)
    assert game.publisher.sent == []

    game.publisher.down = False
    game.service.join(BEN, quiz_id)

    assert sorted(e["display_name"] for e in game.published("score")) == ["Ana", "Ben"]
    ana_row, ben_row = sorted(game.store.outbox)
    assert game.store.published == {ana_row} and game.store.to_mark_later == [ben_row], "Ben's own row is marked later"


def test_the_clock_closes_a_due_question_once_and_asks_to_be_retried_when_early(game: Game) -> None:
    quiz_id = game.quiz_with_players(ANA)
    game.service.start(HOST, quiz_id)
    with pytest.raises(DeadlineNotReached):
        game.service.close_due(quiz_id, 1, max_wait_s=1)

    game.store.tick(10)
    assert game.service.close_due(quiz_id, 1) is True
    assert game.service.close_due(quiz_id, 1) is False
    assert len(game.notifier.frames_of(str(ANA.user_id), "question_closed")) == 1


def test_a_closed_question_reaches_the_players_before_its_marker_is_published(game: Game) -> None:
    """The players' `question_closed` is what the deadline promises; the marker's publish waits for the
    broker (and may drain other containers' leftovers), so it goes second, and even when the push failed."""
    quiz_id = game.quiz_with_players(ANA)
    game.service.start(HOST, quiz_id)
    seen: list[str] = []
    publish, to_players = game.publisher.publish, game.notifier.to_players
    game.publisher.publish = lambda events: seen.extend(e.payload["type"] for e in events) or publish(events)  # type: ignore[method-assign]
    game.notifier.to_players = lambda q, frames: seen.append("pushed") or to_players(q, frames)  # type: ignore[method-assign]
    game.store.tick(10)

    assert game.service.close_due(quiz_id, 1) is True
    assert seen == ["pushed", "question_closed"]

    game.service.next(HOST, quiz_id, from_question_id=1)
    game.notifier.broken = True
    game.store.tick(30)
    assert game.service.close_due(quiz_id, 2) is True
    assert [e["question_id"] for e in game.published("question_closed")] == [1, 2], "published though the push failed"


def test_removing_a_player_tells_them_and_stops_their_frames(game: Game) -> None:
    quiz_id = game.quiz_with_players(ANA)
    game.service.remove(HOST, quiz_id, str(ANA.user_id))

    assert game.notifier.frames_of(str(ANA.user_id), "removed") == [{"type": "removed", "quiz_id": quiz_id}]
    assert game.notifier.unsubscribed == [(quiz_id, str(ANA.user_id))]
    assert game.published("score")[-1]["removed"] is True
    assert game.service.belongs(quiz_id, str(ANA.user_id)) is False
    assert game.service.belongs(quiz_id, str(HOST.user_id)) is True


def test_a_watching_relay_publishes_a_quiet_quizs_backlog_as_soon_as_the_broker_is_back(game: Game) -> None:
    game.publisher.down = True
    game.quiz_with_players(ANA, BEN)  # two score events, never published: the quiz then goes quiet
    polls: list[float] = []

    def broker_returns_on_the_third_look(seconds: float) -> None:
        polls.append(seconds)
        game.publisher.down = len(polls) < 3

    republished = game.service.relay(older_than_s=0, budget_s=30, watch_s=0.5, poll_s=0.001, sleep=broker_returns_on_the_third_look)
    assert republished == 2 and game.store.published == set(game.store.outbox)
    assert sorted(e["display_name"] for e in game.published("score")) == ["Ana", "Ben"]


def test_a_relay_without_watch_gives_up_at_once_while_the_broker_is_down(game: Game) -> None:
    game.publisher.down = True
    game.quiz_with_players(ANA)
    slept: list[float] = []
    assert game.service.relay(older_than_s=0, budget_s=30, sleep=slept.append) == 0
    assert slept == [] and game.store.published == set()
