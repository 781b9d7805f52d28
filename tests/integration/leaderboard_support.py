"""What the leaderboard's integration tests share: the outbox rows a quiz produces, wrapped in the Kafka
event source mapping's event shape, recording fakes of the push, ticker and sleep ports, and the scores
on each side (not a test module, so importing it runs no tests)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import psycopg

from quiz.leaderboard.domain import QuizPush
from quiz.leaderboard.service import LeaderboardService
from quiz.quizzes.outbox import OutboxEvent
from quiz.quizzes.service import QuizService
from tests.integration.quiz_support import QUIZ, make_user


class CapturingPublisher:
    """Keeps what would go to Kafka, so the test can deliver it (and replay it) as the ESM would.

    Only the test's own quiz is kept: a successful publish also drains older unpublished rows, which in the
    shared test database include other tests' quizzes (acknowledged here, as a broker would)."""

    def __init__(self) -> None:
        self.events: list[OutboxEvent] = []
        self.quiz_id: str | None = None

    def publish(self, events: list[OutboxEvent]) -> list[int]:
        self.events.extend(e for e in events if self.quiz_id is None or e.key == self.quiz_id)
        return [e.id for e in events]


def kafka_event(events: list[OutboxEvent], topic: str = "quiz.scores") -> dict[str, Any]:
    """The aws:SelfManagedKafka event carrying these outbox rows (one partition, offsets in order)."""
    records = [
        {
            "topic": topic,
            "partition": 0,
            "offset": i,
            "timestamp": 0,
            "timestampType": "CREATE_TIME",
            "key": base64.b64encode(e.key.encode()).decode(),
            "value": base64.b64encode(json.dumps(e.payload).encode()).decode(),
            "headers": [],
        }
        for i, e in enumerate(events)
    ]
    return {"eventSource": "SelfManagedKafka", "bootstrapServers": "127.0.0.1:9092", "records": {f"{topic}-0": records}}


def closed_marker(quiz_id: str, question_id: int) -> OutboxEvent:
    """The quiz service's question_closed marker, as it travels on the scores topic."""
    payload = {"type": "question_closed", "event_id": str(uuid.uuid4()), "quiz_id": quiz_id, "question_id": question_id}
    return OutboxEvent(0, payload["event_id"], "quiz.scores", quiz_id, payload, {})


def board_tick(quiz_id: str) -> OutboxEvent:
    payload = {"type": "board_tick", "quiz_id": quiz_id}
    return OutboxEvent(0, "tick", "quiz.scores", quiz_id, payload, {})


class RecordingPush:
    def __init__(self) -> None:
        self.boards: list[dict[str, Any]] = []
        self.personal: list[dict[str, Mapping[str, Any]]] = []

    def deliver(self, pushes: Sequence[QuizPush]) -> dict[str, int]:
        for push in pushes:
            if push.board is not None:
                self.boards.append(dict(push.board))
            if push.personal:
                self.personal.append(dict(push.personal))
        return {push.quiz_id: 1 for push in pushes}


class RecordingTicker:
    """The ticker port: keeps the ticks, which the test hands back as the next batch (as Kafka would)."""

    def __init__(self) -> None:
        self.ticks: list[str] = []

    def tick(self, quiz_ids: list[str]) -> None:
        self.ticks.extend(quiz_ids)


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def sums_in_postgres(database_url: str, quiz_id: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT p.user_id, coalesce(sum(a.points), 0) FROM participants p LEFT JOIN answers a"
            " ON a.quiz_id = p.quiz_id AND a.user_id = p.user_id WHERE p.quiz_id = %s AND p.status = 'active' GROUP BY p.user_id",
            (quiz_id,),
        ).fetchall()
    return {str(u): int(s) for u, s in rows}


def scores_in_redis(board: LeaderboardService, quiz_id: str) -> dict[str, int]:
    return {s.user_id: s.score for s in board.board.ranked(quiz_id)}


def play(world: dict[str, Any], database_url: str) -> tuple[str, list[Any]]:
    quizzes: QuizService = world["quizzes"]
    host = make_user(database_url, "Host")
    players = [make_user(database_url, n) for n in ("Ana", "Ben", "Cy", "Dee")]
    quiz_id = quizzes.create(host, QUIZ)["quiz_id"]
    world["captured"].quiz_id = quiz_id
    for p in players:
        quizzes.join(p, quiz_id)
    quizzes.start(host, quiz_id)
    quizzes.answer(players[0], quiz_id, 1, 1, "a1")
    quizzes.answer(players[1], quiz_id, 1, 0, "b1")  # wrong
    quizzes.answer(players[2], quiz_id, 1, 1, "c1")
    quizzes.next(host, quiz_id)
    quizzes.answer(players[0], quiz_id, 2, "modern", "a2")
    quizzes.answer(players[2], quiz_id, 2, "new", "c2")
    return quiz_id, players
