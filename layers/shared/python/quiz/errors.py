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
    # Seconds a client should wait before retrying, when the error says so: the HTTP `Retry-After`
    # header (seconds, as HTTP defines it) and `error.details.retry_after_ms` in both the HTTP body and
    # the WebSocket error frame; None: retrying will not help, or there is nothing to say.
    retry_after: int | None = None

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def to_body(self) -> dict[str, Any]:
        """The HTTP error body: `{"error": {"code", "message", "details"?}}`."""
        return {"error": self.error_object()}

    def to_frame(self, action: str | None = None) -> dict[str, Any]:
        """The WebSocket error frame: `{"type": "error", "action"?, "error": ...}` with the very `error`
        object the HTTP body carries for the same error."""
        frame: dict[str, Any] = {"type": "error"}
        if action is not None:
            frame["action"] = action
        frame["error"] = self.error_object()
        return frame

    def error_object(self) -> dict[str, Any]:
        """`code`, `message` and, when there is any, `details`; a retry hint is `details.retry_after_ms`."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        details = dict(self.details)
        if self.retry_after is not None:
            details["retry_after_ms"] = self.retry_after * 1000
        if details:
            error["details"] = details
        return error


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
        super().__init__(message, details=details, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class DependencyUnavailable(QuizError):
    """A backing service (database, cache, broker) failed or did not answer within its short timeout.

    Always 503 `service_unavailable` with a retry hint, so a client backs off instead of hammering a
    recovering service: `Retry-After` in HTTP, `error.details.retry_after_ms` in the body and the frame."""

    status = 503
    code = "service_unavailable"
    RETRY_AFTER_S: ClassVar[int] = 2

    def __init__(self, message: str, *, retry_after: int | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = self.RETRY_AFTER_S if retry_after is None else retry_after
