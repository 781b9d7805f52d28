"""A whole quiz through the quiz service over the real PostgreSQL and Kafka.

The notifier and the timer are recording fakes at their ports (the real WebSocket push and the
real scheduler are covered end to end through the emulator); everything else is real.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from quiz import db
from quiz.auth import Principal
from quiz.errors import QuizError
from quiz.quizzes.adapters.kafka import KafkaScorePublisher
from quiz.quizzes.adapters.postgres import PostgresQuizStore
from quiz.quizzes.domain import AnswerResult
from quiz.quizzes.outbox import OutboxEvent
from quiz.quizzes.service import QuizService
from tests.conftest import read_records
from tests.integration.quiz_support import QUIZ, RecordingNotifier, RecordingTimer, make_user

pytestmark = pytest.mark.integration


class CrashingPublisher:
    """The process dies between the commit and the publish."""

    def publish(self, events: list[OutboxEvent]) -> list[int]:
        raise ConnectionError("simulated crash before the publish")


@pytest.fixture
def topic(new_topic: Callable[[str, int], str]) -> str:
    return new_topic("test.scores", 3)


@pytest.fixture
def store(database_url: str, topic: str) -> PostgresQuizStore:
    return PostgresQuizStore(db.pool(database_url), topic)


@pytest.fixture
def publisher(kafka_bootstrap: str) -> Iterator[KafkaScorePublisher]:
    p = KafkaScorePublisher(kafka_bootstrap)
    yield p
    p.close()


def events_on(topic: str, bootstrap: str, expected: int, timeout_s: float = 20) -> list[tuple[bytes, dict[str, Any], dict[str, bytes]]]:
    return [(r.key, json.loads(r.value), dict(r.headers)) for r in read_records(topic, bootstrap, expected, timeout_s)]


def code_of(exc: pytest.ExceptionInfo[QuizError]) -> tuple[int, str]:
    return exc.value.status, exc.value.code


def started_quiz(service: QuizService, database_url: str, quiz: dict[str, Any] = QUIZ) -> tuple[str, Principal, Principal]:
    """A host's quiz with one player (Ana) in it, question 1 open."""
    host, ana = make_user(database_url, "Host"), make_user(database_url, "Ana")
    quiz_id = service.create(host, quiz)["quiz_id"]
    service.join(ana, quiz_id)
    service.start(host, quiz_id)
    return quiz_id, host, ana


