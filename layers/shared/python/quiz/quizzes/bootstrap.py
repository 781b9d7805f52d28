"""Composition root of the quiz functions: adapters built once per container from the settings."""

from __future__ import annotations

from functools import cache

from quiz import db, redis_client
from quiz.config import settings
from quiz.quizzes.kafka import KafkaScorePublisher
from quiz.quizzes.postgres import PostgresQuizStore
from quiz.quizzes.service import QuizService
from quiz.quizzes.timer import LazyQuestionTimer, SchedulerQuestionTimer
from quiz.realtime.broadcaster import Broadcaster
from quiz.realtime.connections import ConnectionRegistry
from quiz.realtime.delivery import LambdaShards, ManagementApiDelivery


@cache
def broadcaster() -> Broadcaster:
    s = settings()
    # On AWS a large room is sharded across invocations of the fan-out function; the local gateway's
    # batch extension makes that unnecessary there (the adapter only shards without it).
    shards = LambdaShards(s.fanout_function_name) if s.fanout_function_name else None
    delivery = ManagementApiDelivery(s.require_connections_endpoint(), shards=shards, shard_size=s.fanout_shard_size)
    return Broadcaster(ConnectionRegistry(redis_client.client(s.redis_url)), delivery)


@cache
def quiz_service() -> QuizService:
    s = settings()
    return QuizService(
        store=PostgresQuizStore(db.pool(s.database_url), s.scores_topic),
        publisher=KafkaScorePublisher(s.kafka_bootstrap_servers, security_protocol=s.kafka_security_protocol),
        notifier=broadcaster(),
        timer=LazyQuestionTimer(
            lambda: SchedulerQuestionTimer(
                target_arn=s.require("question_clock_arn"), role_arn=s.require("scheduler_role_arn"), precision_s=s.scheduler_precision_s
            )
        ),
    )
