"""Helpers shared by the User service's tests: development keys, token forgery for attack tests, and
API Gateway events built from the AWS samples in tests/events/ (the samples themselves stay untouched)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

EVENTS = Path(__file__).parent / "events"
ISSUER = "https://quiz.local/auth"
AUDIENCE = "quiz-api"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_env(key: Ed25519PrivateKey, kid: str = "test-key") -> dict[str, str]:
    """JWT_PRIVATE_KEY / JWT_PUBLIC_KEYS for `key` under key id `kid`."""
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {"JWT_PRIVATE_KEY": private_pem.decode(), "JWT_PUBLIC_KEYS": json.dumps({kid: public_pem(key).decode()})}


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def claims(sub: uuid.UUID | str | None = None, **overrides: Any) -> dict[str, Any]:
    """Access-token claims that would be accepted, with `overrides` (None removes a claim)."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(sub or uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "client_id": "quiz-app",
        "sid": str(uuid.uuid4()),
        "name": "Forged",
        "role": "player",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Ed25519PrivateKey, *, kid: str = "test-key", typ: str = "at+jwt", **headers: Any) -> str:
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid, "typ": typ, **headers})


def unsigned(payload: dict[str, Any], *, kid: str = "test-key", alg: str = "none") -> str:
    """`alg: none` (RFC 7519 unsecured JWT): header.payload. with an empty signature."""
    header = b64url(json.dumps({"alg": alg, "typ": "at+jwt", "kid": kid}).encode())
    return f"{header}.{b64url(json.dumps(payload).encode())}."


def hs256_with_public_key(payload: dict[str, Any], key: Ed25519PrivateKey, *, kid: str = "test-key") -> str:
    """The RS/HS confusion attack: an HMAC token whose secret is the server's public key PEM."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}).encode())
    body = b64url(json.dumps(payload).encode())
    mac = hmac.new(public_pem(key), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64url(mac)}"


def tampered(token: str, **changes: Any) -> str:
    """The same token and signature with its payload edited (e.g. role=admin)."""
    header, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    return f"{header}.{b64url(json.dumps(payload).encode())}.{signature}"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def http_event(
    route_key: str, body: dict[str, Any] | None = None, *, token: str | None = None, source_ip: str = "1.2.3.4"
) -> dict[str, Any]:
    """An HTTP API 2.0 event for `route_key` ("POST /auth/login"), from the AWS sample."""
    event = copy.deepcopy(load_event("http-api-v2"))
    method, path = route_key.split(" ", 1)
    event["routeKey"] = event["requestContext"]["routeKey"] = route_key
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["sourceIp"] = source_ip
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-type"] = "application/json"
        event["headers"]["content-length"] = str(len(event["body"]))
    if token is not None:
        event["headers"]["authorization"] = f"Bearer {token}"
    return event


def connect_event(*, query_token: str | None = None, header_token: str | None = None) -> dict[str, Any]:
    """A WebSocket `$connect` REQUEST-authorizer event from the AWS sample, with the token where asked."""
    event = copy.deepcopy(load_event("ws-authorizer-request"))
    event["headers"].pop("Authorization", None)
    event["multiValueHeaders"].pop("Authorization", None)
    if query_token is not None:
        event["queryStringParameters"] = {"token": query_token}
        event["multiValueQueryStringParameters"] = {"token": [query_token]}
    if header_token is not None:
        event["headers"]["Authorization"] = f"Bearer {header_token}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {header_token}"]
    return event
