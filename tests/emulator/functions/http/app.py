"""Test HTTP handler: echoes what it received, or returns one of the response shapes API Gateway maps."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from emu_shared import LAYER_MARK, context_facts

PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0xFF])
ENV_KEYS = ("GREETING", "REGION_GREETING", "ECHO_ARN", "MANAGEMENT_ENDPOINT", "STAGE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION")


def _echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "event": event,
        "context": context_facts(context),
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
        "layer": LAYER_MARK,
    }


def handler(event: dict[str, Any], context: Any) -> Any:
    if event.get("version") == "1.0":
        return {
            "statusCode": 201,
            "headers": {"content-type": "application/json", "x-single": "one"},
            "multiValueHeaders": {"x-multi": ["a", "b"]},
            "body": json.dumps(_echo(event, context)),
        }
    params = event.get("pathParameters") or {}
    kind = params.get("kind")
    if kind is None:
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json", "x-route": event["routeKey"]},
            "body": json.dumps(_echo(event, context)),
        }
    if kind == "infer":
        return {"hello": "world", "n": 1}
    if kind == "infer-string":
        return "just text"
    if kind == "binary":
        return {
            "statusCode": 200,
            "headers": {"content-type": "image/png"},
            "body": base64.b64encode(PNG).decode(),
            "isBase64Encoded": True,
        }
    if kind == "cookies":
        return {
            "statusCode": 200,
            "cookies": ["session=abc; HttpOnly", "theme=dark"],
            "body": "ok",
            "headers": {"content-type": "text/plain"},
        }
    if kind == "status":
        return {"statusCode": 418, "headers": {"content-type": "text/plain"}, "body": "teapot"}
    if kind == "raise":
        raise ValueError("secret detail that must not reach the client")
    if kind == "malformed":
        return {"statusCode": "not-a-number"}
    return {"statusCode": 400, "body": "unknown kind"}
