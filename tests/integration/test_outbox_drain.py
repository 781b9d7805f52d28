"""With the broker down, answers are acknowledged without waiting on it; when it is back, the first
successful publish drains what the outbox kept. Real PostgreSQL and Kafka; the notifier and the timer
are the recording fakes of test_quiz_service."""

from __future__ import annotations

import gc
import json
import logging
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator

import psycopg
import pytest

from quiz import db
from quiz.quizzes.adapters.kafka import KafkaScorePublisher
from quiz.quizzes.adapters.postgres import PostgresQuizStore
from quiz.quizzes.service import QuizService
from tests.conftest import read_records
from tests.integration.quiz_support import QUIZ, RecordingNotifier, RecordingTimer, make_user

pytestmark = [
    pytest.mark.integration,
    # kafka-python leaves the sockets of refused connections to the garbage collector (see `nowhere`).
    pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning"),
]

NOWHERE = "127.0.0.1:9"  # nothing listens on the discard port: every bootstrap fails


class ManualClock:
    """The breaker's clock, moved by the test: no assertion depends on how fast the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def nowhere(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[..., KafkaScorePublisher]]:
    """Publishers whose broker never answers."""
    # kafka-python logs each refused connection with its exception, whose traceback holds the socket:
    # a captured record would keep that socket alive past this test.
    caplog.set_level(logging.CRITICAL, logger="kafka")
    made: list[KafkaScorePublisher] = []

    def make(**options: object) -> KafkaScorePublisher:
        made.append(KafkaScorePublisher(NOWHERE, **options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for p in made:
        p.close()
    # kafka-python leaves the sockets of refused connections to the garbage collector: collect them
    # here, where their ResourceWarning is known and harmless, not in whichever test comes next.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture
def topic(new_topic: Callable[[str, int], str]) -> str:
    return new_topic("test.drain", 3)


@pytest.fixture
def store(database_url: str, topic: str) -> PostgresQuizStore:
    return PostgresQuizStore(db.pool(database_url), topic)


@pytest.fixture
def reachable(kafka_bootstrap: str) -> Iterator[KafkaScorePublisher]:
    p = KafkaScorePublisher(kafka_bootstrap)
    yield p
    p.close()


def outbox(database_url: str, topic: str) -> list[tuple[int, str, str, bool]]:
    """(id, quiz id, event id, published) of the topic's rows, oldest first."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT id, key, event_id::text, published_at IS NOT NULL FROM outbox WHERE topic = %s ORDER BY id", (topic,)
        ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def a_quiz_played_while_kafka_is_down(service: QuizService, database_url: str) -> tuple[str, list[int]]:
    """A quiz with three players who all answered question 1; returns its id and their totals."""
    host = make_user(database_url, "Host")
    players = [make_user(database_url, name) for name in ("Ana", "Ben", "Cy")]
    quiz_id = service.create(host, QUIZ)["quiz_id"]
    for p in players:
        service.join(p, quiz_id)
    service.start(host, quiz_id)
    totals = [service.answer(p, quiz_id, 1, i % 2, f"{p.user_id}-1").score for i, p in enumerate(players)]
    return quiz_id, totals


def test_with_kafka_down_answers_are_acknowledged_without_waiting_and_stay_in_the_outbox(
    store: PostgresQuizStore, nowhere: Callable[..., KafkaScorePublisher], database_url: str, topic: str
) -> None:
    clock = ManualClock()
    down = nowhere(clock=clock)
    service = QuizService(store, down, RecordingNotifier(), RecordingTimer())
    quiz_id, totals = a_quiz_played_while_kafka_is_down(service, database_url)

    assert totals == [0, 1000, 0], "every answer is judged and acknowledged with its result"
    # Six publishes (three joins, three answers): the first waited for the broker and failed; the
    # breaker skipped the other five without touching the broker.
    assert (down.failed, down.skipped) == (1, 5), "one publish tried the broker, the rest were skipped"
    rows = outbox(database_url, topic)
    assert len(rows) == 6 and not any(published for *_, published in rows), "every event is kept, none marked"

    clock.now += 2.5  # the breaker's pause is over: the next publish tries the broker again (and fails)
    service.join(make_user(database_url, "Dee"), quiz_id)
    assert (down.failed, down.skipped) == (2, 5)
    assert len(outbox(database_url, topic)) == 7


def test_when_kafka_is_back_one_publish_drains_the_backlog_in_order_and_nothing_twice(
    store: PostgresQuizStore,
    nowhere: Callable[..., KafkaScorePublisher],
    reachable: KafkaScorePublisher,
    database_url: str,
    topic: str,
    kafka_bootstrap: str,
) -> None:
    down = QuizService(store, nowhere(), RecordingNotifier(), RecordingTimer())
    first, _ = a_quiz_played_while_kafka_is_down(down, database_url)
    second, _ = a_quiz_played_while_kafka_is_down(down, database_url)
    backlog = outbox(database_url, topic)
    assert len(backlog) == 12 and not any(published for *_, published in backlog)

    # A container whose broker answers: its first publish (a new player joining) drains the rows.
    back = QuizService(store, reachable, RecordingNotifier(), RecordingTimer(), drain_older_than_s=0)
    back.join(make_user(database_url, "Eve"), first)
    marked = [published for *_, published in outbox(database_url, topic)]
    assert marked == [True] * 12 + [False], "the backlog marked; the join's own row acknowledged, marked later"
    store.mark_published([])  # the container's next transaction marks it
    assert back.relay(older_than_s=0) == 0, "nothing is left for the relay"

    records = read_records(topic, kafka_bootstrap, expected=13)
    event_ids = [dict(r.headers)["event_id"].decode() for r in records]
    assert sorted(event_ids) == sorted(e for _, _, e, _ in outbox(database_url, topic)), "every row once, none twice"
    sent: dict[str, list[str]] = defaultdict(list)  # per quiz (one partition each), in Kafka's order
    for r in records:
        sent[r.key.decode()].append(dict(r.headers)["event_id"].decode())
    for quiz_id in (first, second):
        kept = [e for _, key, e, _ in backlog if key == quiz_id]
        assert [e for e in sent[quiz_id] if e in kept] == kept, "a quiz's backlog reaches Kafka in the order it was written"
    versions = [(json.loads(r.value)["user_id"], json.loads(r.value)["version"]) for r in records if r.key.decode() == first]
    assert len(versions) == len(set(versions)) == 7, "3 joins, 3 answers and Eve's join: no total sent twice"


def test_the_drain_takes_at_most_its_limit_and_the_next_publish_takes_the_rest(
    store: PostgresQuizStore, nowhere: Callable[..., KafkaScorePublisher], reachable: KafkaScorePublisher, database_url: str, topic: str
) -> None:
    down = QuizService(store, nowhere(), RecordingNotifier(), RecordingTimer())
    quiz_id, _ = a_quiz_played_while_kafka_is_down(down, database_url)  # six rows
    back = QuizService(store, reachable, RecordingNotifier(), RecordingTimer(), drain_older_than_s=0, drain_limit=4)
    back.join(make_user(database_url, "Eve"), quiz_id)
    # The oldest four; Eve's row was acknowledged and is left to this container's next transaction.
    assert [published for *_, published in outbox(database_url, topic)] == [True] * 4 + [False, False, False], "the oldest four"
    back.join(make_user(database_url, "Fay"), quiz_id)
    assert [published for *_, published in outbox(database_url, topic)] == [True] * 7 + [False], "the rest, Eve's among them"
