"""Test WebSocket handler: $connect, $disconnect, $default and a few actions that exercise the gateway."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
from emu_shared import record

_management = None


def management() -> Any:
    # Built once per container from the environment, as a real function would.
    global _management
    if _management is None:
        _management = boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["MANAGEMENT_ENDPOINT"])
    return _management


def _reply(body: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(body)}


def handler(event: dict[str, Any], context: Any) -> Any:
    ctx = event["requestContext"]
    route = ctx["routeKey"]
    if route == "$connect":
        record("connect", event)
        if (ctx.get("authorizer") or {}).get("principalId") == "refused":
            return {"statusCode": 403}
        return {"statusCode": 200}
    if route == "$disconnect":
        record("disconnect", event)
        return {"statusCode": 200}
    if route == "echo":
        record("message", event)
        return _reply({"route": route, "event": event})
    if route == "$default":
        record("default", event)
        return _reply({"route": route, "body": event.get("body"), "isBase64Encoded": event.get("isBase64Encoded")})
    if route == "whoami":
        return _reply({"authorizer": ctx.get("authorizer")})
    if route == "slow":
        time.sleep(float(json.loads(event["body"]).get("seconds", 2)))
        return _reply({"route": "slow", "done": True})
    if route == "hurried":  # past its integration timeout: the gateway answers, this still finishes
        time.sleep(float(json.loads(event["body"]).get("seconds", 1)))
        record("hurried-done", event)
        return _reply({"route": "hurried", "done": True})
    if route == "boom":
        raise RuntimeError("handler bug")
    if route == "push":
        client = management()
        client.post_to_connection(ConnectionId=ctx["connectionId"], Data=b'{"pushed": true}')
        info = client.get_connection(ConnectionId=ctx["connectionId"])
        client.post_to_connection(ConnectionId=ctx["connectionId"], Data=json.dumps({"sourceIp": info["Identity"]["SourceIp"]}).encode())
        return None
    if route == "oneway":
        return _reply({"must": "not arrive"})
    return _reply({"unexpected": route})
