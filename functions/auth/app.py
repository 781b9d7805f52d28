"""User service HTTP routes (HTTP API 2.0): sign-up, login, refresh, logout and the caller's profile.

Glue only: parse the event, call `AuthService`, map the result. Errors are mapped by `api_handler`.
Bodies and headers carry passwords and tokens, so nothing here logs an event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quiz.auth import authenticate
from quiz.bootstrap import auth_service
from quiz.errors import NotFound
from quiz.events import HttpEvent
from quiz.http import Response, api_handler, json_body, json_response, text_field
from quiz.observability import traced_handler

NO_STORE = {"cache-control": "no-store"}  # RFC 6749 §5.1: token responses must not be cached


def signup(event: HttpEvent) -> Response:
    body = json_body(event)
    result = auth_service().signup(text_field(body, "username"), text_field(body, "password"), text_field(body, "display_name"))
    return json_response(201, result.to_body(), NO_STORE)


def login(event: HttpEvent) -> Response:
    body = json_body(event)
    result = auth_service().login(text_field(body, "username"), text_field(body, "password"), event.source_ip or "unknown")
    return json_response(200, result.to_body(), NO_STORE)


def refresh(event: HttpEvent) -> Response:
    return json_response(200, auth_service().refresh(text_field(json_body(event), "refresh_token")).to_body(), NO_STORE)


def logout(event: HttpEvent) -> Response:
    auth_service().logout(authenticate(event), everywhere=json_body(event).get("everywhere") is True)
    return {"statusCode": 204, "headers": NO_STORE, "body": ""}


def get_me(event: HttpEvent) -> Response:
    return json_response(200, auth_service().profile(authenticate(event)).to_public())


def patch_me(event: HttpEvent) -> Response:
    principal = authenticate(event)
    return json_response(200, auth_service().rename(principal, text_field(json_body(event), "display_name")).to_public())


ROUTES: dict[str, Callable[[HttpEvent], Response]] = {
    "POST /auth/signup": signup,
    "POST /auth/login": login,
    "POST /auth/refresh": refresh,
    "POST /auth/logout": logout,
    "GET /users/me": get_me,
    "PATCH /users/me": patch_me,
}


@traced_handler("AuthFunction")
@api_handler
def handler(event: HttpEvent, context: Any) -> Response:
    route = ROUTES.get(event.route_key)
    if route is None:
        raise NotFound(f"no route {event.route_key!r} in the User service")
    return route(event)
