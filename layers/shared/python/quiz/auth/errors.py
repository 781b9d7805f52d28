"""The User service's errors: each a `quiz.errors` class with its own stable code (documented in
functions/auth/openapi.yaml). Token failures carry the RFC 6750 `WWW-Authenticate` challenge."""

from __future__ import annotations

from typing import Any, ClassVar

from quiz.errors import Conflict, Forbidden, Unauthorized, ValidationFailed


class InvalidUsername(ValidationFailed):
    code = "invalid_username"


class InvalidDisplayName(ValidationFailed):
    code = "invalid_display_name"


class DisplayNameRejected(ValidationFailed):
    """The display name passed the character rules but the abuse filter refused it."""

    code = "display_name_rejected"


class WeakPassword(ValidationFailed):
    code = "weak_password"


class UsernameTaken(Conflict):
    code = "username_taken"


class InvalidCredentials(Unauthorized):
    """Unknown username or wrong password: deliberately indistinguishable."""

    code = "invalid_credentials"


class TokenRejected(Unauthorized):
    """A bearer token is missing, malformed, forged, expired or revoked."""

    code = "invalid_token"
    challenge: ClassVar[str] = 'Bearer error="invalid_token"'

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details, headers={"WWW-Authenticate": self.challenge})


class MissingToken(TokenRejected):
    code = "missing_token"
    challenge = 'Bearer realm="quiz"'


class TokenExpired(TokenRejected):
    code = "token_expired"
    challenge = 'Bearer error="invalid_token", error_description="the token has expired"'


class TokenRevoked(TokenRejected):
    code = "token_revoked"


class RefreshTokenReused(TokenRejected):
    """A rotated refresh token came back: it was stolen or replayed, so its whole family is revoked."""

    code = "refresh_token_reused"


class AdminOnly(Forbidden):
    code = "admin_only"


class NotQuizHost(Forbidden):
    code = "not_quiz_host"
