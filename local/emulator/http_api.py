"""API Gateway HTTP API: route a request to the template's function, build its event, map its response.

Route priority follows API Gateway's: a route without path variables beats one with variables, which
beats a greedy `{proxy+}`; a specific method beats ANY; `$default` catches what nothing else matched.
Responses follow the payload format the route declares (2.0 with its inference when the function returns
no statusCode, or 1.0 with multiValueHeaders). A handler that raises, times out or returns a malformed
response is a 500 {"message":"Internal Server Error"}; the trace goes to the log, never to the client.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from local.emulator import events
from local.emulator.integration import IntegrationTimeout, within
from local.emulator.runtime import InvocationError
from local.emulator.template import HttpRoute

log = logging.getLogger("emulator.http")

AsyncInvoke = Callable[[str, Any], Awaitable[Any]]


@dataclass(frozen=True)
class CompiledRoute:
    route: HttpRoute
    pattern: re.Pattern[str] | None  # None for $default
    variables: int
    greedy: bool
    literal_segments: int

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.pattern is None:
            return {}
        if self.route.method not in ("ANY", method):
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in found.groupdict().items()}

    @property
    def priority(self) -> tuple[int, int, int, int, int]:
        """Lower sorts first: exact before variables before greedy, specific method before ANY, $default last."""
        return (
            1 if self.pattern is None else 0,
            1 if self.greedy else 0,
            self.variables,
            1 if self.route.method == "ANY" else 0,
            -self.literal_segments,
        )


def compile_route(route: HttpRoute) -> CompiledRoute:
    if route.path == "$default":
        return CompiledRoute(route, None, 0, False, 0)
    parts: list[str] = []
    variables = literal = 0
    greedy = False
    for segment in route.path.strip("/").split("/"):
        var = re.fullmatch(r"\{([A-Za-z0-9_.-]+)(\+?)\}", segment)
        if var and var.group(2):
            greedy = True
            parts.append(f"(?P<{_group(var.group(1))}>.+)")
        elif var:
            variables += 1
            parts.append(f"(?P<{_group(var.group(1))}>[^/]+)")
        else:
            literal += 1
            parts.append(re.escape(segment))
    pattern = re.compile("/" + "/".join(parts) if parts != [""] else "/")
    return CompiledRoute(route, pattern, variables, greedy, literal)


def _group(name: str) -> str:
    # Regex group names cannot hold "." or "-"; path parameters can. Keep a reversible encoding.
    return name.replace(".", "__dot__").replace("-", "__dash__")


def _ungroup(name: str) -> str:
    return name.replace("__dot__", ".").replace("__dash__", "-")


class HttpRouter:
    def __init__(self, routes: Iterable[HttpRoute]) -> None:
        self.routes = sorted((compile_route(r) for r in routes), key=lambda c: c.priority)

    def find(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        for compiled in self.routes:
            params = compiled.match(method, path)
            if params is not None:
                return compiled.route, {_ungroup(k): v for k, v in params.items()}
        return None


# ---------------------------------------------------------------------------- responses


class MalformedResponse(ValueError):
    """The function's return value is not a valid proxy response for its payload format."""


def _body_bytes(body: Any, is_b64: bool) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedResponse(f"body must be a string, got {type(body).__name__}")
    return base64.b64decode(body) if is_b64 else body.encode("utf-8")


def _status(result: Mapping[str, Any]) -> int:
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError) as exc:
        raise MalformedResponse(f"statusCode must be an integer, got {result.get('statusCode')!r}") from exc
    if not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode out of range: {status}")
    return status


def map_v2_response(result: Any) -> Response:
    """Payload 2.0: a dict with statusCode is used as is; anything else is JSON with status 200 (inference)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return Response(json.dumps(result), status_code=200, media_type="application/json")
    status = _status(result)
    content = _body_bytes(result.get("body"), bool(result.get("isBase64Encoded")))
    headers: list[tuple[str, str]] = [(str(k).lower(), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("set-cookie", str(c)) for c in result.get("cookies") or []]
    return _response(status, content, headers)


def map_v1_response(result: Any) -> Response:
    """Payload 1.0: statusCode required; headers and multiValueHeaders are merged."""
    if not (isinstance(result, dict) and "statusCode" in result):
        raise MalformedResponse("a payload format 1.0 response needs a statusCode")
    status = _status(result)
    content = _body_bytes(result.get("body"), bool(result.get("isBase64Encoded")))
    merged: dict[str, list[str]] = {}
    for key, value in (result.get("headers") or {}).items():
        merged[str(key).lower()] = [str(value)]
    for key, values in (result.get("multiValueHeaders") or {}).items():
        bucket = merged.setdefault(str(key).lower(), [])
        bucket.extend(str(v) for v in values if str(v) not in bucket)
    return _response(status, content, [(k, v) for k, vs in merged.items() for v in vs])


def _response(status: int, content: bytes, headers: list[tuple[str, str]]) -> Response:
    response = Response(content, status_code=status)
    if not any(k == "content-type" for k, _ in headers) and content:
        headers.append(("content-type", "application/json"))
    for key, value in headers:
        if key == "content-length":
            continue
        response.raw_headers.append((key.encode("latin-1"), value.encode("latin-1")))
    return response


NOT_FOUND = {"message": "Not Found"}
INTERNAL_ERROR = {"message": "Internal Server Error"}
SERVICE_UNAVAILABLE = {"message": "Service Unavailable"}  # the integration timeout passed (the function still runs)


# ---------------------------------------------------------------------------- the endpoint


class HttpApi:
    """The HTTP API of one template: routes, stage, and the runtime that runs the functions."""

    def __init__(self, routes: Iterable[HttpRoute], api: events.ApiIdentity, invoke: AsyncInvoke, server_port: int) -> None:
        self.router = HttpRouter(routes)
        self.api = api
        self.invoke = invoke
        self.server_port = server_port

    def _strip_stage(self, path: str) -> str:
        stage = self.api.stage
        if stage != "$default" and (path == f"/{stage}" or path.startswith(f"/{stage}/")):
            return path[len(stage) + 1 :] or "/"
        return path

    async def handle(self, request: Request) -> Response:
        scope = request.scope
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        path = path.split("?", 1)[0]
        method = request.method.upper()
        route_path = unquote(self._strip_stage(path))
        found = self.router.find(method, route_path)
        if found is None:
            return JSONResponse(NOT_FOUND, status_code=404)
        route, params = found
        client = scope.get("client") or ("127.0.0.1", 0)
        observed = events.Observed(
            method=method,
            raw_path=path,
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            source_ip=client[0],
            host_header=request.headers.get("host", ""),
            server_port=self.server_port,
            protocol=f"HTTP/{scope.get('http_version', '1.1')}",
            body=await request.body(),
        )
        if route.payload_format == "1.0":
            event = events.http_v1_event(observed, self.api, route.path, params)
        else:
            event = events.http_v2_event(observed, self.api, route.route_key, params)
        try:
            result = await within(self.invoke(route.function_id, event), route.function_id, route.timeout_s)
            return map_v1_response(result) if route.payload_format == "1.0" else map_v2_response(result)
        except IntegrationTimeout as exc:
            log.warning("%s %s: %s; answered 503", method, route.route_key, exc)
            return JSONResponse(SERVICE_UNAVAILABLE, status_code=503)
        except InvocationError as exc:
            log.error("%s %s -> %s failed: %s", method, route.route_key, route.function_id, exc)
        except MalformedResponse as exc:
            log.error("%s %s -> %s returned a malformed response: %s", method, route.route_key, route.function_id, exc)
        return JSONResponse(INTERNAL_ERROR, status_code=500)