def test_a_whole_quiz_with_several_players(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str, topic: str, kafka_bootstrap: str
) -> None:
    notifier, timer = RecordingNotifier(), RecordingTimer()
    service = QuizService(store, publisher, notifier, timer)
    host, ana, ben, cy, stranger = (make_user(database_url, n) for n in ("Host", "Ana", "Ben", "Cy", "Stranger"))

    created = service.create(host, QUIZ)
    quiz_id = created["quiz_id"]
    assert created["questions"][0]["correct_choice"] == 1, "the host sees the answers"

    # players see no question before it opens, and never an answer while it is open
    for p in (ana, ben, cy):
        joined = service.join(p, quiz_id.lower())  # PINs are typed in any case
        assert joined["joined"] and joined["quiz"]["questions"] == []
    assert service.join(ana, quiz_id)["joined"] is False, "joining twice keeps the same seat"
    with pytest.raises(QuizError) as err:
        service.join(host, quiz_id)
    assert code_of(err) == (409, "host_cannot_play")
    listed = service.list_hosted(host)
    assert [q["quiz_id"] for q in listed] == [quiz_id] and listed[0]["player_count"] == 3
    assert "T" in listed[0]["created_at"], "ISO 8601 like every other timestamp"

    with pytest.raises(QuizError) as err:
        service.answer(ana, quiz_id, 1, 1, "k-early")
    assert code_of(err) == (409, "question_not_open")
    with pytest.raises(QuizError) as err:
        service.next(ana, quiz_id)
    assert code_of(err) == (403, "not_quiz_host")

    service.start(host, quiz_id)
    opened = notifier.to_all[-1]
    assert opened["type"] == "question_opened" and opened["question"]["question_id"] == 1
    assert "correct_choice" not in opened["question"] and opened["remaining_ms"] > 25_000
    assert timer.scheduled[-1][:2] == (quiz_id, 1)
    view = service.get(ben, quiz_id)
    assert "correct_choice" not in view["questions"][0] and view["current_question_open"]

    right = service.answer(ana, quiz_id, 1, 1, "ana-1")
    assert right.correct and 900 < right.points <= 1000 and right.score == right.points
    assert service.answer(ana, quiz_id, 1, 1, "ana-1") == type(right)(**{**right.__dict__, "replayed": True}), "same key, same result"
    with pytest.raises(QuizError) as err:
        service.answer(ana, quiz_id, 1, 0, "ana-1b")
    assert code_of(err) == (409, "already_answered")
    with pytest.raises(QuizError) as err:
        service.answer(ana, quiz_id, 1, 0, "ana-1")
    assert code_of(err) == (422, "idempotency_key_reused")
    wrong = service.answer(ben, quiz_id, 1, 2, "ben-1")
    assert (wrong.correct, wrong.points, wrong.score) == (False, 0, 0)
    with pytest.raises(QuizError) as err:
        service.answer(stranger, quiz_id, 1, 1, "s-1")
    assert code_of(err) == (403, "not_a_participant")
    with pytest.raises(QuizError) as err:
        service.answer(cy, quiz_id, 9, 1, "cy-9")
    assert code_of(err) == (404, "unknown_question")
    with pytest.raises(QuizError) as err:
        service.answer(cy, quiz_id, 1, 7, "cy-bad")
    assert code_of(err) == (400, "validation_failed")

    service.next(host, quiz_id)  # closes question 1 early, opens question 2
    closed = notifier.personal[-1]
    assert closed[str(ana.user_id)]["your_result"] == {"answered": True, "correct": True, "points": right.points, "score": right.score}
    assert closed[str(cy.user_id)]["your_result"] == {"answered": False, "correct": False, "points": 0, "score": 0}
    assert closed[str(cy.user_id)]["correct_answer"] == "joyful"
    with pytest.raises(QuizError) as err:
        service.answer(cy, quiz_id, 1, 1, "cy-late")
    assert code_of(err) == (409, "question_closed")

    typed_ana = service.answer(ana, quiz_id, 2, "  MODERN! ", "ana-2")
    typed_ben = service.answer(ben, quiz_id, 2, "moden", "ben-2")  # one typo
    typed_cy = service.answer(cy, quiz_id, 2, "old", "cy-2")
    assert (typed_ana.correct, typed_ben.correct, typed_cy.correct) == (True, True, False)
    assert typed_ana.streak == 2 and typed_ana.points > 500, "second correct in a row earns the streak bonus"
    assert typed_ben.streak == 1 and typed_ben.points <= 500

    service.next(host, quiz_id)  # question 3: 5 seconds; nobody answers in time
    deadline = timer.scheduled[-1][2]
    time.sleep(max(0.0, (deadline - store.now()).total_seconds()) + 0.2)
    with pytest.raises(QuizError) as err:
        service.answer(cy, quiz_id, 3, 0, "cy-3")
    assert code_of(err) == (409, "question_closed"), "the deadline holds on the server's clock even before the timer fires"
    assert service.close_due(quiz_id, 3) is True
    assert service.close_due(quiz_id, 3) is False, "the timer firing twice closes once"
    assert notifier.personal[-1][str(cy.user_id)]["type"] == "question_closed"

    with pytest.raises(QuizError) as err:
        service.next(host, quiz_id)
    assert code_of(err) == (409, "no_more_questions")
    ended = service.end(host, quiz_id)
    final = notifier.to_all[-1]
    assert final["type"] == "quiz_ended" and final["standings"] == ended["standings"]
    assert [row["user_id"] for row in final["standings"]] == [str(ana.user_id), str(ben.user_id), str(cy.user_id)]
    assert final["standings"][0]["score"] == typed_ana.score

    # every change is on the real topic: 3 joins + 5 answers, keyed by quiz id, absolute totals, versions,
    # and a marker for each of the 3 closes
    records = events_on(topic, kafka_bootstrap, expected=11)
    assert len(records) == 11
    assert {key for key, _, _ in records} == {quiz_id.encode()}
    events = [r for r in records if r[1]["type"] == "score"]
    assert [e["question_id"] for _, e, _ in records if e["type"] == "question_closed"] == [1, 2, 3]
    ana_events = [e for _, e, _ in events if e["user_id"] == str(ana.user_id)]
    assert [(e["reason"], e["version"], e["score"]) for e in ana_events] == [
        ("joined", 0, 0),
        ("answer", 1, right.score),
        ("answer", 2, typed_ana.score),
    ]
    assert all(h.get("event_id") == e["event_id"].encode() for _, e, h in records)
    with psycopg.connect(database_url) as conn:
        pending = conn.execute("SELECT count(*) FROM outbox WHERE key = %s AND published_at IS NULL", (quiz_id,)).fetchone()
    assert pending == (0,)


