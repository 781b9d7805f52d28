"""JWT access and refresh tokens, issued and verified per RFC 8725 (JWT Best Current Practices).

- One pinned algorithm, EdDSA (Ed25519): the verifier never lets the token choose (no `none`, no HS/RS
  confusion), and the header may only carry `alg`, `typ` and `kid` (no `jku`/`jwk`/`x5u`/`crit`).
- Explicit typing (RFC 8725 §3.11): access tokens are `at+jwt` (RFC 9068), refresh tokens `rt+jwt`,
  and refresh tokens are addressed to the issuer itself, so neither can be used as the other.
- `kid` selects the verification key among the configured ones, which is how keys rotate.
- `exp`, `iat`, `nbf`, `iss`, `aud`, `sub` and `jti` are required; a small leeway absorbs clock skew.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from quiz.auth.domain import Principal, Role, User
from quiz.auth.errors import TokenExpired, TokenRejected
from quiz.config import JwtSettings

ALGORITHM = "EdDSA"
ACCESS_TYP = "at+jwt"
REFRESH_TYP = "rt+jwt"
CLIENT_ID = "quiz-app"  # RFC 9068 requires client_id; every first-party client shares this one
MAX_TOKEN_LENGTH = 4096
_ALLOWED_HEADER = frozenset({"alg", "typ", "kid"})
_REQUIRED = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]


@dataclass(frozen=True)
class RefreshClaims:
    user_id: UUID
    session_id: UUID
    jti: UUID


@dataclass(frozen=True)
class AccessClaims:
    principal: Principal
    jti: UUID
    expires_at: int


class TokenService:
    """Signs tokens with the configured key and verifies them against every configured public key."""

    def __init__(self, settings: JwtSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._public_keys: dict[str, Ed25519PublicKey] = settings.require_public_keys()
        self._clock = clock

    @property
    def access_ttl(self) -> int:
        return self._settings.access_ttl

    @property
    def refresh_ttl(self) -> int:
        return self._settings.refresh_ttl

    @property
    def revocation_ttl(self) -> int:
        """How long a revoked session's access tokens can still look valid."""
        return self._settings.access_ttl + self._settings.leeway

    def issue_access(self, user: User, session_id: UUID) -> str:
        claims = {
            "aud": self._settings.audience,
            "sub": str(user.id),
            "client_id": CLIENT_ID,
            "sid": str(session_id),
            "name": user.display_name,
            "role": user.role.value,
        }
        return self._sign(claims, ACCESS_TYP, self._settings.access_ttl)

    def issue_refresh(self, user_id: UUID, session_id: UUID, jti: UUID) -> str:
        claims = {"aud": self._settings.issuer, "sub": str(user_id), "sid": str(session_id), "jti": str(jti)}
        return self._sign(claims, REFRESH_TYP, self._settings.refresh_ttl)

    def verify_access(self, token: str) -> AccessClaims:
        claims = self._verify(token, ACCESS_TYP, self._settings.audience)
        try:
            principal = Principal(
                user_id=UUID(claims["sub"]),
                display_name=str(claims["name"]),
                role=Role(claims["role"]),
                session_id=UUID(claims["sid"]),
            )
            return AccessClaims(principal=principal, jti=UUID(claims["jti"]), expires_at=int(claims["exp"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise TokenRejected("the access token's claims are malformed") from exc

    def verify_refresh(self, token: str) -> RefreshClaims:
        claims = self._verify(token, REFRESH_TYP, self._settings.issuer)
        try:
            return RefreshClaims(user_id=UUID(claims["sub"]), session_id=UUID(claims["sid"]), jti=UUID(claims["jti"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise TokenRejected("the refresh token's claims are malformed") from exc

    def _sign(self, claims: dict[str, Any], typ: str, ttl: int) -> str:
        key: Ed25519PrivateKey = self._settings.require_signing_key()
        now = int(self._clock())
        payload = {"iss": self._settings.issuer, "iat": now, "nbf": now, "exp": now + ttl, "jti": str(uuid.uuid4()), **claims}
        return jwt.encode(payload, key, algorithm=ALGORITHM, headers={"typ": typ, "kid": self._settings.signing_kid})

    def _verify(self, token: str, typ: str, audience: str) -> dict[str, Any]:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenRejected("the token is empty or too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise TokenRejected("the token is not a well-formed JWT") from exc
        if header.get("alg") != ALGORITHM or header.get("typ") != typ or not set(header) <= _ALLOWED_HEADER:
            raise TokenRejected("the token's header is not acceptable here")
        kid = header.get("kid")
        key = self._public_keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise TokenRejected("the token was signed with an unknown key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway,
                options={"require": _REQUIRED, "verify_signature": True},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired("the token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRejected("the token is invalid") from exc
        return claims
