"""API Gateway (HTTP API, payload 2.0) request parsing and response mapping, in one place."""

from __future__ import annotations

import base64
import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from quiz import budget, payload
from quiz.errors import BadRequest, PayloadOverLimit, QuizError, ValidationFailed
from quiz.events import HttpEvent

log = logging.getLogger("quiz.http")

Event = dict[str, Any]
Response = dict[str, Any]


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), default=str),
    }


def error_response(exc: QuizError) -> Response:
    """The one mapping of a `QuizError` to HTTP: its status, its body, and `Retry-After` when it carries one."""
    headers = dict(exc.headers)
    if exc.retry_after is not None:
        headers.setdefault("Retry-After", str(exc.retry_after))
    return json_response(exc.status, exc.to_body(), headers)


def json_body(event: HttpEvent | Event) -> dict[str, Any]:
    """The request body as a JSON object within `quiz.payload`'s limits, or a 400 saying what is wrong."""
    request = HttpEvent.of(event)
    raw = request.body
    if raw in (None, ""):
        return {}
    assert raw is not None
    if request.is_base64_encoded:
        if len(raw) > payload.MAX_BODY_BYTES * 4 // 3 + 4:
            raise PayloadOverLimit(
                f"request body is larger than {payload.MAX_BODY_BYTES} bytes",
                details={"reason": "too_large", "limit": payload.MAX_BODY_BYTES},
            )
        try:
            raw = base64.b64decode(raw).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest("request body is not valid UTF-8") from exc
    return payload.json_object(raw)


def header(event: HttpEvent | Event, name: str) -> str | None:
    """A request header by case-insensitive name (API Gateway lower-cases them in 2.0; 1.0 does not)."""
    return HttpEvent.of(event).header(name)


def path_param(event: HttpEvent | Event, name: str) -> str:
    value = HttpEvent.of(event).path_parameters.get(name)
    if not value:
        raise BadRequest(f"missing path parameter {name}")
    return payload.check_text(str(value), name)


def query_param(event: HttpEvent | Event, name: str) -> str | None:
    """A query string parameter, checked like every other string a client sends."""
    value = HttpEvent.of(event).query.get(name)
    return None if value is None else payload.check_text(str(value), name)


def text_field(body: dict[str, Any], name: str) -> str:
    """A required string field of a JSON body, or 400 `validation_failed` naming it."""
    value = body.get(name)
    if not isinstance(value, str):
        raise ValidationFailed(f"field {name!r} is required and must be a string", details={"field": name})
    return value


def api_handler(fn: Callable[[HttpEvent, Any], Response]) -> Callable[[Event, Any], Response]:
    """Run an HTTP API handler on the typed view of its event (`quiz.events.HttpEvent`); map `QuizError`
    to its response and anything unexpected to a 500 with no details on the wire.

    The call runs within `quiz.budget.invocation(context)`: waits for a dependency stay inside the
    function's remaining time, so a failing dependency is a prompt 503, never the runtime's timeout."""

    @functools.wraps(fn)
    def wrapper(event: Event, context: Any) -> Response:
        try:
            with budget.invocation(context):
                return fn(HttpEvent.of(event), context)
        except QuizError as exc:
            if exc.status >= 500:
                log.exception("dependency failure")
            return error_response(exc)
        except Exception:
            log.exception("unhandled error in %s", fn.__qualname__)
            return json_response(500, {"error": {"code": "internal_error", "message": "internal error; it has been logged"}})

    return wrapper
