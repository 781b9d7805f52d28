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
    # Seconds a client should wait before retrying, when the error says so (HTTP `Retry-After`,
    # WebSocket `retry_after_ms`); None: retrying will not help, or there is nothing to say.
    retry_after: int | None = None

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

    def to_frame(self, action: str | None = None) -> dict[str, Any]:
        """The WebSocket error frame: the HTTP body's `error` fields, plus `retry_after_ms` when retrying helps."""
        frame: dict[str, Any] = {"type": "error"}
        if action is not None:
            frame["action"] = action
        frame.update(self.to_body()["error"])
        if self.retry_after is not None:
            frame["retry_after_ms"] = self.retry_after * 1000
        return frame


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
    """A backing service (database, cache, broker) failed or did not answer within its short timeout.

    Always 503 `service_unavailable` with a retry hint, so a client backs off instead of hammering a
    recovering service: `Retry-After` in HTTP, `retry_after_ms` in a WebSocket error frame."""

    status = 503
    code = "service_unavailable"
    RETRY_AFTER_S: ClassVar[int] = 2

    def __init__(self, message: str, *, retry_after: int | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = self.RETRY_AFTER_S if retry_after is None else retry_after
