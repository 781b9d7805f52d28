"""The broadcaster over the real Redis connection registry: one delivery per tick for many quizzes,
the connection list re-read only when it changed, gone connections pruned."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable

import pytest
import redis

from quiz.leaderboard.domain import QuizPush
from quiz.realtime.adapters.redis_registry import Membership, RedisQuizConnections
from quiz.realtime.broadcaster import Broadcaster
from quiz.realtime.ports import Message

pytestmark = pytest.mark.integration


class RecordingDelivery:
    """The delivery port: remembers each call; `gone` ids answer 410."""

    def __init__(self, gone: Iterable[str] = ()) -> None:
        self.gone = set(gone)
        self.calls: list[list[Message]] = []

    def send(self, connection_ids: list[str], data: bytes) -> list[str]:
        return self.send_many([(connection_ids, data)])

    def send_many(self, messages: list[Message]) -> list[str]:
        self.calls.append(messages)
        return [cid for ids, _ in messages for cid in ids if cid in self.gone]

    def received(self, connection_id: str) -> list[dict[str, object]]:
        return [json.loads(data) for call in self.calls for ids, data in call if connection_id in ids]


class CountingRegistry(RedisQuizConnections):
    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client)
        self.full_reads = 0

    def of_quiz(self, quiz_id: str) -> dict[str, str]:
        self.full_reads += 1
        return super().of_quiz(quiz_id)


@pytest.fixture
def registry(redis_url: str) -> CountingRegistry:
    return CountingRegistry(redis.Redis.from_url(redis_url))


def seat(registry: RedisQuizConnections, quiz_id: str, user_id: str) -> str:
    connection_id = uuid.uuid4().hex[:12] + "="
    registry.add(Membership(connection_id, quiz_id, user_id))
    return connection_id


def tick(quiz_id: str, seq: int, personal: dict[str, dict[str, object]] | None = None) -> QuizPush:
    return QuizPush(quiz_id, {"type": "leaderboard", "quiz_id": quiz_id, "seq": seq}, personal or {})


def test_many_quizzes_one_delivery_and_the_room_is_read_only_when_it_changed(registry: CountingRegistry) -> None:
    delivery = RecordingDelivery()
    broadcaster = Broadcaster(registry, delivery)
    a, b = f"A{uuid.uuid4().hex[:5]}", f"B{uuid.uuid4().hex[:5]}"
    ana, ben = seat(registry, a, "ana"), seat(registry, a, "ben")
    cy = seat(registry, b, "cy")

    reached = broadcaster.deliver([tick(a, 1, {"ana": {"type": "your_rank", "rank": 1}}), tick(b, 1)])
    assert reached == {a: 2, b: 1}
    assert len(delivery.calls) == 1, "both quizzes' frames in one delivery"
    assert [f["type"] for f in delivery.received(ana)] == ["your_rank", "leaderboard"], "a player's own frame first"
    (call,) = delivery.calls
    assert [json.loads(data)["type"] for _, data in call] == ["your_rank", "leaderboard", "leaderboard"], (
        "every personal frame of the tick before any quiz's board"
    )
    assert [f["type"] for f in delivery.received(ben)] == ["leaderboard"]
    assert [f["quiz_id"] for f in delivery.received(cy)] == [b]
    reads = registry.full_reads

    broadcaster.deliver([tick(a, 2), tick(b, 2)])
    assert registry.full_reads == reads, "nobody joined or left: the rooms are not re-read"

    dee = seat(registry, a, "dee")  # joins through another container: only the counter tells
    assert broadcaster.deliver([tick(a, 3)]) == {a: 3}
    assert [f["seq"] for f in delivery.received(dee)] == [3]
    assert registry.full_reads == reads + 1

    registry.remove(ben)
    broadcaster.deliver([tick(a, 4)])
    assert [f["seq"] for f in delivery.received(ben)] == [1, 2, 3], "a connection that left gets nothing more"


def test_connections_the_gateway_reports_gone_are_pruned(registry: CountingRegistry) -> None:
    quiz_id = f"G{uuid.uuid4().hex[:5]}"
    alive, dead = seat(registry, quiz_id, "ana"), seat(registry, quiz_id, "ben")
    delivery = RecordingDelivery(gone=[dead])
    broadcaster = Broadcaster(registry, delivery)

    assert broadcaster.deliver([tick(quiz_id, 1, {"ben": {"type": "your_rank"}})]) == {quiz_id: 1}
    assert set(registry.of_quiz(quiz_id)) == {alive}
    assert registry.membership(dead) is None
    broadcaster.deliver([tick(quiz_id, 2)])
    assert [f["seq"] for f in delivery.received(dead) if f["type"] == "leaderboard"] == [1]
