"""WebSocket API entry points: $connect, $disconnect, $default and the `ping` action."""

from __future__ import annotations

import json
from typing import Any

ACTIONS = ["join", "answer", "ping"]


def _frame(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body, separators=(",", ":"))}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ctx = event["requestContext"]
    route = ctx["routeKey"]
    if route == "$connect":
        # The REQUEST authorizer has already verified the token; nothing else to check on connect.
        return {"statusCode": 200}
    if route == "$disconnect":
        return {"statusCode": 200}
    if route == "ping":
        return _frame(200, {"type": "pong", "connectionId": ctx["connectionId"]})
    return _frame(400, {"type": "error", "code": "unknown_action", "message": "send a JSON frame with an 'action'", "actions": ACTIONS})
