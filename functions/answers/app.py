"""Quiz service entry points: HTTP routes (authoring, joining, pacing, answers) and the WebSocket `answer` action."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from quiz import budget, payload
from quiz.auth import Principal, authenticate, ws_principal
from quiz.bootstrap import quiz_service
from quiz.errors import BadRequest, NotFound, QuizError
from quiz.http import Event, Response, api_handler, header, json_body, json_response, path_param
from quiz.observability import traced_handler
from quiz.quizzes.request_time import received_at

Route = Callable[[Principal, Event], tuple[int, Any] | tuple[int, Any, dict[str, str]]]


def _answer(p: Principal, e: Event) -> tuple[int, Any, dict[str, str]]:
    body = json_body(e)
    key = header(e, "Idempotency-Key")
    if key is None:
        raise IdempotencyKeyRequired()
    key = payload.request_key(key, "Idempotency-Key")
    # The answer's time is when API Gateway received it (requestContext), never a field of the body.
    result = quiz_service().answer(
        p, path_param(e, "quiz_id"), body.get("question_id"), body.get("answer"), key, received_at=received_at(e)
    )
    # The body of a retry is the first reply's; the header tells a client it was a replay.
    return 200, result.body(), ({"Idempotent-Replayed": "true"} if result.replayed else {})


def _removed(p: Principal, e: Event) -> tuple[int, Any]:
    quiz_service().remove(p, path_param(e, "quiz_id"), payload.canonical_uuid(path_param(e, "user_id"), "user_id"))
    return 204, None


ROUTES: dict[str, Route] = {
    "POST /quizzes": lambda p, e: (201, quiz_service().create(p, json_body(e))),
    "GET /quizzes": lambda p, e: (200, {"quizzes": quiz_service().list_hosted(p)}),
    "GET /quizzes/{quiz_id}": lambda p, e: (200, quiz_service().get(p, path_param(e, "quiz_id"))),
    "PUT /quizzes/{quiz_id}": lambda p, e: (200, quiz_service().update(p, path_param(e, "quiz_id"), json_body(e))),
    "POST /quizzes/{quiz_id}/join": lambda p, e: (200, quiz_service().join(p, path_param(e, "quiz_id"))),
    "GET /quizzes/{quiz_id}/players": lambda p, e: (200, {"players": quiz_service().players(p, path_param(e, "quiz_id"))}),
    "DELETE /quizzes/{quiz_id}/players/{user_id}": _removed,
    "POST /quizzes/{quiz_id}/lock": lambda p, e: (200, quiz_service().set_locked(p, path_param(e, "quiz_id"), True)),
    "POST /quizzes/{quiz_id}/unlock": lambda p, e: (200, quiz_service().set_locked(p, path_param(e, "quiz_id"), False)),
    "POST /quizzes/{quiz_id}/start": lambda p, e: (200, quiz_service().start(p, path_param(e, "quiz_id"))),
    "POST /quizzes/{quiz_id}/next": lambda p, e: (
        200,
        quiz_service().next(p, path_param(e, "quiz_id"), from_question_id=json_body(e).get("from_question_id")),
    ),
    "POST /quizzes/{quiz_id}/end": lambda p, e: (200, quiz_service().end(p, path_param(e, "quiz_id"))),
    "POST /quizzes/{quiz_id}/answers": _answer,
}


class IdempotencyKeyRequired(QuizError):
    status = 400
    code = "idempotency_key_required"

    def __init__(self) -> None:
        super().__init__("send an Idempotency-Key header (a fresh random value per answer; reuse it only to retry)")


@traced_handler("AnswersFunction")
@api_handler
def handler(event: Event, context: Any) -> Response:
    route = ROUTES.get(event.get("routeKey", ""))
    if route is None:
        raise NotFound(f"no route {event.get('routeKey')}")
    status, body, *headers = route(authenticate(event), event)
    return {"statusCode": 204} if status == 204 else json_response(status, body, headers[0] if headers else None)


@traced_handler("WsAnswerFunction")
def ws_handler(event: Event, context: Any) -> Response:
    """WebSocket `{"action": "answer", "quiz_id", "question_id", "answer", "request_id"?}` -> `answer_result` frame."""
    echo: Any = None  # the client's request_id, echoed as sent so it can match the reply
    try:
        body = payload.loads(event.get("body") or "{}", what="frame")
        echo = body.get("request_id") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(body.get("quiz_id"), str):
            raise BadRequest("send quiz_id, question_id and answer")
        if echo is not None:
            # Checked before anything is looked up by it: the idempotency lookup runs before membership.
            payload.request_key(echo, "request_id")
        payload.check_strings(body)
        player, arrived = ws_principal(event), received_at(event)
        with budget.invocation(context):
            result = quiz_service().answer(player, body["quiz_id"], body.get("question_id"), body.get("answer"), echo, received_at=arrived)
        frame: dict[str, Any] = {"type": "answer_result", **result.body()}
    except QuizError as exc:
        frame = exc.to_frame("answer")  # a failing dependency: service_unavailable with retry_after_ms
    if echo is not None:
        frame["request_id"] = echo
    return {"statusCode": 200, "body": json.dumps(frame, separators=(",", ":"))}
