"""Test REQUEST authorizer: the token in the query string says what to answer."""

from __future__ import annotations

from typing import Any

from emu_shared import record


def _policy(principal: str, effect: str, resource: str, context: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
    }
    if context is not None:
        out["context"] = context
    return out


def handler(event: dict[str, Any], context: Any) -> Any:
    record("authorizer", event)
    token = (event.get("queryStringParameters") or {}).get("token", "")
    kind, _, user = token.partition(":")
    user = user.split(";", 1)[0]  # "allow:alice;anything": what follows ";" is opaque, like a real token's signature
    arn = event["methodArn"]
    if kind == "allow":
        return _policy(user, "Allow", arn, {"userId": user, "role": "player", "level": 7})
    if kind == "wildcard":
        return _policy(user, "Allow", arn.rsplit("/", 2)[0] + "/*", {"userId": user})
    if kind == "nested":  # an array in the context: API Gateway refuses it
        return _policy(user or "someone", "Allow", arn, {"roles": ["host"]})
    if kind == "deny":
        return _policy(user or "someone", "Deny", arn)
    if kind == "elsewhere":
        return _policy("someone", "Allow", arn.replace("$connect", "other-route"))
    if kind == "unauthorized":
        raise Exception("Unauthorized")
    if kind == "crash":
        raise RuntimeError("authorizer bug")
    return "Unauthorized"
