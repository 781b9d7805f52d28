"""The User service through the emulator, over real sockets, with the real template.yaml:
sign up, log in, read the profile over HTTP; connect to the WebSocket with no, bad, expired and good
tokens (the upgrade fails with 401, a valid token for a deleted account with 403)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.exceptions import InvalidStatus

from local.product import ProductDidNotStart, local_product
from tests import auth_support as forge

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


class Emulator:
    def __init__(self, base: str, env: dict[str, str]) -> None:
        self.base, self.env = base, env
        self.ws = base.replace("http://", "ws://") + "/ws"

    def signing_key(self) -> tuple[Ed25519PrivateKey, str]:
        key = serialization.load_pem_private_key(self.env["JWT_PRIVATE_KEY"].encode(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key, next(iter(json.loads(self.env["JWT_PUBLIC_KEYS"])))


@pytest.fixture(scope="module")
def emulator(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The product's template on the emulator (no Kafka needed here); its log is kept to check for tokens."""
    logs = tmp_path_factory.mktemp("e2e-auth")
    try:
        with local_product(kafka=False, keep_dir=logs) as running:
            yield Emulator(running.base_url, running.keys)
    except ProductDidNotStart as exc:
        pytest.fail(str(exc))
    logged = "".join(p.read_text(errors="replace") for p in logs.glob("emulator-*.log"))
    assert logged, "the emulator wrote a log"
    assert "correct horse battery" not in logged, "a password reached the emulator's log"
    assert "eyJ" not in logged, "a JWT (every one starts with the base64 of '{\"') reached the emulator's log"


@pytest.fixture
def account(emulator: Emulator, database_url: str) -> Iterator[dict[str, Any]]:
    username = f"e2e{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=emulator.base, timeout=10) as http:
        signup = http.post("/auth/signup", json={"username": username, "password": "correct horse battery", "display_name": "Ana E2E"})
        assert signup.status_code == 201, signup.text
        login = http.post("/auth/login", json={"username": username, "password": "correct horse battery"})
        assert login.status_code == 200, login.text
    yield {"username": username, **login.json()}
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM users WHERE username = %s", (username,))


def test_signup_login_me_over_http(emulator: Emulator, account: dict[str, Any]) -> None:
    with httpx.Client(base_url=emulator.base, timeout=10) as http:
        me = http.get("/users/me", headers={"Authorization": f"Bearer {account['access_token']}"})
        assert me.status_code == 200
        assert (me.json()["username"], me.json()["display_name"]) == (account["username"], "Ana E2E")
        anonymous = http.get("/users/me")
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "missing_token"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        wrong = http.post("/auth/login", json={"username": account["username"], "password": "not the password"})
        assert (wrong.status_code, wrong.json()["error"]["code"]) == (401, "invalid_credentials")
        duplicate = http.post("/auth/signup", json={"username": account["username"], "password": "another good one", "display_name": "X"})
        assert (duplicate.status_code, duplicate.json()["error"]["code"]) == (409, "username_taken")


def test_openapi_document_includes_the_auth_fragment(emulator: Emulator) -> None:
    doc = httpx.get(f"{emulator.base}/openapi.json", timeout=10).json()
    assert doc["paths"]["/auth/login"]["post"]["responses"]["429"]["headers"]["Retry-After"]
    assert "refresh_token_reused" in doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]


async def _status_of_connect(url: str, headers: dict[str, str] | None = None) -> int:
    """101 if the upgrade succeeds (and the socket is usable), else the HTTP status the gateway answered."""
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
            await ws.send(json.dumps({"action": "ping"}))
            return 101
    except InvalidStatus as exc:
        return int(exc.response.status_code)


def connect_status(url: str, headers: dict[str, str] | None = None) -> int:
    return asyncio.run(_status_of_connect(url, headers))


def test_websocket_connect_with_no_bad_expired_and_good_tokens(emulator: Emulator, account: dict[str, Any]) -> None:
    key, kid = emulator.signing_key()
    now = int(time.time())
    expired = forge.sign(forge.claims(iat=now - 7200, nbf=now - 7200, exp=now - 3600), key, kid=kid)
    ghost = forge.sign(forge.claims(), key, kid=kid)  # valid signature, no such account

    assert connect_status(emulator.ws) == 401, "no token"
    assert connect_status(f"{emulator.ws}?token=not-a-jwt") == 401, "bad token"
    assert connect_status(f"{emulator.ws}?token={forge.unsigned(forge.claims(), kid=kid)}") == 401, "alg none"
    assert connect_status(f"{emulator.ws}?token={expired}") == 401, "expired token"
    assert connect_status(f"{emulator.ws}?token={account['refresh_token']}") == 401, "refresh token"
    assert connect_status(f"{emulator.ws}?token={ghost}") == 403, "valid token, deleted account: explicit Deny"
    assert connect_status(f"{emulator.ws}?token={account['access_token']}") == 101, "good token"


def test_websocket_connect_after_logout_is_refused(emulator: Emulator, account: dict[str, Any]) -> None:
    token = account["access_token"]
    assert connect_status(f"{emulator.ws}?token={token}") == 101
    logout = httpx.post(f"{emulator.base}/auth/logout", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert logout.status_code == 204
    assert connect_status(f"{emulator.ws}?token={token}") == 401
