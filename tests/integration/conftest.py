"""Fixtures shared by the integration tests: a Redis client on the test db, and the leaderboard's world
(the real quiz service and leaderboard over PostgreSQL and Redis, with recording fakes at the other ports)."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from quiz import db
from quiz.leaderboard.adapters.postgres import PostgresStandings
from quiz.leaderboard.adapters.redis_store import RedisLeaderboard
from quiz.leaderboard.service import LeaderboardService, Pacing
from quiz.quizzes.adapters.postgres import PostgresQuizStore
from quiz.quizzes.service import QuizService
from tests.integration.leaderboard_support import CapturingPublisher, RecordingPush, RecordingSleep, RecordingTicker
from tests.integration.quiz_support import RecordingNotifier, RecordingTimer


@pytest.fixture
def redis_conn(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def world(database_url: str, redis_conn: redis.Redis) -> dict[str, Any]:
    captured = CapturingPublisher()
    quizzes = QuizService(PostgresQuizStore(db.pool(database_url), "quiz.scores"), captured, RecordingNotifier(), RecordingTimer())
    push = RecordingPush()
    sleep = RecordingSleep()
    ticker = RecordingTicker()
    board = LeaderboardService(
        RedisLeaderboard(redis_conn),
        PostgresStandings(db.pool(database_url)),
        push,
        ticker=ticker,
        top_n=3,
        pacing=Pacing(100, 50_000, max_wait_ms=100),
        sleep=sleep,
    )
    return {"quizzes": quizzes, "captured": captured, "push": push, "board": board, "sleep": sleep, "ticker": ticker}
