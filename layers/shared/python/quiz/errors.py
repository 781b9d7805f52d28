"""One error hierarchy for the whole quiz. Each error carries its HTTP status and a stable code.

Handlers never build error responses themselves: `quiz.http` maps any `QuizError` to a response
once, and anything else to a 500 without details on the wire.
"""

from __future__ import annotations

from typing import Any, ClassVar


class QuizError(Exception):
    """A failure the client can act on (4xx) or one of ours (5xx), with a machine-readable code."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": {"code": self.code, "message": self.message}}
        if self.details:
            body["error"]["details"] = self.details
        return body


class BadRequest(QuizError):
    status = 400
    code = "bad_request"


class PayloadOverLimit(BadRequest):
    """JSON past one of `quiz.payload`'s limits (size, depth, number length); `details.reason` says which."""


class ValidationFailed(BadRequest):
    code = "validation_failed"


class Unauthorized(QuizError):
    status = 401
    code = "unauthorized"


class Forbidden(QuizError):
    status = 403
    code = "forbidden"


class NotFound(QuizError):
    status = 404
    code = "not_found"


class Conflict(QuizError):
    status = 409
    code = "conflict"


class TooManyRequests(QuizError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details={"retry_after": retry_after, **(details or {})}, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class DependencyUnavailable(QuizError):
    """A backing service (database, cache, broker) failed; the client may retry later."""

    status = 503
    code = "service_unavailable"