def test_a_crash_between_commit_and_publish_is_healed_by_the_relay(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str, topic: str, kafka_bootstrap: str
) -> None:
    host, ana = make_user(database_url, "Host"), make_user(database_url, "Ana")
    healthy = QuizService(store, publisher, RecordingNotifier(), RecordingTimer())
    crashing = QuizService(store, CrashingPublisher(), RecordingNotifier(), RecordingTimer())
    quiz_id = healthy.create(host, QUIZ)["quiz_id"]
    healthy.join(ana, quiz_id)
    healthy.start(host, quiz_id)

    result = crashing.answer(ana, quiz_id, 1, 1, "ana-1")  # committed; the publish "crashed"
    assert result.correct, "the player still gets their result: the answer is committed"
    assert [e["reason"] for _, e, _ in events_on(topic, kafka_bootstrap, expected=2, timeout_s=3)] == ["joined"]

    assert healthy.relay(older_than_s=0) >= 1
    assert healthy.relay(older_than_s=0) == 0, "a second relay run finds nothing left to publish"
    events = [e for _, e, _ in events_on(topic, kafka_bootstrap, expected=2)]
    answers = [e for e in events if e["reason"] == "answer"]
    assert len(answers) == 1 and answers[0]["score"] == result.score and answers[0]["version"] == 1
    # a retry of the same request after the crash returns the stored result and publishes nothing new
    assert healthy.answer(ana, quiz_id, 1, 1, "ana-1").score == result.score
    assert len([e for _, e, _ in events_on(topic, kafka_bootstrap, expected=3, timeout_s=3) if e["reason"] == "answer"]) == 1


def test_locked_quizzes_refuse_new_players_and_removed_players_cannot_return(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str
) -> None:
    notifier = RecordingNotifier()
    service = QuizService(store, publisher, notifier, RecordingTimer())
    host, ana, ben = (make_user(database_url, n) for n in ("Host", "Ana", "Ben"))
    quiz_id = service.create(host, QUIZ)["quiz_id"]
    service.join(ana, quiz_id)
    service.start(host, quiz_id)
    service.set_locked(host, quiz_id, True)
    with pytest.raises(QuizError) as err:
        service.join(ben, quiz_id)
    assert code_of(err) == (409, "quiz_locked")
    assert service.join(ana, quiz_id)["joined"] is False, "a player already in can always come back"
    service.set_locked(host, quiz_id, False)
    assert service.join(ben, quiz_id)["joined"], "joining after the start is allowed unless locked"

    service.remove(host, quiz_id, str(ben.user_id))
    assert notifier.personal[-1] == {str(ben.user_id): {"type": "removed", "quiz_id": quiz_id}}
    assert notifier.unsubscribed == [str(ben.user_id)], "a removed player's connections stop getting the quiz's frames"
    with pytest.raises(QuizError) as err:
        service.join(ben, quiz_id)
    assert code_of(err) == (403, "removed_from_quiz")
    with pytest.raises(QuizError) as err:
        service.answer(ben, quiz_id, 1, 1, "ben-1")
    assert code_of(err) == (403, "not_a_participant")
    assert [p["user_id"] for p in service.players(host, quiz_id)] == [str(ana.user_id)]
    service.next(host, quiz_id)  # the close of question 1 goes to the players still in, and the host
    assert set(notifier.personal[-1]) == {str(ana.user_id), str(host.user_id)}
    assert notifier.personal[-1][str(ana.user_id)]["your_result"] == {"answered": False, "correct": False, "points": 0, "score": 0}

    with pytest.raises(QuizError) as err:
        service.update(host, quiz_id, QUIZ)
    assert code_of(err) == (409, "conflict"), "a started quiz can no longer be edited"


