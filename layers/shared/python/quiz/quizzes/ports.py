"""What the quiz service needs from the outside world, as small protocols (adapters implement them)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from quiz.quizzes.outbox import OutboxEvent


class ScorePublisher(Protocol):
    def publish(self, events: list[OutboxEvent]) -> list[int]:
        """Publish outbox events; returns the outbox ids the broker acknowledged."""
        ...


class QuestionTimer(Protocol):
    def close_at(self, quiz_id: str, position: int, deadline: datetime) -> None:
        """Arrange for the question to be closed at its deadline even if the host does nothing."""
        ...


class Notifier(Protocol):
    def to_quiz(self, quiz_id: str, frame: Mapping[str, Any]) -> int: ...

    def to_players(self, quiz_id: str, frames: Mapping[str, Mapping[str, Any]]) -> int: ...

    def unsubscribe(self, quiz_id: str, user_id: str) -> None:
        """Stop sending this quiz's frames to every connection of this player."""
        ...
