"""The answers function refuses hostile input at the edge, before the service (and so any lookup keyed
by it) is called: no database needed, a fake service that records calls is enough."""

from __future__ import annotations

import copy
import importlib.util
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from quiz.auth import Principal, Role

LoadEvent = Callable[[str], dict[str, Any]]
ROOT = Path(__file__).resolve().parents[2]


class NoCallsExpected:
    """A quiz service that must not be reached."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            raise AssertionError(f"the service's {name} was called")

        return record


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, NoCallsExpected]:
    spec = importlib.util.spec_from_file_location("answers_app_limits", ROOT / "functions" / "answers" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    service = NoCallsExpected()
    player = Principal(user_id=uuid.uuid4(), display_name="Ana", role=Role.PLAYER)
    monkeypatch.setattr(module, "quiz_service", lambda: service)
    monkeypatch.setattr(module, "authenticate", lambda event: player)
    monkeypatch.setattr(module, "ws_principal", lambda event: player)
    return module, service


class Context:
    aws_request_id = "test"


def ws_answer(module: ModuleType, aws_event: LoadEvent, body: str) -> dict[str, Any]:
    event = copy.deepcopy(aws_event("ws-message"))
    event["requestContext"]["routeKey"] = "answer"
    event["body"] = body
    return dict(json.loads(module.ws_handler(event, Context())["body"]))


@pytest.mark.parametrize(
    ("request_id", "reason"),
    [("\\ud800", "surrogate"), ("a\\u0000", "nul"), ("x" * 129, "too long"), ("", "empty"), ("tab\\there", "control")],
)
def test_a_hostile_request_id_is_refused_before_the_service(
    answers: tuple[ModuleType, NoCallsExpected], aws_event: LoadEvent, request_id: str, reason: str
) -> None:
    module, service = answers
    frame = ws_answer(
        module, aws_event, '{"action": "answer", "quiz_id": "K7Q2MX", "question_id": 1, "answer": 0, "request_id": "' + request_id + '"}'
    )
    assert (frame["type"], frame["error"]["code"], frame["error"]["details"]) == ("error", "bad_request", {"field": "request_id"}), reason
    assert service.calls == []


@pytest.mark.parametrize(
    "body",
    [
        '{"action": "answer", "quiz_id": "K7Q2MX", "question_id": ' + "1" * 4400 + ', "answer": 0}',
        '{"action": "answer", "quiz_id": "K7Q2MX", "question_id": 1, "answer": ' + "[" * 990 + "]" * 990 + "}",
        '{"action": "answer", "quiz_id": "K7Q2MX", "question_id": 1, "answer": "a\\u0000"}',
        '{"action": "answer", "quiz_id": "K7Q\\ud800", "question_id": 1, "answer": "a"}',
    ],
    ids=["huge-integer", "deep", "nul-answer", "surrogate-quiz-id"],
)
def test_a_hostile_answer_frame_gets_an_error_frame_not_an_exception(
    answers: tuple[ModuleType, NoCallsExpected], aws_event: LoadEvent, body: str
) -> None:
    module, service = answers
    frame = ws_answer(module, aws_event, body)
    assert frame["type"] == "error" and frame["error"]["code"] in ("bad_request", "validation_failed")
    assert service.calls == []


def http(module: ModuleType, aws_event: LoadEvent, route: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    event = copy.deepcopy(aws_event("http-api-v2"))
    event.update(routeKey=route, isBase64Encoded=False, **fields)
    response = module.handler(event, Context())
    return response["statusCode"], json.loads(response["body"])["error"]


@pytest.mark.parametrize("user_id", [f"urn:uuid:{uuid.uuid4()}", "1-" + "a" * 31, "\u0661" * 32, uuid.uuid4().hex])
def test_a_participant_id_postgresql_would_refuse_is_a_400_before_the_service(
    answers: tuple[ModuleType, NoCallsExpected], aws_event: LoadEvent, user_id: str
) -> None:
    module, service = answers
    status, error = http(
        module, aws_event, "DELETE /quizzes/{quiz_id}/players/{user_id}", pathParameters={"quiz_id": "K7Q2MX", "user_id": user_id}
    )
    assert (status, error["code"], error["details"]["field"]) == (400, "validation_failed", "user_id")
    assert service.calls == []


@pytest.mark.parametrize("key", ["tab\there", "x" * 129, "nul\x00"])
def test_an_unprintable_idempotency_key_is_a_400_before_the_service(
    answers: tuple[ModuleType, NoCallsExpected], aws_event: LoadEvent, key: str
) -> None:
    module, service = answers
    status, error = http(
        module,
        aws_event,
        "POST /quizzes/{quiz_id}/answers",
        pathParameters={"quiz_id": "K7Q2MX"},
        headers={"idempotency-key": key},
        body='{"question_id": 1, "answer": 0}',
    )
    assert (status, error["code"], error["details"]["field"]) == (400, "bad_request", "Idempotency-Key")
    assert service.calls == []