def test_concurrent_retries_with_one_key_count_once_and_all_get_the_result(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    service = QuizService(store, publisher, RecordingNotifier(), RecordingTimer())
    quiz_id, _host, ana = started_quiz(service, database_url)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: service.answer(ana, quiz_id, 1, 1, "same-key"), range(4)))
    assert len({(r.points, r.score) for r in results}) == 1, "every retry sees the one stored result"
    assert sum(not r.replayed for r in results) == 1
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT count(*) FROM answers WHERE quiz_id = %s", (quiz_id,)).fetchone()
        total = conn.execute("SELECT total FROM participants WHERE quiz_id = %s AND user_id = %s", (quiz_id, ana.user_id)).fetchone()
    assert rows == (1,) and total == (results[0].score,)


def test_concurrent_joins_of_one_player_share_one_seat(store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    service = QuizService(store, publisher, RecordingNotifier(), RecordingTimer())
    host, ana = make_user(database_url, "Host"), make_user(database_url, "Ana")
    quiz_id = service.create(host, QUIZ)["quiz_id"]
    with ThreadPoolExecutor(4) as pool:
        joined = list(pool.map(lambda _: service.join(ana, quiz_id)["joined"], range(8)))
    assert joined.count(True) == 1
    assert [p["user_id"] for p in service.players(host, quiz_id)] == [str(ana.user_id)]


def test_an_answer_racing_the_close_of_its_question_is_refused(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str
) -> None:
    import threading

    service = QuizService(store, publisher, RecordingNotifier(), RecordingTimer())
    quiz_id, _host, ana = started_quiz(service, database_url)
    outcome: list[object] = []
    with psycopg.connect(database_url) as closer:
        # the host's `next` has closed question 1 but not committed yet
        closer.execute("UPDATE questions SET closed_at = clock_timestamp() WHERE quiz_id = %s AND position = 1", (quiz_id,))

        def answer() -> None:
            try:
                outcome.append(service.answer(ana, quiz_id, 1, 1, "racing"))
            except QuizError as exc:
                outcome.append(exc.code)

        racer = threading.Thread(target=answer)
        racer.start()
        racer.join(timeout=1.5)
        assert racer.is_alive(), "the answer waits for the close to commit or roll back"
        closer.commit()
    racer.join(timeout=10)
    assert outcome == ["question_closed"]


def test_the_clock_waits_for_the_deadline_when_it_fires_early(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str
) -> None:
    from quiz.quizzes.service import DeadlineNotReached

    notifier = RecordingNotifier()
    service = QuizService(store, publisher, notifier, RecordingTimer())
    host, ana = make_user(database_url, "Host"), make_user(database_url, "Ana")
    quiz = {**QUIZ, "questions": [QUIZ["questions"][2]]}  # one 5-second question
    quiz_id = service.create(host, quiz)["quiz_id"]
    service.join(ana, quiz_id)
    service.start(host, quiz_id)
    with pytest.raises(DeadlineNotReached):
        service.close_due(quiz_id, 1, max_wait_s=0)  # fired too early to wait: the scheduler retries
    assert service.answer(ana, quiz_id, 1, 0, "in-time").correct, "still open"
    assert service.close_due(quiz_id, 1, max_wait_s=30) is True
    assert store.seconds_to_deadline(quiz_id, 1) is None, "closed"
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT closed_at >= deadline, closed_at = deadline FROM questions WHERE quiz_id = %s", (quiz_id,)).fetchone()
    assert row == (True, True), "closed at its deadline, not before"
    assert notifier.personal[-1][str(ana.user_id)]["type"] == "question_closed"
    assert service.close_due(quiz_id, 1, max_wait_s=30) is False, "a late duplicate run does nothing"


def test_a_retried_next_moves_once(store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str) -> None:
    notifier = RecordingNotifier()
    service = QuizService(store, publisher, notifier, RecordingTimer())
    quiz_id, host, _ana = started_quiz(service, database_url)
    assert service.next(host, quiz_id, from_question_id=1)["current_question_id"] == 2
    pushes = len(notifier.to_all)
    assert service.next(host, quiz_id, from_question_id=1)["current_question_id"] == 2, "the retry changes nothing"
    assert len(notifier.to_all) == pushes, "and pushes nothing"
    assert service.next(host, quiz_id, from_question_id=2)["current_question_id"] == 3
    with pytest.raises(QuizError) as err:
        service.next(host, quiz_id, from_question_id="2")
    assert code_of(err) == (400, "bad_request")


# ---------------------------------------------------------------------------- fair time (issue 9)

ONE_QUESTION = {**QUIZ, "streak_bonus": 0, "questions": [{**QUIZ["questions"][0], "time_limit_ms": 30000}]}


def _question_times(database_url: str, quiz_id: str, position: int = 1) -> tuple[datetime, datetime, datetime | None]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT opened_at, deadline, closed_at FROM questions WHERE quiz_id = %s AND position = %s", (quiz_id, position)
        ).fetchone()
    assert row
    return row


