"""Composition root of the WebSocket session functions."""

from __future__ import annotations

from functools import cache

from quiz import redis_client
from quiz.config import settings
from quiz.leaderboard.bootstrap import leaderboard_service
from quiz.quizzes.bootstrap import quiz_service
from quiz.realtime.connections import ConnectionRegistry
from quiz.realtime.delivery import ManagementApiDelivery
from quiz.realtime.fanout import SliceSender
from quiz.realtime.session import QuizSessions


@cache
def sessions() -> QuizSessions:
    return QuizSessions(quiz_service(), leaderboard_service(), ConnectionRegistry(redis_client.client(settings().redis_url)))


@cache
def slice_sender() -> SliceSender:
    """The fan-out function's sender: posts its slice itself (never shards again)."""
    s = settings()
    return SliceSender(ManagementApiDelivery(s.require_connections_endpoint()), ConnectionRegistry(redis_client.client(s.redis_url)))
