"""The User service's HTTP handler against the real PostgreSQL (es_quiz_test) and Redis, driven with
HTTP API 2.0 events built from the AWS sample: what a client sees, status codes and error codes."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests import auth_support as forge
from tests.integration.conftest_auth import auth_app, auth_env, new_username, source_ip  # noqa: F401

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


class Client:
    """Calls the handler the way API Gateway would and decodes the response."""

    def __init__(self, app: ModuleType, ip: str) -> None:
        self.app, self.ip = app, ip

    def call(self, route: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, dict[str, str], Any]:
        response = self.app.handler(forge.http_event(route, body, token=token, source_ip=self.ip), None)
        payload = json.loads(response["body"]) if response["body"] else None
        return response["statusCode"], response["headers"], payload

    def signup(self, username: str, password: str = PASSWORD, display_name: str = "Ana") -> tuple[int, dict[str, str], Any]:
        return self.call("POST /auth/signup", {"username": username, "password": password, "display_name": display_name})

    def login(self, username: str, password: str = PASSWORD) -> tuple[int, dict[str, str], Any]:
        return self.call("POST /auth/login", {"username": username, "password": password})


@pytest.fixture
def client(auth_app: ModuleType, source_ip: str) -> Client:  # noqa: F811
    return Client(auth_app, source_ip)


@pytest.fixture
def signed_up(client: Client, new_username: Callable[[], str]) -> tuple[str, dict[str, Any]]:  # noqa: F811
    username = new_username()
    status, _, body = client.signup(username)
    assert status == 201, body
    return username, body


def code(body: Any) -> str:
    return str(body["error"]["code"])


def test_signup_returns_the_user_and_working_tokens(client: Client, new_username: Callable[[], str], database_url: str) -> None:  # noqa: F811
    username = new_username()
    status, headers, body = client.signup(username, display_name="  Ana   Banana ")
    assert status == 201
    assert headers["cache-control"] == "no-store"
    assert body["user"]["username"] == username and body["user"]["display_name"] == "Ana Banana"
    assert body["token_type"] == "Bearer" and body["expires_in_ms"] == 900_000
    status, _, me = client.call("GET /users/me", token=body["access_token"])
    assert (status, me["id"], me["display_name"], me["role"]) == (200, body["user"]["id"], "Ana Banana", "player")
    assert "password_hash" not in me
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT password_hash FROM users WHERE id = %s", (uuid.UUID(me["id"]),)).fetchone()
    assert row is not None and row[0].startswith("$argon2id$v=19$m=65536,t=2,p=1$"), "argon2id at or above OWASP's parameters"


def test_duplicate_username_is_409_whatever_the_case(client: Client, signed_up: tuple[str, dict[str, Any]]) -> None:
    status, _, body = client.signup(signed_up[0].upper())
    assert (status, code(body)) == (409, "username_taken")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"password": "password123", "display_name": "Ana"}, "weak_password"),
        ({"password": "short", "display_name": "Ana"}, "weak_password"),
        ({"username": "a b", "password": PASSWORD, "display_name": "Ana"}, "invalid_username"),
        ({"username": "root", "password": PASSWORD, "display_name": "Ana"}, "invalid_username"),
        ({"password": PASSWORD, "display_name": "F.u.c.k you"}, "display_name_rejected"),
        ({"password": PASSWORD, "display_name": "Site Admin"}, "display_name_rejected"),
        ({"password": PASSWORD, "display_name": "a\u202egnp.exe"}, "invalid_display_name"),
        ({"password": PASSWORD}, "validation_failed"),
        ({"password": 12345678901, "display_name": "Ana"}, "validation_failed"),
    ],
)
def test_signup_rejects_bad_input_and_creates_nothing(
    client: Client,
    new_username: Callable[[], str],  # noqa: F811
    payload: dict[str, Any],
    expected: str,
    database_url: str,
) -> None:
    username = new_username()
    status, _, body = client.call("POST /auth/signup", {"username": username, **payload})
    assert (status, code(body)) == (400, expected)
    assert body["error"]["message"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE lower(username) = lower(%s)", (username,)).fetchone() == (0,)


def test_malformed_json_is_400(client: Client) -> None:
    event = forge.http_event("POST /auth/login", {})
    event["body"] = "{not json"
    response = client.app.handler(event, None)
    assert response["statusCode"] == 400 and json.loads(response["body"])["error"]["code"] == "bad_request"


def test_login_returns_a_token_pair(client: Client, signed_up: tuple[str, dict[str, Any]]) -> None:
    status, headers, body = client.login(signed_up[0].upper())
    assert status == 200 and headers["cache-control"] == "no-store"
    assert set(body) >= {"access_token", "refresh_token", "token_type", "expires_in_ms", "user"}
    assert (body["token_type"], body["expires_in_ms"], body["user"]["id"]) == ("Bearer", 900_000, signed_up[1]["user"]["id"])
    header = jwt.get_unverified_header(body["access_token"])
    assert (header["alg"], header["typ"]) == ("EdDSA", "at+jwt") and header["kid"]
    assert jwt.get_unverified_header(body["refresh_token"])["typ"] == "rt+jwt"


def test_wrong_password_and_unknown_user_are_the_same_401(client: Client, signed_up: tuple[str, dict[str, Any]]) -> None:
    wrong = client.login(signed_up[0], "not the password at all")
    unknown = client.login(f"nobody{uuid.uuid4().hex[:8]}")
    assert wrong[0] == unknown[0] == 401
    assert wrong[2] == unknown[2] == {"error": {"code": "invalid_credentials", "message": "wrong username or password"}}


def test_failed_logins_per_username_hit_429_with_retry_after(
    auth_app: ModuleType,  # noqa: F811
    signed_up: tuple[str, dict[str, Any]],
) -> None:
    username = signed_up[0]
    for attempt in range(5):  # LOGIN_MAX_FAILURES_PER_USERNAME, each from another address
        status, _, _ = Client(auth_app, f"2001:db8:1::{uuid.uuid4().hex[:4]}").login(username, f"guess number {attempt}")
        assert status == 401
    status, headers, body = Client(auth_app, f"2001:db8:2::{uuid.uuid4().hex[:4]}").login(username)
    assert (status, code(body), body["error"]["details"]["scope"]) == (429, "rate_limited", "username")
    assert 0 < int(headers["Retry-After"]) <= 120
    assert body["error"]["details"]["retry_after_ms"] == int(headers["Retry-After"]) * 1000


def test_failed_logins_per_address_hit_429(client: Client, new_username: Callable[[], str]) -> None:  # noqa: F811
    for _ in range(8):  # LOGIN_MAX_FAILURES_PER_IP, spread over many usernames
        assert client.login(new_username(), "spraying passwords")[0] == 401
    status, headers, body = client.login(new_username())
    assert (status, body["error"]["details"]["scope"]) == (429, "source_ip")
    assert int(headers["Retry-After"]) > 0


def test_refresh_rotates_and_reuse_revokes_the_whole_family(client: Client, signed_up: tuple[str, dict[str, Any]]) -> None:
    first = signed_up[1]
    status, _, second = client.call("POST /auth/refresh", {"refresh_token": first["refresh_token"]})
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    assert client.call("GET /users/me", token=second["access_token"])[0] == 200

    status, headers, body = client.call("POST /auth/refresh", {"refresh_token": first["refresh_token"]})
    assert (status, code(body)) == (401, "refresh_token_reused")
    assert headers["WWW-Authenticate"].startswith("Bearer")
    status, _, body = client.call("POST /auth/refresh", {"refresh_token": second["refresh_token"]})
    assert (status, code(body)) == (401, "token_revoked")
    status, _, body = client.call("GET /users/me", token=second["access_token"])
    assert (status, code(body)) == (401, "token_revoked")


def test_concurrent_refreshes_with_one_token_let_only_one_through(client: Client, signed_up: tuple[str, dict[str, Any]]) -> None:
    results: list[int] = []
    barrier = threading.Barrier(4)

    def refresh() -> None:
        barrier.wait()
        results.append(client.call("POST /auth/refresh", {"refresh_token": signed_up[1]["refresh_token"]})[0])

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 401, 401, 401]


def test_access_token_for_refresh_and_refresh_token_for_access_are_refused(client: Client, signed_up: tuple[str, dict[str, Any]]) -> None:
    status, _, body = client.call("GET /users/me", token=signed_up[1]["refresh_token"])
    assert (status, code(body)) == (401, "invalid_token")
    status, _, body = client.call("POST /auth/refresh", {"refresh_token": signed_up[1]["access_token"]})
    assert (status, code(body)) == (401, "invalid_token")


def test_logout_revokes_the_session_now(client: Client, signed_up: tuple[str, dict[str, Any]]) -> None:
    other_device = client.login(signed_up[0])[2]
    tokens = signed_up[1]
    status, headers, body = client.call("POST /auth/logout", token=tokens["access_token"])
    assert (status, body, headers["cache-control"]) == (204, None, "no-store")
    assert code(client.call("GET /users/me", token=tokens["access_token"])[2]) == "token_revoked"
    assert code(client.call("POST /auth/refresh", {"refresh_token": tokens["refresh_token"]})[2]) == "token_revoked"
    assert client.call("GET /users/me", token=other_device["access_token"])[0] == 200, "other sessions stay signed in"
    assert client.call("POST /auth/logout", {"everywhere": True}, token=other_device["access_token"])[0] == 204
    assert client.call("POST /auth/refresh", {"refresh_token": other_device["refresh_token"]})[0] == 401


def test_logout_and_me_need_a_token(client: Client) -> None:
    for route in ("POST /auth/logout", "GET /users/me", "PATCH /users/me"):
        status, headers, body = client.call(route, {"display_name": "x"})
        assert (status, code(body)) == (401, "missing_token"), route
        assert headers["WWW-Authenticate"].startswith("Bearer")


def test_patch_me_renames_with_the_same_rules(client: Client, signed_up: tuple[str, dict[str, Any]]) -> None:
    token = signed_up[1]["access_token"]
    status, _, me = client.call("PATCH /users/me", {"display_name": "  Zoë   🦊 "}, token=token)
    assert (status, me["display_name"]) == (200, "Zoë 🦊")
    assert client.call("GET /users/me", token=token)[2]["display_name"] == "Zoë 🦊"
    status, _, body = client.call("PATCH /users/me", {"display_name": "sh1t"}, token=token)
    assert (status, code(body)) == (400, "display_name_rejected")
    status, _, body = client.call("PATCH /users/me", {"username": "someone-else"}, token=token)
    assert (status, code(body)) == (400, "validation_failed")


def test_unknown_route_is_404(client: Client) -> None:
    status, _, body = client.call("DELETE /users/me")
    assert (status, code(body)) == (404, "not_found")


def _dev_key(env: dict[str, str]) -> tuple[Ed25519PrivateKey, str]:
    key = serialization.load_pem_private_key(env["JWT_PRIVATE_KEY"].encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key, next(iter(json.loads(env["JWT_PUBLIC_KEYS"])))


def test_jwt_attacks_on_a_protected_route_are_all_401(
    client: Client,
    auth_env: dict[str, str],  # noqa: F811
    signed_up: tuple[str, dict[str, Any]],
) -> None:
    key, kid = _dev_key(auth_env)
    sub = signed_up[1]["user"]["id"]
    good = forge.claims(sub)
    now = int(time.time())
    attacks = {
        "alg none": forge.unsigned(good, kid=kid),
        "HS256 with the public key": forge.hs256_with_public_key(good, key, kid=kid),
        "expired": forge.sign(forge.claims(sub, iat=now - 3600, nbf=now - 3600, exp=now - 1800), key, kid=kid),
        "not yet valid": forge.sign(forge.claims(sub, nbf=now + 600), key, kid=kid),
        "wrong iss": forge.sign(forge.claims(sub, iss="https://evil.example"), key, kid=kid),
        "wrong aud": forge.sign(forge.claims(sub, aud="other-api"), key, kid=kid),
        "wrong typ": forge.sign(good, key, kid=kid, typ="JWT"),
        "tampered": forge.tampered(forge.sign(good, key, kid=kid), role="admin"),
        "unknown kid": forge.sign(good, key, kid="rotated-away"),
        "another key": forge.sign(good, Ed25519PrivateKey.generate(), kid=kid),
        "refresh as access": signed_up[1]["refresh_token"],
    }
    assert client.call("GET /users/me", token=forge.sign(good, key, kid=kid))[0] == 200, "the control token is accepted"
    for name, token in attacks.items():
        status, _, body = client.call("GET /users/me", token=token)
        assert status == 401, name
        assert code(body) == ("token_expired" if name == "expired" else "invalid_token"), name


def test_tokens_and_passwords_never_reach_the_logs(
    client: Client, signed_up: tuple[str, dict[str, Any]], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The `quiz` logger writes its own JSON lines and does not propagate (quiz/logs.py); here it does, so
    # that caplog sees every record the service writes.
    monkeypatch.setattr(logging.getLogger("quiz"), "propagate", True)
    caplog.set_level(logging.DEBUG)
    tokens = client.login(signed_up[0])[2]
    client.call("GET /users/me", token=tokens["access_token"])
    client.call("GET /users/me", token="garbage.token.value")
    client.call("POST /auth/refresh", {"refresh_token": tokens["refresh_token"]})
    client.login(signed_up[0], "wrong password here")
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    for secret in (tokens["access_token"], tokens["refresh_token"], PASSWORD, "wrong password here", "garbage.token.value"):
        assert secret not in logged