def _stored(database_url: str, quiz_id: str, user: Principal) -> tuple[Any, ...] | None:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT a.points, a.elapsed_ms, a.answered_at, p.total, p.reached_at FROM answers a"
            " JOIN participants p USING (quiz_id, user_id) WHERE a.quiz_id = %s AND a.user_id = %s",
            (quiz_id, user.user_id),
        ).fetchone()


def test_an_answer_received_before_the_deadline_but_processed_after_it_counts_on_its_request_time(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str
) -> None:
    notifier = RecordingNotifier()
    service = QuizService(store, publisher, notifier, RecordingTimer())
    quiz_id, _host, ana = started_quiz(service, database_url, ONE_QUESTION)
    ben = make_user(database_url, "Ben")
    service.join(ben, quiz_id)
    with psycopg.connect(database_url) as conn:  # the question opened 40 s ago: its 30 s are over
        conn.execute(
            "UPDATE questions SET opened_at = clock_timestamp() - interval '40 s', deadline = clock_timestamp() - interval '10 s'"
            " WHERE quiz_id = %s",
            (quiz_id,),
        )
    opened_at, deadline, _ = _question_times(database_url, quiz_id)

    # Ana's answer reached the API 5 s into the question and waited for a worker until after the deadline.
    result = service.answer(ana, quiz_id, 1, 1, "ana-1", received_at=opened_at + timedelta(seconds=5))
    assert (result.correct, result.elapsed_ms, result.points) == (True, 5000, 917), "round(1000 × (1 − 5/30/2))"
    assert _stored(database_url, quiz_id, ana) == (917, 5000, opened_at + timedelta(seconds=5), 917, opened_at + timedelta(seconds=5))
    assert notifier.personal == [], "the question is not closed yet: its close will carry the result"

    # Ben's reached the API at the deadline: too late, and nothing changes.
    for received in (deadline, deadline + timedelta(milliseconds=1)):
        with pytest.raises(QuizError) as err:
            service.answer(ben, quiz_id, 1, 1, f"ben-{received}", received_at=received)
        assert code_of(err) == (409, "question_closed")
    assert _stored(database_url, quiz_id, ben) is None

    assert service.close_due(quiz_id, 1) is True
    closed = notifier.personal[-1]
    assert closed[str(ana.user_id)]["your_result"] == {"answered": True, "correct": True, "points": 917, "score": 917}
    assert closed[str(ben.user_id)]["your_result"]["answered"] is False


def test_equal_answers_received_together_score_the_same_however_far_apart_they_are_processed(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str
) -> None:
    service = QuizService(store, publisher, RecordingNotifier(), RecordingTimer())
    quiz_id, _host, ana = started_quiz(service, database_url, ONE_QUESTION)
    ben = make_user(database_url, "Ben")
    service.join(ben, quiz_id)
    arrived = store.now()  # both reached the API now; a busy worker gets to Ben's 300 ms later
    first = service.answer(ana, quiz_id, 1, 1, "ana-1", received_at=arrived)
    time.sleep(0.3)
    second = service.answer(ben, quiz_id, 1, 1, "ben-1", received_at=arrived)
    assert (first.points, first.elapsed_ms) == (second.points, second.elapsed_ms)
    ana_row, ben_row = _stored(database_url, quiz_id, ana), _stored(database_url, quiz_id, ben)
    assert ana_row is not None and ben_row is not None
    assert ana_row[4] == ben_row[4] == arrived, "both reached their score at the same moment: the board ties them by that"


