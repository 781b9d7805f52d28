"""What the quiz service's integration tests share: a quiz draft, users in the test database, and
recording fakes of the notifier and timer ports (not a test module, so importing it runs no tests)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import psycopg

from quiz.auth import Principal, Role


class RecordingNotifier:
    def __init__(self) -> None:
        self.to_all: list[dict[str, Any]] = []
        self.personal: list[dict[str, Mapping[str, Any]]] = []
        self.unsubscribed: list[str] = []

    def to_quiz(self, quiz_id: str, frame: Mapping[str, Any]) -> int:
        self.to_all.append(dict(frame))
        return 1

    def to_players(self, quiz_id: str, frames: Mapping[str, Mapping[str, Any]]) -> int:
        self.personal.append(dict(frames))
        return len(frames)

    def unsubscribe(self, quiz_id: str, user_id: str) -> None:
        self.unsubscribed.append(user_id)


class RecordingTimer:
    def __init__(self) -> None:
        self.scheduled: list[tuple[str, int, datetime]] = []

    def close_at(self, quiz_id: str, position: int, deadline: datetime) -> None:
        self.scheduled.append((quiz_id, position, deadline))


def make_user(database_url: str, name: str) -> Principal:
    user_id = uuid.uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO users (id, username, display_name, password_hash) VALUES (%s, %s, %s, 'x')",
            (user_id, f"{name}-{user_id.hex[:8]}", name),
        )
    return Principal(user_id=user_id, display_name=name, role=Role.PLAYER)


QUIZ = {
    "title": "Adjectives, week 3",
    "streak_bonus": 50,
    "questions": [
        {
            "kind": "multiple_choice",
            "prompt": "A synonym of 'happy'?",
            "choices": ["glum", "joyful", "tired"],
            "correct_choice": 1,
            "time_limit_ms": 30000,
            "points": 1000,
        },
        {
            "kind": "typed",
            "prompt": "Opposite of 'ancient'?",
            "accepted_answers": ["modern", "new"],
            "typo_tolerance": 1,
            "time_limit_ms": 30000,
            "points": 500,
        },
        {
            "kind": "multiple_choice",
            "prompt": "'Brief' means?",
            "choices": ["short", "long"],
            "correct_choice": 0,
            "time_limit_ms": 5000,
            "points": 1000,
        },
    ],
}
