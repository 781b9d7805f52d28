"""API Gateway (HTTP API, payload 2.0) request parsing and response mapping, in one place."""

from __future__ import annotations

import base64
import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from quiz import budget, payload
from quiz.errors import BadRequest, PayloadOverLimit, QuizError

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


def json_body(event: Event) -> dict[str, Any]:
    """The request body as a JSON object within `quiz.payload`'s limits, or a 400 saying what is wrong."""
    raw = event.get("body")
    if raw in (None, ""):
        return {}
    if event.get("isBase64Encoded"):
        if len(raw) > payload.MAX_BODY_BYTES * 4 // 3 + 4:
            raise PayloadOverLimit(
                f"request body is larger than {payload.MAX_BODY_BYTES} bytes",
                details={"reason": "too_large", "limit": payload.MAX_BODY_BYTES},
            )
        try:
            raw = base64.b64decode(raw).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest("request body is not valid UTF-8") from exc
    return payload.json_object(str(raw))


def header(event: Event, name: str) -> str | None:
    """A request header by case-insensitive name (API Gateway lower-cases them in 2.0; 1.0 does not)."""
    headers = event.get("headers") or {}
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return None


def path_param(event: Event, name: str) -> str:
    value = (event.get("pathParameters") or {}).get(name)
    if not value:
        raise BadRequest(f"missing path parameter {name}")
    return payload.check_text(str(value), name)


def query_param(event: Event, name: str) -> str | None:
    """A query string parameter, checked like every other string a client sends."""
    value = (event.get("queryStringParameters") or {}).get(name)
    return None if value is None else payload.check_text(str(value), name)


def api_handler(fn: Callable[[Event, Any], Response]) -> Callable[[Event, Any], Response]:
    """Map `QuizError` to its response and anything unexpected to a 500 with no details on the wire.

    The call runs within `quiz.budget.invocation(context)`: waits for a dependency stay inside the
    function's remaining time, so a failing dependency is a prompt 503, never the runtime's timeout."""

    @functools.wraps(fn)
    def wrapper(event: Event, context: Any) -> Response:
        try:
            with budget.invocation(context):
                return fn(event, context)
        except QuizError as exc:
            if exc.status >= 500:
                log.exception("dependency failure")
            return error_response(exc)
        except Exception:
            log.exception("unhandled error in %s", fn.__qualname__)
            return json_response(500, {"error": {"code": "internal_error", "message": "internal error; it has been logged"}})

    return wrapper
