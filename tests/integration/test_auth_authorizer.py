"""The WebSocket `$connect` REQUEST authorizer against the real PostgreSQL and Redis, with events
built from AWS's sample authorizer event: no, bad, expired and good tokens, in the query or a header."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests import auth_support as forge
from tests.integration.conftest_auth import auth_app, auth_env, new_username, ws_authorizer  # noqa: F401

pytestmark = pytest.mark.integration
METHOD_ARN = forge.load_event("ws-authorizer-request")["methodArn"]


@pytest.fixture
def account(auth_app: ModuleType, new_username: Callable[[], str]) -> dict[str, Any]:  # noqa: F811
    body = {"username": new_username(), "password": "correct horse battery", "display_name": "Ana"}
    response = auth_app.handler(forge.http_event("POST /auth/signup", body), None)
    assert response["statusCode"] == 201
    return dict(json.loads(response["body"]))


def dev_key(env: dict[str, str]) -> tuple[Ed25519PrivateKey, str]:
    key = serialization.load_pem_private_key(env["JWT_PRIVATE_KEY"].encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key, next(iter(json.loads(env["JWT_PUBLIC_KEYS"])))


def refused(authorizer: ModuleType, event: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(event, None)


@pytest.mark.parametrize("where", ["query", "header"])
def test_good_token_is_allowed_with_identity_context(ws_authorizer: ModuleType, account: dict[str, Any], where: str) -> None:  # noqa: F811
    token = account["access_token"]
    event = forge.connect_event(query_token=token) if where == "query" else forge.connect_event(header_token=token)
    policy = ws_authorizer.handler(event, None)
    user_id = account["user"]["id"]
    session_id = jwt.decode(token, options={"verify_signature": False})["sid"]  # the session this token belongs to
    assert policy == {
        "principalId": user_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": METHOD_ARN}],
        },
        "context": {"userId": user_id, "displayName": "Ana", "role": "player", "sessionId": session_id},
    }


def test_context_carries_the_current_display_name(auth_app: ModuleType, ws_authorizer: ModuleType, account: dict[str, Any]) -> None:  # noqa: F811
    token = account["access_token"]
    renamed = auth_app.handler(forge.http_event("PATCH /users/me", {"display_name": "Ana Renamed"}, token=token), None)
    assert renamed["statusCode"] == 200
    assert ws_authorizer.handler(forge.connect_event(query_token=token), None)["context"]["displayName"] == "Ana Renamed"


def test_missing_and_bad_tokens_are_unauthorized(ws_authorizer: ModuleType, auth_env: dict[str, str], account: dict[str, Any]) -> None:  # noqa: F811
    key, kid = dev_key(auth_env)
    now = int(time.time())
    sub = account["user"]["id"]
    for event in (
        forge.connect_event(),
        forge.connect_event(query_token="not-a-jwt"),
        forge.connect_event(header_token="not-a-jwt"),
        forge.connect_event(query_token=forge.unsigned(forge.claims(sub), kid=kid)),
        forge.connect_event(query_token=forge.sign(forge.claims(sub, iat=now - 7200, nbf=now - 7200, exp=now - 3600), key, kid=kid)),
        forge.connect_event(query_token=forge.tampered(account["access_token"], role="admin")),
        forge.connect_event(query_token=account["refresh_token"]),
    ):
        refused(ws_authorizer, event)


def test_signed_out_session_is_unauthorized(auth_app: ModuleType, ws_authorizer: ModuleType, account: dict[str, Any]) -> None:  # noqa: F811
    token = account["access_token"]
    assert auth_app.handler(forge.http_event("POST /auth/logout", token=token), None)["statusCode"] == 204
    refused(ws_authorizer, forge.connect_event(query_token=token))


def test_valid_token_for_a_deleted_account_is_an_explicit_deny(ws_authorizer: ModuleType, auth_env: dict[str, str]) -> None:  # noqa: F811
    key, kid = dev_key(auth_env)
    ghost = str(uuid.uuid4())
    policy = ws_authorizer.handler(forge.connect_event(query_token=forge.sign(forge.claims(ghost), key, kid=kid)), None)
    assert policy["principalId"] == ghost
    assert policy["policyDocument"]["Statement"] == [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": METHOD_ARN}]
    assert "context" not in policy
