"""`QuizSessions.ping`: what a ping that names its quiz restores, with small fakes of the registry and the
quiz store behind the real quiz service (the e2e tests run it against Redis and PostgreSQL)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, cast

import pytest

from quiz.auth import Principal
from quiz.auth.domain import Role
from quiz.errors import NotFound
from quiz.quizzes.service import QuizService
from quiz.realtime.ports import Connections, Membership
from quiz.realtime.session import QuizSessions

HOST, ANA = uuid.uuid4(), uuid.uuid4()
QUIZ_ID = "K7Q2MX"
CID = "Jx1kQd3mIAMCJ8g="


class FakeRegistry:
    def __init__(self, *known: Membership) -> None:
        self.by_connection = {m.connection_id: m for m in known}
        self.reads = 0

    def membership(self, connection_id: str) -> Membership | None:
        self.reads += 1
        return self.by_connection.get(connection_id)

    def add(self, m: Membership) -> None:
        self.by_connection[m.connection_id] = m


@dataclass
class Seat:
    status: str


@dataclass
class FakeQuiz:
    host_id: str


class FakeStore:
    def __init__(self, seats: dict[str, str]) -> None:
        self.seats = seats  # user id -> participant status

    def participant(self, quiz_id: str, user_id: str) -> Seat | None:
        return Seat(self.seats[user_id]) if quiz_id == QUIZ_ID and user_id in self.seats else None

    def get(self, quiz_id: str) -> tuple[FakeQuiz, None]:
        if quiz_id != QUIZ_ID:
            raise NotFound("no such quiz")
        return FakeQuiz(str(HOST)), None


def sessions(registry: FakeRegistry, seats: dict[str, str] | None = None) -> QuizSessions:
    store = FakeStore(seats if seats is not None else {str(ANA): "active"})
    # A ping never publishes, pushes or schedules anything: those ports are left out.
    quizzes = QuizService(cast(Any, store), cast(Any, None), cast(Any, None), cast(Any, None))
    return QuizSessions(quizzes, cast(Any, None), cast(Connections, registry))


def caller(user_id: uuid.UUID) -> Any:
    return lambda: Principal(user_id, "Ana", Role.PLAYER)


def nobody() -> Principal:
    raise AssertionError("the caller is only looked up when there is something to restore")


PONG = {"type": "pong", "connectionId": CID}
REJOIN = {"type": "rejoin", "quiz_id": QUIZ_ID, "connectionId": CID}


@pytest.mark.parametrize("quiz_id", [None, "", "   ", 42])
def test_a_ping_without_a_quiz_is_a_pong_and_reads_nothing(quiz_id: Any) -> None:
    registry = FakeRegistry()
    assert sessions(registry).ping(CID, quiz_id, nobody) == PONG
    assert registry.reads == 0


def test_a_registered_connection_gets_a_pong() -> None:
    registry = FakeRegistry(Membership(CID, QUIZ_ID, str(ANA)))
    assert sessions(registry).ping(CID, "k7q-2mx", nobody) == PONG


@pytest.mark.parametrize("who", [ANA, HOST])
def test_a_lost_registration_of_a_player_or_the_host_is_restored(who: uuid.UUID) -> None:
    registry = FakeRegistry()
    assert sessions(registry).ping(CID, "k7q2mx", caller(who)) == REJOIN
    assert registry.by_connection == {CID: Membership(CID, QUIZ_ID, str(who))}


def test_a_connection_registered_for_another_quiz_follows_the_quiz_it_names() -> None:
    registry = FakeRegistry(Membership(CID, "ZZZZZZ", str(ANA)))
    assert sessions(registry).ping(CID, QUIZ_ID, caller(ANA)) == REJOIN
    assert registry.by_connection[CID].quiz_id == QUIZ_ID


@pytest.mark.parametrize(("seats", "quiz_id"), [({}, QUIZ_ID), ({str(ANA): "removed"}, QUIZ_ID), ({}, "ZZZZZZ")])
def test_nothing_is_registered_for_someone_not_in_the_quiz(seats: dict[str, str], quiz_id: str) -> None:
    registry = FakeRegistry()
    assert sessions(registry, seats).ping(CID, quiz_id, caller(ANA)) == PONG
    assert registry.by_connection == {}
