"""The User service's public face for every other function: who is calling, and may they do this.

from quiz.auth import Principal, authenticate, require_host, require_admin

principal = authenticate(event)          # HTTP API 2.0 event; 401 (QuizError) when not signed in
require_host(principal, quiz.host_id)    # 403 not_quiz_host
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from quiz.auth.credentials import bearer_token, principal_from_ws
from quiz.auth.domain import Principal, Role
from quiz.auth.permissions import can_create_quiz, is_host, may_host, require_admin, require_host
from quiz.events import HttpEvent, WebSocketEvent

__all__ = [
    "Principal",
    "Role",
    "authenticate",
    "can_create_quiz",
    "is_host",
    "may_host",
    "principal_from_ws",
    "require_admin",
    "require_host",
    "ws_principal",
]


def ws_principal(event: WebSocketEvent | Mapping[str, Any]) -> Principal:
    """The caller of a WebSocket route (from the `$connect` authorizer's context), refused with 401
    `token_revoked` when their session has been signed out since the connection opened."""
    from quiz.bootstrap import authenticator  # the composition root: adapters load only when a request needs them

    return authenticator().still_signed_in(principal_from_ws(event))


def authenticate(event: HttpEvent | Mapping[str, Any]) -> Principal:
    """The signed-in caller of an HTTP API request, from its `Authorization: Bearer` access token.

    Raises a `quiz.errors.Unauthorized` subclass (401: missing_token, invalid_token, token_expired,
    token_revoked) that `quiz.http.api_handler` maps to a response with a WWW-Authenticate header.
    """
    from quiz.bootstrap import authenticator  # see ws_principal

    return authenticator().principal(bearer_token(event))
