"""Trace context from the answer to the leaderboard push, over the real PostgreSQL, Kafka and Redis.

The answer runs in a traced handler (as functions/answers does), so its span is active when the outbox
row is written; the record read back from the real topic carries the traceparent of its producer span,
in that trace; the batch the event source mapping would build from it (the emulator's own record
encoding) runs in a traced leaderboard handler whose span links to the producer span (and, the batch's
only trace, has it as parent), and the push happens inside that span.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from local.emulator.kafka_esm import KafkaRecord, event_record
from quiz import db
from quiz.leaderboard.adapters.postgres import PostgresStandings
from quiz.leaderboard.adapters.redis_store import RedisLeaderboard
from quiz.leaderboard.domain import QuizPush
from quiz.leaderboard.kafka_event import score_events
from quiz.leaderboard.service import LeaderboardService
from quiz.observability import traced_handler
from quiz.quizzes.adapters.kafka import KafkaScorePublisher
from quiz.quizzes.adapters.postgres import PostgresQuizStore
from quiz.quizzes.service import QuizService
from tests.conftest import read_records
from tests.integration.quiz_support import QUIZ, RecordingNotifier, RecordingTimer, make_user

pytestmark = pytest.mark.integration


class Context:
    aws_request_id = "test-request"


class PushInsideSpan:
    """The notifier port: remembers which span was current when each frame was pushed."""

    def __init__(self) -> None:
        self.pushed_in: list[trace.SpanContext] = []

    def deliver(self, pushes: Sequence[QuizPush]) -> dict[str, int]:
        self.pushed_in.append(trace.get_current_span().get_span_context())
        return {push.quiz_id: 1 for push in pushes}


@pytest.fixture
def topic(new_topic: Callable[[str, int], str]) -> str:
    return new_topic("test.traces", 1)


def test_the_answer_span_travels_in_kafka_headers_and_the_leaderboard_batch_links_to_it(
    database_url: str, redis_url: str, kafka_bootstrap: str, topic: str
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    publisher = KafkaScorePublisher(kafka_bootstrap)
    try:
        quizzes = QuizService(PostgresQuizStore(db.pool(database_url), topic), publisher, RecordingNotifier(), RecordingTimer())
        host, ana = make_user(database_url, "Host"), make_user(database_url, "Ana")
        quiz_id = quizzes.create(host, QUIZ)["quiz_id"]
        quizzes.join(ana, quiz_id)  # outside any span: its record carries no trace context
        quizzes.start(host, quiz_id)
        answer = traced_handler("AnswersFunction", provider=provider)(lambda event, context: quizzes.answer(ana, quiz_id, 1, 1, "ana-1"))
        assert answer({"routeKey": "POST /quizzes/{quiz_id}/answers"}, Context()).correct
    finally:
        publisher.close()
    (answer_span,) = exporter.get_finished_spans()
    exporter.clear()

    consumed = read_records(topic, kafka_bootstrap, expected=2)
    by_reason = {json.loads(r.value)["reason"]: r for r in consumed}
    assert set(by_reason) == {"joined", "answer"}
    answer_headers = dict(by_reason["answer"].headers)
    version, trace_id, span_id, flags = answer_headers["traceparent"].decode().split("-")
    # The record carries its producer span (`<topic> publish`, a descendant of the answer's span through the
    # answer transaction): the same trace, a span of its own.
    assert trace_id == f"{answer_span.context.trace_id:032x}", "the answer's trace"
    assert span_id != f"{answer_span.context.span_id:016x}", "the producer's span, not the answer's"
    producer = (int(trace_id, 16), int(span_id, 16))
    assert version == "00" and int(flags, 16) & 1, "W3C trace context, sampled"
    assert "traceparent" not in dict(by_reason["joined"].headers)

    # the batch exactly as the event source mapping hands it to the function
    records = [event_record(KafkaRecord.from_consumer_record(r)) for r in consumed]
    event = {"eventSource": "SelfManagedKafka", "bootstrapServers": kafka_bootstrap, "records": {f"{topic}-0": records}}
    push = PushInsideSpan()
    board = LeaderboardService(RedisLeaderboard(redis.Redis.from_url(redis_url)), PostgresStandings(db.pool(database_url)), push)
    leaderboard = traced_handler("LeaderboardFunction", provider=provider)(
        lambda event, context: board.apply_batch(list(score_events(event)))  # functions/leaderboard/app.py's handler
    )
    outcome = leaderboard(event, Context())
    assert outcome.frames >= 1

    (batch_span,) = exporter.get_finished_spans()
    assert [(link.context.trace_id, link.context.span_id) for link in batch_span.links] == [producer]
    # Every traced record of the batch is of one trace: the batch continues it, with the producer as parent.
    assert batch_span.parent is not None and (batch_span.parent.trace_id, batch_span.parent.span_id) == producer
    assert push.pushed_in and all(ctx == batch_span.context for ctx in push.pushed_in), "the push happens inside the batch span"
