"""JWT issue/verify (RFC 8725): every attack in the issue is rejected; good tokens round-trip."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from quiz.auth.domain import Role, User
from quiz.auth.errors import TokenExpired, TokenRejected
from quiz.auth.tokens import TokenService
from quiz.config import JwtSettings
from tests import auth_support as forge

KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(JwtSettings.from_env(forge.key_env(KEY), "test"))


def without(claim: str) -> dict[str, Any]:
    return {k: v for k, v in forge.claims().items() if k != claim}


def user() -> User:
    now = datetime.now(UTC)
    return User(uuid.uuid4(), "ana", "Ana", "hash", Role.PLAYER, now, now)


def test_access_token_round_trips_into_a_principal(tokens: TokenService) -> None:
    account, session = user(), uuid.uuid4()
    claims = tokens.verify_access(tokens.issue_access(account, session))
    assert claims.principal.user_id == account.id
    assert (claims.principal.display_name, claims.principal.role, claims.principal.session_id) == ("Ana", Role.PLAYER, session)
    assert 0 < claims.expires_at - time.time() <= 900


def test_refresh_token_round_trips(tokens: TokenService) -> None:
    user_id, session, jti = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    claims = tokens.verify_refresh(tokens.issue_refresh(user_id, session, jti))
    assert (claims.user_id, claims.session_id, claims.jti) == (user_id, session, jti)


def test_refresh_token_is_not_an_access_token_and_vice_versa(tokens: TokenService) -> None:
    refresh = tokens.issue_refresh(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    access = tokens.issue_access(user(), uuid.uuid4())
    with pytest.raises(TokenRejected):
        tokens.verify_access(refresh)
    with pytest.raises(TokenRejected):
        tokens.verify_refresh(access)
    # Even relabelled as at+jwt, a refresh token is addressed to the issuer, not the API audience.
    with pytest.raises(TokenRejected):
        tokens.verify_access(forge.sign(forge.claims(aud=forge.ISSUER), KEY, typ="at+jwt"))


def test_a_good_forged_token_is_accepted(tokens: TokenService) -> None:
    """The forgery helper itself is sound: with the real key, its tokens pass (so the attacks below fail for their reason)."""
    assert tokens.verify_access(forge.sign(forge.claims(), KEY)).principal.display_name == "Forged"


ATTACKS: dict[str, Callable[[], str]] = {
    "alg none": lambda: forge.unsigned(forge.claims()),
    "alg None (case)": lambda: forge.unsigned(forge.claims(), alg="None"),
    "HS256 signed with the public key": lambda: forge.hs256_with_public_key(forge.claims(), KEY),
    "not yet valid": lambda: forge.sign(forge.claims(nbf=int(time.time()) + 3600), KEY),
    "issued in the future": lambda: forge.sign(forge.claims(iat=int(time.time()) + 3600), KEY),
    "wrong issuer": lambda: forge.sign(forge.claims(iss="https://evil.example"), KEY),
    "wrong audience": lambda: forge.sign(forge.claims(aud="another-api"), KEY),
    "wrong typ": lambda: forge.sign(forge.claims(), KEY, typ="JWT"),
    "refresh typ": lambda: forge.sign(forge.claims(), KEY, typ="rt+jwt"),
    "unknown kid": lambda: forge.sign(forge.claims(), KEY, kid="other-key"),
    "no kid": lambda: forge.sign(forge.claims(), KEY, kid=""),
    "signed by another key with our kid": lambda: forge.sign(forge.claims(), Ed25519PrivateKey.generate()),
    "tampered payload": lambda: forge.tampered(forge.sign(forge.claims(), KEY), role="admin"),
    "embedded jwk header": lambda: forge.sign(forge.claims(), KEY, jwk={"kty": "OKP"}),
    "jku header": lambda: forge.sign(forge.claims(), KEY, jku="https://evil.example/keys"),
    "missing exp": lambda: forge.sign(forge.claims(exp=None), KEY),
    "missing sub": lambda: forge.sign(without("sub"), KEY),
    "missing jti": lambda: forge.sign(forge.claims(jti=None), KEY),
    "missing nbf": lambda: forge.sign(forge.claims(nbf=None), KEY),
    "sub not a user id": lambda: forge.sign(forge.claims(sub="robert'); drop table users"), KEY),
    "unknown role": lambda: forge.sign(forge.claims(role="superuser"), KEY),
    "garbage": lambda: "not.a.jwt",
    "empty": lambda: "",
    "huge": lambda: "a" * 10_000,
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_attacks_are_rejected(tokens: TokenService, attack: str) -> None:
    with pytest.raises(TokenRejected) as caught:
        tokens.verify_access(ATTACKS[attack]())
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")


def test_expired_token_says_so(tokens: TokenService) -> None:
    past = int(time.time()) - 3600
    with pytest.raises(TokenExpired) as caught:
        tokens.verify_access(forge.sign(forge.claims(iat=past, nbf=past, exp=past + 900), KEY))
    assert caught.value.code == "token_expired"


def test_small_leeway_absorbs_clock_skew_only(tokens: TokenService) -> None:
    now = int(time.time())
    tokens.verify_access(forge.sign(forge.claims(exp=now - 5), KEY))
    with pytest.raises(TokenExpired):
        tokens.verify_access(forge.sign(forge.claims(exp=now - 120), KEY))


def test_rotation_old_key_still_verifies_new_key_signs() -> None:
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    old_only = TokenService(JwtSettings.from_env(forge.key_env(old, "2025"), "test"))
    token_from_old = old_only.issue_access(user(), uuid.uuid4())
    env = forge.key_env(new, "2026")
    env["JWT_PUBLIC_KEYS"] = env["JWT_PUBLIC_KEYS"][:-1] + ', "2025": ' + json.dumps(forge.public_pem(old).decode()) + "}"
    rotated = TokenService(JwtSettings.from_env(env, "test"))
    assert rotated.verify_access(token_from_old).principal.display_name == "Ana"
    header = jwt.get_unverified_header(rotated.issue_access(user(), uuid.uuid4()))
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": "2026"}
