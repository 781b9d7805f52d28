"""Test relay: a Lambda that pushes the request body to a connection, wherever that connection's socket lives.

POST /relay/{connection_id} -> PostToConnection through MANAGEMENT_ENDPOINT (this node's own endpoint, as
the template derives it); the reply names that endpoint, so a test knows which node ran the function.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import boto3

_management = None


def management() -> Any:
    global _management
    if _management is None:
        _management = boto3.client("apigatewaymanagementapi", endpoint_url=os.environ["MANAGEMENT_ENDPOINT"])
    return _management


def handler(event: dict[str, Any], context: Any) -> Any:
    client = management()
    connection_id = event["pathParameters"]["connection_id"]
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=data)
    except client.exceptions.GoneException:
        return {"statusCode": 410, "body": json.dumps({"gone": connection_id, "endpoint": os.environ["MANAGEMENT_ENDPOINT"]})}
    return {"statusCode": 200, "body": json.dumps({"sent": connection_id, "endpoint": os.environ["MANAGEMENT_ENDPOINT"]})}