def test_an_answer_received_before_the_host_moved_on_counts_and_its_player_gets_their_result_again(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str
) -> None:
    notifier = RecordingNotifier()
    service = QuizService(store, publisher, notifier, RecordingTimer())
    quiz_id, host, ana = started_quiz(service, database_url)
    ben = make_user(database_url, "Ben")
    service.join(ben, quiz_id)
    arrived = store.now()  # Ana's answer reached the API, then the host's next overtook it in the queue
    service.next(host, quiz_id)
    (announced,) = notifier.personal
    assert announced[str(ana.user_id)]["your_result"]["answered"] is False, "the close did not see it yet"
    _, _, closed_at = _question_times(database_url, quiz_id)
    assert closed_at is not None and arrived < closed_at

    result = service.answer(ana, quiz_id, 1, 1, "ana-1", received_at=arrived)
    assert result.correct and result.points > 900
    assert notifier.personal[-1] == {
        str(ana.user_id): {
            **announced[str(ana.user_id)],
            "your_result": {"answered": True, "correct": True, "points": result.points, "score": result.score},
        }
    }, "only Ana's own frame, again, now with her result"

    pushes = len(notifier.personal)
    with pytest.raises(QuizError) as err:
        service.answer(ben, quiz_id, 1, 1, "ben-1", received_at=closed_at)
    assert code_of(err) == (409, "question_closed"), "received once the host had moved on"
    assert service.answer(ana, quiz_id, 1, 1, "ana-1", received_at=arrived).replayed
    assert len(notifier.personal) == pushes, "a refusal or a replay pushes nothing"


# ---------------------------------------------------------------------------- question_closed markers


def test_every_close_writes_a_question_closed_marker_on_the_scores_topic_after_its_answers(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str, topic: str, kafka_bootstrap: str
) -> None:
    service = QuizService(store, publisher, RecordingNotifier(), RecordingTimer())
    quiz_id, host, ana = started_quiz(service, database_url)
    service.answer(ana, quiz_id, 1, 1, "ana-1")
    service.next(host, quiz_id)  # the host closes 1
    service.answer(ana, quiz_id, 2, "modern", "ana-2")
    service.next(host, quiz_id)  # and 2
    with psycopg.connect(database_url) as conn:  # 3's deadline passes
        conn.execute("UPDATE questions SET deadline = clock_timestamp() WHERE quiz_id = %s AND position = 3", (quiz_id,))
    assert service.close_due(quiz_id, 3) is True  # the question clock closes 3
    service.end(host, quiz_id)  # nothing left open: no marker

    records = events_on(topic, kafka_bootstrap, expected=6)
    assert [key for key, _, _ in records] == [quiz_id.encode()] * 6, "one key, so one partition: in order with the scores"
    assert [(e["type"], e.get("reason"), e["question_id"]) for _, e, _ in records] == [
        ("score", "joined", None),
        ("score", "answer", 1),
        ("question_closed", None, 1),
        ("score", "answer", 2),
        ("question_closed", None, 2),
        ("question_closed", None, 3),
    ]
    markers = [(e, h) for _, e, h in records if e["type"] == "question_closed"]
    for position, (marker, headers) in enumerate(markers, 1):
        _, deadline, closed_at = _question_times(database_url, quiz_id, position)
        assert marker == {
            "type": "question_closed",
            "event_id": marker["event_id"],
            "quiz_id": quiz_id,
            "question_id": position,
            "closed_at": closed_at.isoformat() if closed_at else None,
        }
        assert str(uuid.UUID(marker["event_id"])) == marker["event_id"] and headers["event_id"] == marker["event_id"].encode()
        assert datetime.fromisoformat(marker["closed_at"]) == closed_at
    assert datetime.fromisoformat(markers[2][0]["closed_at"]) == deadline, "the clock closes at the deadline"
    with psycopg.connect(database_url) as conn:
        pending = conn.execute("SELECT count(*) FROM outbox WHERE key = %s AND published_at IS NULL", (quiz_id,)).fetchone()
    assert pending == (0,), "a close marks what it published, and what answers left to mark"


def test_a_marker_whose_publish_failed_is_republished_by_the_relay(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str, topic: str, kafka_bootstrap: str
) -> None:
    healthy = QuizService(store, publisher, RecordingNotifier(), RecordingTimer())
    crashing = QuizService(store, CrashingPublisher(), RecordingNotifier(), RecordingTimer())
    quiz_id, host, _ana = started_quiz(healthy, database_url)
    store.mark_published([])  # what the join left to mark later: this container's next transaction marks it
    crashing.next(host, quiz_id)  # question 1 closed and its marker committed; the publish "crashed"
    assert [e["type"] for _, e, _ in events_on(topic, kafka_bootstrap, expected=2, timeout_s=3)] == ["score"]
    assert healthy.relay(older_than_s=0) == 1
    assert healthy.relay(older_than_s=0) == 0
    records = events_on(topic, kafka_bootstrap, expected=2)
    assert [(e["type"], e["question_id"]) for _, e, _ in records] == [("score", None), ("question_closed", 1)]


