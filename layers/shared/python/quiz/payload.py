"""The limits every client payload meets before any handler looks at it, in one place.

JSON from a client is bounded while it is parsed (size, nesting depth, number length) so that no
input can make the parser itself fail with a 500 (Python's 4,300-digit integer limit, RecursionError),
and every string in it is checked for what PostgreSQL and UTF-8 cannot carry (NUL, an unpaired
UTF-16 surrogate). Used for HTTP bodies, query parameters, path parameters and WebSocket frames.
Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from quiz.errors import BadRequest, PayloadOverLimit, ValidationFailed

MAX_BODY_BYTES = 1_048_576  # an HTTP request body; a WebSocket message is bounded first by the gateway (128 KB)
MAX_DEPTH = 32  # nesting of arrays and objects; the deepest legitimate body (a quiz) is 4
MAX_INTEGER_DIGITS = 20  # every integer the API takes fits in 64 bits
MAX_NUMBER_CHARS = 40  # a non-integer number as written (digits, sign, point, exponent)
MAX_KEY_CHARS = 128  # a request key: Idempotency-Key, a WebSocket answer's request_id

# A JSON string token (so that brackets inside strings are not counted) or a bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_SURROGATE_OR_NUL = re.compile("[\x00\ud800-\udfff]")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII | re.IGNORECASE)


def _too_long(raw: str, max_bytes: int) -> bool:
    if len(raw) > max_bytes:  # every character is at least one byte
        return True
    return len(raw) * 4 > max_bytes and len(raw.encode("utf-8", "surrogatepass")) > max_bytes


def check_depth(raw: str, max_depth: int = MAX_DEPTH) -> None:
    """A 400 when arrays and objects nest deeper than `max_depth`, found without parsing."""
    depth = 0
    for token in _TOKENS.finditer(raw):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise PayloadOverLimit(f"JSON nests deeper than {max_depth} levels", details={"reason": "too_deep", "limit": max_depth})
        elif bracket in ("]", "}"):
            depth -= 1


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise PayloadOverLimit(
            f"JSON integers may have at most {MAX_INTEGER_DIGITS} digits",
            details={"reason": "integer_too_long", "limit": MAX_INTEGER_DIGITS},
        )
    return int(text)


def _number(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARS else math.inf
    if not math.isfinite(value):
        raise PayloadOverLimit(
            f"JSON numbers must be finite and at most {MAX_NUMBER_CHARS} characters long",
            details={"reason": "number_too_long", "limit": MAX_NUMBER_CHARS},
        )
    return value


def _constant(name: str) -> Any:
    raise BadRequest(f"{name} is not JSON", details={"reason": "not_json"})


def loads(raw: str, *, max_bytes: int = MAX_BODY_BYTES, what: str = "request body") -> Any:
    """Parse client JSON within the limits above; any problem is a 400 `bad_request` saying which."""
    if _too_long(raw, max_bytes):
        raise PayloadOverLimit(f"{what} is larger than {max_bytes} bytes", details={"reason": "too_large", "limit": max_bytes})
    check_depth(raw)
    try:
        return json.loads(raw, parse_int=_integer, parse_float=_number, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc.msg} at position {exc.pos}", details={"reason": "not_json"}) from exc
    except RecursionError as exc:  # cannot happen after check_depth; kept so that it can never become a 500
        raise PayloadOverLimit(f"{what} nests too deeply", details={"reason": "too_deep", "limit": MAX_DEPTH}) from exc


def bad_character(text: str) -> str | None:
    """Why `text` cannot be stored ("nul_character", "unpaired_surrogate"), or None."""
    found = _SURROGATE_OR_NUL.search(text)
    if found is None:
        return None
    return "nul_character" if found.group() == "\x00" else "unpaired_surrogate"


def check_text(text: str, field: str) -> str:
    """`text` unchanged, or a 400 `validation_failed` naming `field` when it holds NUL or a lone surrogate."""
    reason = bad_character(text)
    if reason is not None:
        what = "a NUL character" if reason == "nul_character" else "an unpaired UTF-16 surrogate"
        raise ValidationFailed(f"{field or 'value'} contains {what}", details={"field": field, "reason": reason})
    return text


def check_strings(value: Any, path: str = "") -> None:
    """Every string (and key) inside a parsed JSON value passes `check_text`; the error names its path,
    e.g. `questions[0].choices[1]`."""
    if isinstance(value, str):
        check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            check_text(key, name)
            check_strings(item, name)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_strings(item, f"{path}[{i}]")


def json_object(raw: str, *, max_bytes: int = MAX_BODY_BYTES, what: str = "request body") -> dict[str, Any]:
    """A JSON object from a client: parsed within limits, every string checked."""
    body = loads(raw, max_bytes=max_bytes, what=what)
    if not isinstance(body, dict):
        raise BadRequest(f"{what} must be a JSON object", details={"reason": "not_object"})
    check_strings(body)
    return body


def request_key(value: Any, field: str) -> str:
    """A client's key for a request (Idempotency-Key, request_id): 1 to 128 printable characters (so no
    NUL, no lone surrogate), checked before anything is looked up by it; a 400 `bad_request` naming it."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_KEY_CHARS or not value.isprintable():
        raise BadRequest(f"{field} must be 1 to {MAX_KEY_CHARS} printable characters", details={"field": field})
    return value


def canonical_uuid(value: str, field: str) -> str:
    """A UUID in the one form every store accepts (36 characters, hyphenated hex), lower-cased; a 400
    naming `field` for anything else (including forms `uuid.UUID` accepts: `urn:uuid:`, braces, no hyphens)."""
    if not _UUID.fullmatch(value):
        raise ValidationFailed(f"{field} must be a UUID like 3f0c9a4e-1b7d-4c55-9e0a-5d7f2b8c6e11", details={"field": field})
    return value.lower()


def integer_param(raw: str, field: str, lo: int, hi: int) -> int:
    """An integer query or path parameter from `lo` to `hi`, or a 400 naming it (never a ValueError)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_INTEGER_DIGITS or not lo <= int(raw) <= hi:
        raise ValidationFailed(f"{field} must be an integer from {lo} to {hi}", details={"field": field})
    return int(raw)
