"""The WebSocket API's REQUEST authorizer for `$connect`: an IAM policy for a token."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from quiz.auth.credentials import connect_token
from quiz.auth.domain import Principal, User
from quiz.events import AuthorizerEvent


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

    def authorize(self, event: AuthorizerEvent | Mapping[str, Any]) -> dict[str, Any]:
        request = AuthorizerEvent.of(event)
        principal = self._authenticate(connect_token(request))
        method_arn = request.method_arn
        user = self._find_user(principal.user_id)
        if user is None:
            return _policy(str(principal.user_id), "Deny", method_arn)
        # The current display name and role, not the token's copy: a rename shows on the next connect.
        policy = _policy(str(user.id), "Allow", method_arn)
        policy["context"] = {"userId": str(user.id), "displayName": user.display_name, "role": user.role.value}
        if principal.session_id is not None:  # lets later routes refuse a connection whose session signed out
            policy["context"]["sessionId"] = str(principal.session_id)
        return policy
