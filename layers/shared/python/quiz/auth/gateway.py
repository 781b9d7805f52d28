"""Reading identity out of API Gateway events, and the WebSocket `$connect` authorizer's answer.

Tokens are read here and handed on; they are never logged, and neither is any event that carries one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from quiz.auth.domain import Principal, Role, User
from quiz.auth.errors import MissingToken, TokenRejected
from quiz.errors import ValidationFailed
from quiz.http import Event, header


def bearer_token(event: Event) -> str:
    """The token of an `Authorization: Bearer <token>` header, or 401 `missing_token`."""
    value = header(event, "authorization")
    if value is None:
        raise MissingToken("this route needs an Authorization: Bearer <access token> header")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejected("the Authorization header must be 'Bearer <access token>'")
    return token.strip()


def connect_token(event: Event) -> str:
    """The token of a WebSocket `$connect`: the `token` query parameter (browsers cannot set headers on
    a WebSocket) or, for other clients, an `Authorization: Bearer` header."""
    token = (event.get("queryStringParameters") or {}).get("token")
    if token:
        return str(token)
    return bearer_token(event)


def source_ip(event: Event) -> str:
    """The caller's address as API Gateway saw it (HTTP API 2.0 or WebSocket); never X-Forwarded-For,
    which the client controls."""
    context = event.get("requestContext") or {}
    ip = (context.get("http") or {}).get("sourceIp") or (context.get("identity") or {}).get("sourceIp")
    return str(ip or "unknown")


def text_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ValidationFailed(f"field {name!r} is required and must be a string", details={"field": name})
    return value


def principal_from_ws(event: Event) -> Principal:
    """The caller on a WebSocket route after `$connect`: the context our authorizer returned, which API
    Gateway replays on every message as `requestContext.authorizer`."""
    context = (event.get("requestContext") or {}).get("authorizer") or {}
    try:
        session = context.get("sessionId")
        return Principal(
            user_id=UUID(str(context["userId"])),
            display_name=str(context["displayName"]),
            role=Role(context["role"]),
            session_id=UUID(str(session)) if session else None,
        )
    except (KeyError, ValueError) as exc:
        raise TokenRejected("this connection carries no authorizer identity") from exc


def _policy(principal_id: str, effect: str, method_arn: str) -> dict[str, Any]:
    statement = {"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}
    return {"principalId": principal_id, "policyDocument": {"Version": "2012-10-17", "Statement": [statement]}}


class ConnectAuthorizer:
    """The REQUEST authorizer of `$connect`: a missing or invalid token raises 401 (`TokenRejected`; the
    handler turns it into API Gateway's "Unauthorized"); a valid token for an account that no longer
    exists gets an explicit Deny (403); otherwise Allow, with the identity as context."""

    def __init__(self, authenticate: Callable[[str], Principal], find_user: Callable[[UUID], User | None]) -> None:
        self._authenticate = authenticate
        self._find_user = find_user

    def authorize(self, event: Event) -> dict[str, Any]:
        principal = self._authenticate(connect_token(event))
        method_arn = str(event.get("methodArn", ""))
        user = self._find_user(principal.user_id)
        if user is None:
            return _policy(str(principal.user_id), "Deny", method_arn)
        # The current display name and role, not the token's copy: a rename shows on the next connect.
        policy = _policy(str(user.id), "Allow", method_arn)
        policy["context"] = {"userId": str(user.id), "displayName": user.display_name, "role": user.role.value}
        if principal.session_id is not None:  # lets later routes refuse a connection whose session signed out
            policy["context"]["sessionId"] = str(principal.session_id)
        return policy
