"""An answer's time is when it reached the API: the request time source, the judging rules on it, and
the handlers that pass it (from API Gateway's requestContext, never from the body)."""

from __future__ import annotations

import copy
import importlib.util
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from quiz.auth import Principal, Role
from quiz.events import received_at
from quiz.quizzes.domain import AnswerResult, Question
from quiz.quizzes.judging import (
    AlreadyAnswered,
    QuestionClosed,
    QuestionNotOpen,
    QuestionTimes,
    StreakSoFar,
    answer_time,
    judge,
)

LoadEvent = Callable[[str], dict[str, Any]]
ROOT = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------------------- the request time source


def test_http_api_v2_events_give_their_time_epoch(aws_event: LoadEvent) -> None:
    assert received_at(aws_event("http-api-v2")) == datetime(2020, 4, 21, 15, 8, 21, 67_000, tzinfo=UTC)  # timeEpoch 1587481701067


@pytest.mark.parametrize(("sample", "epoch_ms"), [("rest-api-v1", 1589522469693), ("ws-message", 1731332746514)])
def test_rest_and_websocket_events_give_their_request_time_epoch(aws_event: LoadEvent, sample: str, epoch_ms: int) -> None:
    at = received_at(aws_event(sample))
    assert at is not None and at.tzinfo is not None
    assert round(at.timestamp() * 1000) == epoch_ms, "to the millisecond, exactly"


@pytest.mark.parametrize(
    "context",
    [
        None,
        "1587481701067",
        {},
        {"timeEpoch": None},
        {"timeEpoch": "1587481701067"},  # a string is not how API Gateway sends it
        {"timeEpoch": 1587481701.067},
        {"timeEpoch": True},
        {"timeEpoch": 1587481701},  # seconds, not milliseconds
        {"timeEpoch": -1},
        {"requestTimeEpoch": 10**16},
        {"requestTimeEpoch": [1587481701067]},
    ],
)
def test_a_missing_or_garbage_stamp_gives_none_so_the_database_clock_decides(context: Any) -> None:
    assert received_at({"requestContext": context} if context is not None else {}) is None


def test_a_time_in_the_body_or_headers_is_never_read() -> None:
    event = {
        "body": json.dumps({"timeEpoch": 1587481701067, "requestContext": {"timeEpoch": 1587481701067}}),
        "headers": {"x-request-time": "1587481701067"},
        "timeEpoch": 1587481701067,
        "requestContext": {"http": {"method": "POST"}},
    }
    assert received_at(event) is None


# ---------------------------------------------------------------------------- judging on that time

OPENED = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)
LIMIT = timedelta(seconds=20)
NO_STREAK = StreakSoFar(0, 0)
QUESTION = Question(position=2, kind="multiple_choice", prompt="?", time_limit_ms=20_000, points=1000, choices=("a", "b"), correct_choice=1)


def verdict(
    received: datetime | None,
    *,
    now: datetime,
    given: Any = 1,
    closed_at: datetime | None = None,
    already: bool = False,
    before: StreakSoFar = NO_STREAK,
    streak_bonus: int = 0,
) -> Any:
    times = QuestionTimes(OPENED, OPENED + LIMIT, closed_at)
    return judge(
        QUESTION,
        given,
        times,
        received_at=received,
        now=now,
        already_answered=already,
        before=before,
        streak_bonus=streak_bonus,
    )


def test_an_answer_received_in_time_but_processed_after_the_deadline_counts_on_its_arrival() -> None:
    late_worker = OPENED + LIMIT + timedelta(seconds=3)
    v = verdict(OPENED + timedelta(seconds=5), now=late_worker)
    assert (v.correct, v.elapsed_ms, v.points) == (True, 5000, 875)
    assert v.answered_at == OPENED + timedelta(seconds=5) and not v.after_close


def test_equal_answers_received_together_score_the_same_whenever_they_are_processed() -> None:
    arrived = OPENED + timedelta(seconds=4)
    first = verdict(arrived, now=arrived + timedelta(milliseconds=2))
    second = verdict(arrived, now=arrived + timedelta(milliseconds=900))
    assert (first.points, first.elapsed_ms) == (second.points, second.elapsed_ms) == (900, 4000)


def test_answers_received_at_or_after_the_deadline_are_closed() -> None:
    for received in (OPENED + LIMIT, OPENED + LIMIT + timedelta(milliseconds=1)):
        with pytest.raises(QuestionClosed):
            verdict(received, now=received + timedelta(milliseconds=5))
    just_in = OPENED + LIMIT - timedelta(milliseconds=1)
    assert verdict(just_in, now=just_in + timedelta(seconds=2)).points == 500


def test_after_an_early_close_only_answers_received_before_it_count() -> None:
    closed = OPENED + timedelta(seconds=8)
    counted = verdict(closed - timedelta(milliseconds=1), now=closed + timedelta(seconds=1), closed_at=closed)
    assert counted.correct and counted.after_close, "recorded after the close: the player's closed frame is stale"
    with pytest.raises(QuestionClosed):
        verdict(closed, now=closed + timedelta(seconds=1), closed_at=closed)


def test_without_a_request_time_the_database_clock_judges_as_before() -> None:
    assert answer_time(None, OPENED) == OPENED
    assert verdict(None, now=OPENED + timedelta(seconds=10)).elapsed_ms == 10_000
    with pytest.raises(QuestionClosed):
        verdict(None, now=OPENED + LIMIT)


