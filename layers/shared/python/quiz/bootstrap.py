"""The layer's one composition root: every service and client, built once per container, on first use,
from the one settings object. Handlers call these functions; nothing else builds an adapter.

Nothing is built at import time, so importing never needs the network, and a function only builds what
its own path uses (a WebSocket join never loads the Kafka client or boto3). Tests that change the
environment call `reset()`.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from quiz import db
from quiz import redis_client as shared_redis
from quiz.config import settings

if TYPE_CHECKING:
    import redis
    from psycopg_pool import ConnectionPool

    from quiz.auth.authorizer import ConnectAuthorizer
    from quiz.auth.services import Authenticator, AuthService
    from quiz.auth.tokens import TokenService
    from quiz.leaderboard.service import LeaderboardService
    from quiz.quizzes.reporting import ReportService
    from quiz.quizzes.service import QuizService
    from quiz.realtime.adapters.redis_registry import RedisQuizConnections
    from quiz.realtime.broadcaster import Broadcaster
    from quiz.realtime.fanout import SliceSender
    from quiz.realtime.session import QuizSessions

# Each builder imports its own adapters: a function loads only what its path builds (the User service and
# the $connect authorizer, cold-started on every new connection, never load the quiz's or the pushes').


# ------------------------------------------------------------------ clients


def pool() -> ConnectionPool:
    """The container's one PostgreSQL pool (shared with every adapter through `quiz.db`)."""
    return db.pool(settings().database_url)


@cache
def redis_client() -> redis.Redis:
    """The container's Redis client, with the layer's short timeouts and single retry (`quiz.redis_client`)."""
    return shared_redis.client(settings().redis_url)


@cache
def connections() -> RedisQuizConnections:
    from quiz.realtime.adapters.redis_registry import RedisQuizConnections

    return RedisQuizConnections(redis_client())


# ------------------------------------------------------------------ User service


@cache
def token_service() -> TokenService:
    from quiz.auth.tokens import TokenService

    return TokenService(settings().jwt)


@cache
def authenticator() -> Authenticator:
    from quiz.auth.adapters.redis_store import RedisRevokedSessions
    from quiz.auth.services import Authenticator

    return Authenticator(token_service(), RedisRevokedSessions(redis_client()))


@cache
def auth_service() -> AuthService:
    from quiz.auth.adapters.postgres import PostgresSessionStore, PostgresUserRepository
    from quiz.auth.adapters.redis_store import RedisLoginThrottle, RedisRevokedSessions
    from quiz.auth.passwords import Argon2idHasher
    from quiz.auth.services import AuthService

    settings().jwt.require_signing_key()  # the User service issues tokens: fail now, not on the first login
    return AuthService(
        users=PostgresUserRepository(pool()),
        sessions=PostgresSessionStore(pool()),
        revoked=RedisRevokedSessions(redis_client()),
        throttle=RedisLoginThrottle(redis_client(), settings().login_limits),
        hasher=Argon2idHasher(),
        tokens=token_service(),
    )


@cache
def connect_authorizer() -> ConnectAuthorizer:
    from quiz.auth.adapters.postgres import PostgresUserRepository
    from quiz.auth.authorizer import ConnectAuthorizer

    return ConnectAuthorizer(authenticator().principal, PostgresUserRepository(pool()).by_id)


# ------------------------------------------------------------------ pushing frames


@cache
def broadcaster() -> Broadcaster:
    """The one `Notifier` of the container, shared by the quiz service and the leaderboard."""
    from quiz.realtime.adapters.management_api import LambdaShards, ManagementApiDelivery
    from quiz.realtime.broadcaster import Broadcaster

    s = settings()
    # On AWS a large tick is sharded across invocations of the fan-out function; against the local
    # gateway the adapter sends the same share asynchronously through its batch extension instead.
    shards = LambdaShards(s.fanout_function_name) if s.fanout_function_name else None
    delivery = ManagementApiDelivery(s.require_connections_endpoint(), shards=shards, shard_size=s.fanout_shard_size)
    return Broadcaster(connections(), delivery)


@cache
def slice_sender() -> SliceSender:
    """The fan-out function's sender: posts its slice itself (never shards again)."""
    from quiz.realtime.adapters.management_api import ManagementApiDelivery
    from quiz.realtime.fanout import SliceSender

    return SliceSender(ManagementApiDelivery(settings().require_connections_endpoint()), connections())


# ------------------------------------------------------------------ quizzes, leaderboard, sessions


@cache
def quiz_service() -> QuizService:
    from quiz.quizzes.adapters.kafka import KafkaScorePublisher
    from quiz.quizzes.adapters.postgres import PostgresQuizStore
    from quiz.quizzes.adapters.scheduler import LazyQuestionTimer, SchedulerQuestionTimer
    from quiz.quizzes.service import QuizService

    s = settings()
    return QuizService(
        store=PostgresQuizStore(pool(), s.scores_topic),
        publisher=KafkaScorePublisher(s.kafka_bootstrap_servers, security_protocol=s.kafka_security_protocol),
        notifier=broadcaster(),
        timer=LazyQuestionTimer(
            lambda: SchedulerQuestionTimer(
                target_arn=s.require("question_clock_arn"), role_arn=s.require("scheduler_role_arn"), precision_s=s.scheduler_precision_s
            )
        ),
    )


@cache
def report_service() -> ReportService:
    """Reports, a learner's results and play-again: PostgreSQL only (no broker, no pushes)."""
    from quiz.leaderboard.domain import rank_key
    from quiz.quizzes.adapters.postgres import PostgresQuizStore
    from quiz.quizzes.adapters.postgres_report import PostgresReportReader
    from quiz.quizzes.reporting import ReportService

    return ReportService(PostgresReportReader(pool()), PostgresQuizStore(pool(), settings().scores_topic), rank_key=rank_key)


@cache
def leaderboard_service() -> LeaderboardService:
    from quiz.leaderboard.adapters.kafka_ticker import KafkaTicker
    from quiz.leaderboard.adapters.postgres import PostgresStandings
    from quiz.leaderboard.adapters.redis_store import RedisLeaderboard
    from quiz.leaderboard.service import LeaderboardService, Pacing

    s = settings()
    return LeaderboardService(
        RedisLeaderboard(redis_client()),
        PostgresStandings(pool()),
        broadcaster(),
        ticker=KafkaTicker(s.kafka_bootstrap_servers, s.scores_topic, security_protocol=s.kafka_security_protocol),
        pacing=Pacing(s.leaderboard_min_interval_ms, s.leaderboard_fanout_frames_per_s, s.leaderboard_max_wait_ms),
    )


@cache
def sessions() -> QuizSessions:
    from quiz.realtime.session import QuizSessions

    return QuizSessions(quiz_service(), leaderboard_service(), connections())


def reset() -> None:
    """Forget every client, service and the settings (tests that change the environment call this)."""
    db.close_all()
    for built in (
        redis_client,
        connections,
        token_service,
        authenticator,
        auth_service,
        connect_authorizer,
        broadcaster,
        slice_sender,
        quiz_service,
        report_service,
        leaderboard_service,
        sessions,
        settings,
    ):
        built.cache_clear()
