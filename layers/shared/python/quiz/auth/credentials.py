"""Where a request's credentials are: the bearer token of an HTTP request, the token of a WebSocket
`$connect`, and the identity the `$connect` authorizer left on a WebSocket connection.

Tokens are read here and handed on; they are never logged, and neither is any event that carries one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from quiz.auth.domain import Principal, Role
from quiz.auth.errors import MissingToken, TokenRejected
from quiz.events import AuthorizerEvent, HttpEvent, WebSocketEvent


def bearer_token(event: HttpEvent | AuthorizerEvent | Mapping[str, Any]) -> str:
    """The token of an `Authorization: Bearer <token>` header, or 401 `missing_token`."""
    view = event if isinstance(event, HttpEvent | AuthorizerEvent) else HttpEvent(event)
    value = view.header("authorization")
    if value is None:
        raise MissingToken("this route needs an Authorization: Bearer <access token> header")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejected("the Authorization header must be 'Bearer <access token>'")
    return token.strip()


def connect_token(event: AuthorizerEvent | Mapping[str, Any]) -> str:
    """The token of a WebSocket `$connect`: the `token` query parameter (browsers cannot set headers on
    a WebSocket) or, for other clients, an `Authorization: Bearer` header."""
    view = AuthorizerEvent.of(event)
    token = view.query.get("token")
    if token:
        return str(token)
    return bearer_token(view)


def principal_from_ws(event: WebSocketEvent | Mapping[str, Any]) -> Principal:
    """The caller on a WebSocket route after `$connect`: the context our authorizer returned, which API
    Gateway replays on every message as `requestContext.authorizer`."""
    context = WebSocketEvent.of(event).authorizer
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