def test_a_request_time_after_the_processing_time_is_taken_as_the_processing_time() -> None:
    now = OPENED + timedelta(seconds=10)
    assert answer_time(now + timedelta(hours=1), now) == now
    assert verdict(now + timedelta(hours=1), now=now).elapsed_ms == 10_000


def test_a_stamp_slightly_before_the_opening_is_clock_skew_but_one_well_before_is_a_blind_guess() -> None:
    skewed = verdict(OPENED - timedelta(milliseconds=300), now=OPENED + timedelta(milliseconds=50))
    assert (skewed.elapsed_ms, skewed.points) == (0, 1000), "elapsed never goes below 0"
    with pytest.raises(QuestionNotOpen):
        verdict(OPENED - timedelta(seconds=2), now=OPENED + timedelta(milliseconds=50))


def test_refusals_keep_their_order_and_streaks_count_on() -> None:
    now = OPENED + timedelta(seconds=1)
    with pytest.raises(QuestionNotOpen):
        judge(
            QUESTION,
            1,
            QuestionTimes(None, None, None),
            received_at=now,
            now=now,
            already_answered=True,
            before=StreakSoFar(0, 0),
            streak_bonus=0,
        )
    with pytest.raises(AlreadyAnswered):
        verdict(now, now=now + LIMIT, already=True)  # already answered wins over closed
    with pytest.raises(Exception, match="index of a choice"):
        verdict(now, now=now, given=7, already=True)  # a malformed answer is a 400 first
    on_a_run = verdict(OPENED, now=now, before=StreakSoFar(2, 1), streak_bonus=100)
    assert (on_a_run.streak, on_a_run.points) == (3, 1200)
    broken = verdict(OPENED, now=now, given=0, before=StreakSoFar(2, 1), streak_bonus=100)
    assert (broken.correct, broken.streak, broken.points) == (False, 0, 0)
    gap = verdict(OPENED, now=now, before=StreakSoFar(2, 0), streak_bonus=100)
    assert gap.streak == 1, "a question skipped breaks the run"


# ---------------------------------------------------------------------------- the handlers pass it on


def _answers_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("answers_app_under_test", ROOT / "functions" / "answers" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RecordingService:
    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def answer(self, *args: Any, **kwargs: Any) -> AnswerResult:
        self.calls.append((args, kwargs))
        return AnswerResult("K7Q2MX", 1, True, 900, 900, 4000, 1)


class Context:
    aws_request_id = "test"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, RecordingService]:
    module = _answers_app()
    service = RecordingService()
    player = Principal(user_id=uuid.uuid4(), display_name="Ana", role=Role.PLAYER)
    monkeypatch.setattr(module, "quiz_service", lambda: service)
    monkeypatch.setattr(module, "authenticate", lambda event: player)
    monkeypatch.setattr(module, "ws_principal", lambda event: player)
    return module, service


CHEAT = {"question_id": 1, "answer": 1, "timeEpoch": 1, "requestTimeEpoch": 1, "received_at": "2000-01-01T00:00:00Z"}


def test_the_http_route_passes_the_gateway_time_never_the_bodys(app: tuple[ModuleType, RecordingService], aws_event: LoadEvent) -> None:
    module, service = app
    event = copy.deepcopy(aws_event("http-api-v2"))
    event.update(
        routeKey="POST /quizzes/{quiz_id}/answers",
        pathParameters={"quiz_id": "K7Q2MX"},
        headers={"idempotency-key": "k-1", "content-type": "application/json"},
        body=json.dumps(CHEAT),
        isBase64Encoded=False,
    )
    response = module.handler(event, Context())
    assert response["statusCode"] == 200, response
    ((args, kwargs),) = service.calls
    assert args[1:5] == ("K7Q2MX", 1, 1, "k-1")
    assert kwargs == {"received_at": datetime(2020, 4, 21, 15, 8, 21, 67_000, tzinfo=UTC)}


def test_the_websocket_action_passes_the_gateway_time_never_the_bodys(
    app: tuple[ModuleType, RecordingService], aws_event: LoadEvent
) -> None:
    module, service = app
    event = copy.deepcopy(aws_event("ws-message"))
    event["requestContext"]["routeKey"] = "answer"
    event["body"] = json.dumps({"action": "answer", "quiz_id": "K7Q2MX", "request_id": "r-1", **CHEAT})
    frame = json.loads(module.ws_handler(event, Context())["body"])
    assert frame["type"] == "answer_result" and frame["request_id"] == "r-1"
    ((_args, kwargs),) = service.calls
    assert kwargs["received_at"] is not None and round(kwargs["received_at"].timestamp() * 1000) == 1731332746514


def test_without_a_gateway_time_the_handlers_pass_none(app: tuple[ModuleType, RecordingService], aws_event: LoadEvent) -> None:
    module, service = app
    event = copy.deepcopy(aws_event("ws-message"))
    del event["requestContext"]["requestTimeEpoch"]
    event["body"] = json.dumps({"action": "answer", "quiz_id": "K7Q2MX", **CHEAT})
    assert json.loads(module.ws_handler(event, Context())["body"])["type"] == "answer_result"
    assert service.calls[0][1] == {"received_at": None}
