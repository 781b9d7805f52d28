"""Test handler for the HTTP $default route and a WebSocket API without $default (template-alt.yaml)."""

from __future__ import annotations

import json
from typing import Any


def handler(event: dict[str, Any], context: Any) -> Any:
    ctx = event["requestContext"]
    if ctx.get("eventType") in ("CONNECT", "DISCONNECT"):
        return {"statusCode": 200}
    if ctx.get("eventType") == "MESSAGE":
        return {"statusCode": 200, "body": json.dumps({"route": ctx["routeKey"], "authorizer": ctx.get("authorizer")})}
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"routeKey": event["routeKey"], "rawPath": event["rawPath"]}),
    }


def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    token = event["headers"].get("Authorization", "")
    effect = "Allow" if token == "Bearer good" else "Deny"
    return {
        "principalId": "header-user",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}],
        },
    }
