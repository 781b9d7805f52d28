"""WebSocket API entry points: $connect, $disconnect, $default and the `join` and `ping` actions."""

from __future__ import annotations

import json
from typing import Any

from quiz import budget, payload
from quiz.auth import ws_principal
from quiz.bootstrap import sessions
from quiz.errors import PayloadOverLimit, QuizError
from quiz.events import WebSocketEvent
from quiz.observability import traced_handler

ACTIONS = ["join", "answer", "ping"]
NOT_JSON = object()


def _frame(body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body, separators=(",", ":"), default=str)}


def _join(event: WebSocketEvent) -> dict[str, Any]:
    try:
        body = payload.json_object(event.body or "{}", what="frame")
        return _frame(sessions().join(ws_principal(event), event.connection_id, body.get("quiz_id")))
    except QuizError as exc:
        return _frame(exc.to_frame("join"))  # a failing dependency: service_unavailable with retry_after_ms


def _ping(event: WebSocketEvent) -> dict[str, Any]:
    connection_id = event.connection_id
    try:
        body = payload.json_object(event.body or "{}", what="frame")
    except QuizError:
        body = {}  # a ping is answered whatever it carries
    return _frame(sessions().ping(connection_id, body.get("quiz_id"), lambda: ws_principal(event)))


@traced_handler("WsConnectFunction")
def handler(raw: dict[str, Any], context: Any) -> dict[str, Any]:
    event = WebSocketEvent(raw)
    route = event.route_key
    if route == "$connect":
        return {"statusCode": 200}  # the REQUEST authorizer already verified the token
    if route == "$disconnect":
        sessions().remove(event.connection_id)
        return {"statusCode": 200}
    if route == "join":
        with budget.invocation(context):
            return _join(event)
    if route == "ping":
        return _ping(event)
    return _default(event)


def _default(raw: WebSocketEvent | dict[str, Any]) -> dict[str, Any]:
    """A frame no route took. One that the gateway could not select on because it is past the payload
    limits (nested too deep, a huge integer) is told so; anything else is told what was wrong with it
    and which actions there are."""
    event = WebSocketEvent.of(raw)
    frame: Any = NOT_JSON
    if not event.is_base64_encoded:
        try:
            frame = payload.loads(event.body or "{}", what="frame")
        except PayloadOverLimit as exc:
            return _frame(exc.to_frame())
        except QuizError:
            pass  # not JSON: an unknown action like any other
    return _frame(UnknownAction(unknown_action_message(event, frame)).to_frame())


class UnknownAction(QuizError):
    """A frame no route took; `details.actions` lists the actions there are."""

    status = 400
    code = "unknown_action"

    def __init__(self, message: str) -> None:
        super().__init__(message, details={"actions": list(ACTIONS)})


def unknown_action_message(event: WebSocketEvent | dict[str, Any], frame: Any) -> str:
    """What was wrong with this frame, and what to send instead."""
    choices = ", ".join(repr(a) for a in ACTIONS)
    if WebSocketEvent.of(event).is_base64_encoded:
        return f"binary frames are not understood: send a JSON text frame with an 'action' ({choices})"
    if frame is NOT_JSON:
        return f"the frame is not JSON: send a JSON object with an 'action' ({choices})"
    if not isinstance(frame, dict):
        return f"the frame is JSON but not an object: send a JSON object with an 'action' ({choices})"
    if "action" not in frame:
        return f"the frame has no 'action': add one of {choices}"
    return f"there is no action {str(frame['action'])[:40]!r}: send one of {choices}"