# ---------------------------------------------------------------------------- the outbox on the answer path


def test_the_answer_path_leaves_marking_to_the_next_transaction_and_the_relay_heals_the_rest(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str, topic: str, kafka_bootstrap: str
) -> None:
    service = QuizService(store, publisher, RecordingNotifier(), RecordingTimer())
    quiz_id, _host, ana = started_quiz(service, database_url)
    ben = make_user(database_url, "Ben")
    service.join(ben, quiz_id)

    def unmarked() -> list[str]:
        return unmarked_rows(database_url, quiz_id)

    service.answer(ana, quiz_id, 1, 1, "ana-1")
    assert unmarked() == [str(ana.user_id)], "published (acknowledged), marked later"
    service.answer(ben, quiz_id, 1, 0, "ben-1")
    assert unmarked() == [str(ben.user_id)], "Ben's answer's transaction marked Ana's row"
    answers = [e for _, e, _ in events_on(topic, kafka_bootstrap, expected=4) if e.get("reason") == "answer"]
    assert len(answers) == 2, "both reached Kafka before their answers were acknowledged"

    # This container goes quiet (or is frozen, or dies): the relay republishes the unmarked row, a
    # duplicate that consumers ignore by version; nothing is lost, nothing counts twice.
    assert service.relay(older_than_s=0) == 1 and unmarked() == []
    again = [e for _, e, _ in events_on(topic, kafka_bootstrap, expected=5) if e.get("reason") == "answer"]
    assert len(again) == 3 and again[2] == again[1], "the same event (id, total, version) again"


def unmarked_rows(database_url: str, quiz_id: str) -> list[str]:
    """The user ids of the quiz's outbox rows not marked published, oldest first."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT payload->>'user_id' FROM outbox WHERE key = %s AND published_at IS NULL ORDER BY id", (quiz_id,)
        ).fetchall()
    return [r[0] for r in rows]


def test_a_join_leaves_marking_to_the_next_join(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str, topic: str, kafka_bootstrap: str
) -> None:
    service = QuizService(store, publisher, RecordingNotifier(), RecordingTimer())
    host, ana, ben = make_user(database_url, "Host"), make_user(database_url, "Ana"), make_user(database_url, "Ben")
    quiz_id = service.create(host, QUIZ)["quiz_id"]
    service.join(ana, quiz_id)
    assert unmarked_rows(database_url, quiz_id) == [str(ana.user_id)], "published (acknowledged), marked later"
    service.join(ben, quiz_id)
    assert unmarked_rows(database_url, quiz_id) == [str(ben.user_id)], "Ben's join transaction marked Ana's row"
    joined = [e["user_id"] for _, e, _ in events_on(topic, kafka_bootstrap, expected=2)]
    assert joined == [str(ana.user_id), str(ben.user_id)], "both reached Kafka before their joins returned"
    service.join(ben, quiz_id)  # a rejoin writes no seat, and still marks what was left
    assert unmarked_rows(database_url, quiz_id) == []


def test_an_answer_received_before_a_racing_close_waits_for_it_then_counts(
    store: PostgresQuizStore, publisher: KafkaScorePublisher, database_url: str
) -> None:
    import threading

    notifier = RecordingNotifier()
    service = QuizService(store, publisher, notifier, RecordingTimer())
    quiz_id, _host, ana = started_quiz(service, database_url)
    arrived = store.now()
    outcome: list[object] = []
    with psycopg.connect(database_url) as closer:
        # the host's `next` has closed question 1, after Ana's answer reached the API, but not committed yet
        closer.execute("UPDATE questions SET closed_at = clock_timestamp() WHERE quiz_id = %s AND position = 1", (quiz_id,))

        def answer() -> None:
            try:
                outcome.append(service.answer(ana, quiz_id, 1, 1, "racing", received_at=arrived))
            except QuizError as exc:
                outcome.append(exc.code)

        racer = threading.Thread(target=answer)
        racer.start()
        racer.join(timeout=1.5)
        assert racer.is_alive(), "the answer's write waits for the close to commit or roll back"
        closer.commit()
    racer.join(timeout=10)
    (result,) = outcome
    assert isinstance(result, AnswerResult) and result.correct, "judged again on the committed close: it arrived before it"
    assert notifier.personal[-1][str(ana.user_id)]["your_result"]["answered"] is True
    assert _stored(database_url, quiz_id, ana) is not None
