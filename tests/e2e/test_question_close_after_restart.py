"""A question left open when the emulator stopped closes as soon as it is back: the product's own
template, its question clock scheduled through the emulator's EventBridge Scheduler, real PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from clients.quiz_client import QuizClient
from local.devkeys import dev_env
from local.stack import REPO
from tests.emulator.harness import start_emulator
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

QUIZ = {
    "title": "Restart",
    "questions": [
        {"kind": "multiple_choice", "prompt": "?", "choices": ["a", "b"], "correct_choice": 0, "time_limit_ms": 5000, "points": 100}
    ],
}


def question_1(database_url: str, quiz_id: str) -> tuple[Any, Any]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT deadline, closed_at FROM questions WHERE quiz_id = %s AND position = 1", (quiz_id,)).fetchone()
    assert row is not None
    return row[0], row[1]


def test_a_question_open_when_the_emulator_stopped_closes_at_its_restart(
    tmp_path: Path, database_url: str, redis_url: str, new_topic: Callable[[str, int], str]
) -> None:
    keys = dev_env(tmp_path)
    options: dict[str, Any] = {
        "template": REPO / "template.yaml",
        "schedule_store": tmp_path / "schedules.json",
        "parameter_overrides": {
            "ScoresTopic": new_topic("test.restart", 1),
            "JwtPrivateKey": keys["JWT_PRIVATE_KEY"],
            "JwtPublicKeys": keys["JWT_PUBLIC_KEYS"],
            "SchedulerPrecisionSeconds": "0",
        },
        "env_overrides": {"Parameters": {"STAGE": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url}},
    }
    with start_emulator(tmp_path, **options) as emu:
        host = QuizClient(emu.url)
        host.signup(f"h{uuid.uuid4().hex[:12]}", "correct horse battery staple", "Host")
        quiz_id = host.create_quiz(QUIZ)["quiz_id"]
        host.host(quiz_id, "start")
        host.close()
    deadline, closed_at = question_1(database_url, quiz_id)
    assert closed_at is None, "the emulator stopped before the deadline"
    time.sleep(max(0.0, deadline.timestamp() - time.time()) + 1.0)
    assert question_1(database_url, quiz_id)[1] is None, "nothing closed it while the emulator was down"

    with start_emulator(tmp_path, **options):
        back = time.time()
        eventually(
            lambda: question_1(database_url, quiz_id)[1] is not None,
            15,
            "the question clock's schedule to fire after the restart and close the question",
        )
        closed_seen = time.time()
    print(
        f"\nquestion closed {closed_seen - back:.3f} s after the emulator was back ({closed_seen - deadline.timestamp():.1f} s after its deadline)"
    )
