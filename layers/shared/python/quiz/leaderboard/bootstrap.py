"""Composition root of the leaderboard: adapters built once per container."""

from __future__ import annotations

from functools import cache

from quiz import db, redis_client
from quiz.config import settings
from quiz.leaderboard.kafka_ticker import KafkaTicker
from quiz.leaderboard.postgres import PostgresStandings
from quiz.leaderboard.redis_store import RedisLeaderboard
from quiz.leaderboard.service import LeaderboardService, Pacing
from quiz.quizzes.bootstrap import broadcaster


@cache
def leaderboard_service() -> LeaderboardService:
    s = settings()
    return LeaderboardService(
        RedisLeaderboard(redis_client.client(s.redis_url)),
        PostgresStandings(db.pool(s.database_url)),
        broadcaster(),
        ticker=KafkaTicker(s.kafka_bootstrap_servers, s.scores_topic, security_protocol=s.kafka_security_protocol),
        pacing=Pacing(s.leaderboard_min_interval_ms, s.leaderboard_fanout_frames_per_s, s.leaderboard_max_wait_ms),
    )
