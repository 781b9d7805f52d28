"""Quiz service entry points: HTTP routes (authoring, joining, pacing, answers) and the WebSocket `answer` action."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from quiz import budget, payload
from quiz.auth import Principal, authenticate, ws_principal
from quiz.bootstrap import quiz_service, report_service
from quiz.errors import BadRequest, NotFound, QuizError
from quiz.events import HttpEvent, WebSocketEvent
from quiz.http import Event, Response, api_handler, header, json_body, json_response, path_param, query_param
from quiz.observability import traced_handler
from quiz.quizzes.report_csv import wants_csv

# A route answers (status, body[, headers]) to be sent as JSON, or a whole response (the report as CSV).
Route = Callable[[Principal, HttpEvent], tuple[int, Any] | tuple[int, Any, dict[str, str]] | Response]


def _answer(p: Principal, e: HttpEvent) -> tuple[int, Any, dict[str, str]]:
    body = json_body(e)
    key = header(e, "Idempotency-Key")
    if key is None:
        raise IdempotencyKeyRequired()
    key = payload.request_key(key, "Idempotency-Key")
    # The answer's time is when API Gateway received it (requestContext), never a field of the body.
    result = quiz_service().answer(p, path_param(e, "quiz_id"), body.get("question_id"), body.get("answer"), key, received_at=e.received_at)
    # The body of a retry is the first reply's; the header tells a client it was a replay.
    return 200, result.body(), ({"Idempotent-Replayed": "true"} if result.replayed else {})


def _removed(p: Principal, e: HttpEvent) -> tuple[int, Any]:
    quiz_service().remove(p, path_param(e, "quiz_id"), payload.canonical_uuid(path_param(e, "user_id"), "user_id"))
    return 204, None


def _report(p: Principal, e: HttpEvent) -> tuple[int, Any, dict[str, str]] | Response:
    # One URL, two representations chosen by Accept (JSON unless text/csv outranks it): caches must Vary.
    if wants_csv(header(e, "Accept")):
        table = report_service().report_csv(p, path_param(e, "quiz_id"), query_param(e, "table"))
        return {"statusCode": 200, "headers": table.headers, "body": table.text}
    return 200, report_service().report(p, path_param(e, "quiz_id")).body(), {"Vary": "Accept"}


def _play_again(p: Principal, e: HttpEvent) -> tuple[int, Any, dict[str, str]]:
    again = report_service().play_again(p, path_param(e, "quiz_id"))
    return 201, again, {"Location": f"/quizzes/{again['quiz_id']}"}


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
    "GET /quizzes/{quiz_id}/report": _report,
    "POST /quizzes/{quiz_id}/again": _play_again,
    "GET /users/me/results": lambda p, e: (200, {"results": report_service().my_results(p)}),
}


class IdempotencyKeyRequired(QuizError):
    status = 400
    code = "idempotency_key_required"

    def __init__(self) -> None:
        super().__init__("send an Idempotency-Key header (a fresh random value per answer; reuse it only to retry)")


@traced_handler("AnswersFunction")
@api_handler
def handler(event: HttpEvent, context: Any) -> Response:
    route = ROUTES.get(event.route_key)
    if route is None:
        raise NotFound(f"no route {event.route_key}")
    answer = route(authenticate(event), event)
    if isinstance(answer, dict):
        return answer  # a whole response already (not JSON)
    status, body, *headers = answer
    return {"statusCode": 204} if status == 204 else json_response(status, body, headers[0] if headers else None)


@traced_handler("WsAnswerFunction")
def ws_handler(event: Event, context: Any) -> Response:
    """WebSocket `{"action": "answer", "quiz_id", "question_id", "answer", "request_id"?}` -> `answer_result` frame."""
    request = WebSocketEvent(event)
    echo: Any = None  # the client's request_id, echoed as sent so it can match the reply
    try:
        body = payload.loads(request.body or "{}", what="frame")
        echo = body.get("request_id") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(body.get("quiz_id"), str):
            raise BadRequest("send quiz_id, question_id and answer")
        if echo is not None:
            # Checked before anything is looked up by it: the idempotency lookup runs before membership.
            payload.request_key(echo, "request_id")
        payload.check_strings(body)
        player, arrived = ws_principal(request), request.received_at
        with budget.invocation(context):
            result = quiz_service().answer(player, body["quiz_id"], body.get("question_id"), body.get("answer"), echo, received_at=arrived)
        frame: dict[str, Any] = {"type": "answer_result", **result.body()}
    except QuizError as exc:
        frame = exc.to_frame("answer")  # a failing dependency: service_unavailable with retry_after_ms
    if echo is not None:
        frame["request_id"] = echo
    return {"statusCode": 200, "body": json.dumps(frame, separators=(",", ":"))}
