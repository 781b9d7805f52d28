"""One vocabulary for the whole API (issue 12): `score` for a player's points so far, `player_count` for the
number of players, durations in milliseconds named `*_ms`, and one error object for HTTP and WebSocket.

Checked on the documents (the OpenAPI document the emulator serves and docs/asyncapi.yaml, whose schemas
the end-to-end tests hold every frame to) and on the one place errors are shaped (`QuizError`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from quiz.errors import BadRequest, DependencyUnavailable, NotFound, QuizError, TooManyRequests
from quiz.http import error_response
from tests.asyncapi_check import DOCUMENT, FrameContract
from tests.unit.docs_support import document

# Names the API no longer uses, and what replaced them.
RETIRED = {
    "total": "score",
    "participants": "player_count (a number) or players (the list)",
    "participant_count": "player_count",
    "participant": "player",
    "time_limit_s": "time_limit_ms",
    "expires_in": "expires_in_ms",
    "refresh_expires_in": "refresh_expires_in_ms",
    "retry_after": "error.details.retry_after_ms",
}
DURATION = re.compile(r"(^|_)(s|sec|secs|seconds|in|after|timeout|ttl|duration|delay|interval)$")


def field_names(node: Any) -> Iterator[str]:
    """Every property name, required name and example key of a document, however deep."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                yield from value
            elif key == "required" and isinstance(value, list):
                yield from (v for v in value if isinstance(v, str))
            elif key in ("example", "payload") and isinstance(value, dict):
                yield from _keys(value)
            yield from field_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from field_names(item)


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from _keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


def documents() -> dict[str, dict[str, Any]]:
    return {"openapi": document(), "asyncapi": yaml.safe_load(DOCUMENT.read_text())}


@pytest.mark.parametrize("name", ["openapi", "asyncapi"])
def test_no_retired_name_is_in_the_documents(name: str) -> None:
    names = set(field_names(documents()[name]))
    assert {"score", "player_count"} <= names, "the new names are there"
    assert not names & set(RETIRED), {n: RETIRED[n] for n in names & set(RETIRED)}


@pytest.mark.parametrize("name", ["openapi", "asyncapi"])
def test_every_duration_field_is_in_milliseconds(name: str) -> None:
    unitless = sorted({n for n in field_names(documents()[name]) if DURATION.search(n)})
    assert not unitless, f"durations are `*_ms`: {unitless}"


def test_the_players_routes_replace_the_participants_routes() -> None:
    paths = set(document()["paths"])
    assert {"/quizzes/{quiz_id}/players", "/quizzes/{quiz_id}/players/{user_id}"} <= paths
    assert not [p for p in paths if "participant" in p]


def test_the_websocket_error_object_is_the_http_error_object() -> None:
    """The error frame's `error` is the HTTP body's `error`, field for field, in the AsyncAPI document too."""
    asyncapi = yaml.safe_load(DOCUMENT.read_text())["components"]["schemas"]
    assert asyncapi["ErrorFrame"]["properties"]["error"] == {"$ref": "#/components/schemas/Error"}
    http_error = document()["components"]["schemas"]["QuizError"]["properties"]["error"]
    assert set(asyncapi["Error"]["properties"]) == set(http_error["properties"]) == {"code", "message", "details"}
    assert asyncapi["Error"]["required"] == http_error["required"] == ["code", "message"]


@pytest.mark.parametrize(
    "error",
    [
        BadRequest("send quiz_id, question_id and answer"),
        NotFound("no quiz with id K7Q2MX", details={"quiz_id": "K7Q2MX"}),
        DependencyUnavailable("the database is unavailable; try again shortly"),
        TooManyRequests("too many failed logins; try again later", retry_after=60, details={"scope": "username"}),
    ],
    ids=lambda e: e.code,
)
def test_an_error_has_one_shape_over_http_and_websocket(error: QuizError) -> None:
    response = error_response(error)
    body = json.loads(response["body"])
    frame = error.to_frame("answer")
    assert set(body) == {"error"} and set(frame) == {"type", "action", "error"}
    assert frame["type"] == "error" and frame["error"] == body["error"]
    assert body["error"]["code"] == error.code and body["error"]["message"] == error.message
    if error.code != "rate_limited":  # the login throttle: HTTP only
        assert not FrameContract.load().received_errors(frame), "the frame follows the AsyncAPI document"
    if error.retry_after is not None:
        # The hint sits in the same place in both; the HTTP header stays in seconds, as HTTP defines it.
        assert body["error"]["details"]["retry_after_ms"] == error.retry_after * 1000
        assert response["headers"]["Retry-After"] == str(error.retry_after)
    else:
        assert "retry_after_ms" not in body["error"].get("details", {})
        assert "Retry-After" not in response["headers"]


def test_an_error_without_details_has_no_details_object() -> None:
    assert BadRequest("no").to_frame() == {"type": "error", "error": {"code": "bad_request", "message": "no"}}
