"""Frames to a whole quiz (encoded once) or to individual players, through the connection registry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from quiz.realtime.connections import ConnectionRegistry
from quiz.realtime.delivery import Delivery, encode


class Broadcaster:
    """Sends frames to the connections watching a quiz; prunes the ones the gateway reports gone."""

    def __init__(self, registry: ConnectionRegistry, delivery: Delivery) -> None:
        self._registry = registry
        self._delivery = delivery

    def to_quiz(self, quiz_id: str, frame: Mapping[str, Any]) -> int:
        """One frame, encoded once, to every connection of the quiz. Returns how many were reached."""
        connections = list(self._registry.of_quiz(quiz_id))
        gone = self._delivery.send(connections, encode(frame))
        self._registry.forget(quiz_id, gone)
        return len(connections) - len(gone)

    def to_players(self, quiz_id: str, frames: Mapping[str, Mapping[str, Any]]) -> int:
        """A frame of their own to each player (by user id), on every connection they have open."""
        by_user: dict[str, list[str]] = defaultdict(list)
        for connection_id, user_id in self._registry.of_quiz(quiz_id).items():
            if user_id in frames:
                by_user[user_id].append(connection_id)
        messages = [(connections, encode(frames[user_id])) for user_id, connections in by_user.items()]
        gone = self._delivery.send_many(messages)
        self._registry.forget(quiz_id, gone)
        return sum(len(ids) for ids, _ in messages) - len(gone)

    def unsubscribe(self, quiz_id: str, user_id: str) -> None:
        self._registry.forget(quiz_id, [cid for cid, uid in self._registry.of_quiz(quiz_id).items() if uid == user_id])

    def to_connection(self, quiz_id: str, connection_id: str, frame: Mapping[str, Any]) -> bool:
        gone = self._delivery.send([connection_id], encode(frame))
        self._registry.forget(quiz_id, gone)
        return not gone
