"""The OpenAPI document matches behaviour: every route is driven through the running product as its users
would (the happy path, then the mistakes: no token, a bad body, someone else's quiz, an unknown id, the
wrong moment) and every status and error code the service answers must be declared for that route in
/openapi.json, with a body that fits the schema declared for it, in a media type the response declares
(the report also answers text/csv).

A route's error codes are the backticked codes in the description of the response for that status
(DESIGN: Public interfaces); a `$ref` response is followed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.e2e.conftest import Product
from tests.support import QUIZ

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"


@dataclass
class Observed:
    method: str
    route: str  # the OpenAPI path template
    status: int
    code: str | None
    body: Any
    media_type: str = "application/json"


@dataclass
class Walk:
    base: str
    seen: list[Observed] = field(default_factory=list)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def call(self, method: str, route: str, token: str | None = None, *, path: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = self.base + route.format(**(path or {}))
        reply = self.http.request(method, url, headers=headers, **kw)
        try:
            body = reply.json() if reply.content else None
        except ValueError:
            body = reply.text
        code = body["error"].get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
        media_type = reply.headers.get("content-type", "application/json").split(";")[0].strip()
        self.seen.append(Observed(method.lower(), route, reply.status_code, code, body, media_type))
        return reply

    def signup(self, name: str) -> str:
        """A new user's access token."""
        body = self.call(
            "POST", "/auth/signup", json={"username": f"c{uuid.uuid4().hex[:12]}", "password": PASSWORD, "display_name": name}
        ).json()
        return str(body.get("tokens", body)["access_token"])


@pytest.fixture(scope="module")
def walk(product: Product) -> Iterator[Walk]:
    w = Walk(product.base_url)
    yield w
    w.http.close()


def drive_every_route(w: Walk) -> None:
    # ---- auth
    username = f"c{uuid.uuid4().hex[:12]}"
    w.call("POST", "/auth/signup", json={"username": username, "password": PASSWORD, "display_name": "Ana"})
    w.call("POST", "/auth/signup", json={"username": username, "password": PASSWORD, "display_name": "Ana"})  # taken
    w.call("POST", "/auth/signup", json={"username": "x", "password": "short", "display_name": ""})
    w.call("POST", "/auth/signup", content=b"not json", headers={"Content-Type": "application/json"})
    login = w.call("POST", "/auth/login", json={"username": username, "password": PASSWORD}).json()
    w.call("POST", "/auth/login", json={"username": username, "password": "wrong password here"})
    w.call("POST", "/auth/login", json={"username": username})
    tokens = login.get("tokens", login)
    access, refresh = tokens["access_token"], tokens["refresh_token"]
    w.call("GET", "/users/me", access)
    w.call("GET", "/users/me")
    w.call("GET", "/users/me", "not-a-token")
    w.call("PATCH", "/users/me", access, json={"display_name": "Ana B."})
    w.call("PATCH", "/users/me", access, json={"display_name": ""})
    renewed = w.call("POST", "/auth/refresh", json={"refresh_token": refresh}).json()
    w.call("POST", "/auth/refresh", json={"refresh_token": refresh})  # reused: the family is revoked
    w.call("POST", "/auth/refresh", json={})
    renewed_tokens = renewed.get("tokens", renewed)
    w.call("POST", "/auth/logout", renewed_tokens.get("access_token", access))
    w.call("POST", "/auth/logout")

    # ---- quizzes
    host = w.signup("Host")
    ana = w.signup("Ana")
    bo = w.signup("Bo")
    outsider = w.signup("Eve")
    quiz_id = w.call("POST", "/quizzes", host, json=QUIZ).json()["quiz_id"]
    q = {"quiz_id": quiz_id}
    w.call("POST", "/quizzes", host, json={"title": "", "questions": []})
    w.call("POST", "/quizzes", json=QUIZ)
    w.call("GET", "/quizzes", host)
    w.call("GET", "/quizzes")
    w.call("GET", "/quizzes/{quiz_id}", host, path=q)
    w.call("GET", "/quizzes/{quiz_id}", host, path={"quiz_id": "ZZZZZZ"})
    w.call("PUT", "/quizzes/{quiz_id}", host, path=q, json=QUIZ)
    w.call("PUT", "/quizzes/{quiz_id}", outsider, path=q, json=QUIZ)
    w.call("PUT", "/quizzes/{quiz_id}", host, path=q, json={"title": "x"})
    w.call("POST", "/quizzes/{quiz_id}/join", ana, path=q)
    w.call("POST", "/quizzes/{quiz_id}/join", bo, path=q)
    w.call("POST", "/quizzes/{quiz_id}/join", host, path=q)  # the host cannot play
    w.call("POST", "/quizzes/{quiz_id}/join", ana, path={"quiz_id": "ZZZZZZ"})
    w.call("GET", "/quizzes/{quiz_id}/players", host, path=q)
    w.call("GET", "/quizzes/{quiz_id}/players", outsider, path=q)
    w.call("POST", "/quizzes/{quiz_id}/lock", host, path=q)
    w.call("POST", "/quizzes/{quiz_id}/join", outsider, path=q)  # locked
    w.call("POST", "/quizzes/{quiz_id}/lock", outsider, path=q)
    w.call("POST", "/quizzes/{quiz_id}/unlock", host, path=q)
    w.call("POST", "/quizzes/{quiz_id}/answers", ana, path=q, json={"question_id": 1, "answer": 0}, headers={"Idempotency-Key": "k-early"})
    w.call("POST", "/quizzes/{quiz_id}/next", host, path=q)  # not started
    w.call("POST", "/quizzes/{quiz_id}/start", outsider, path=q)
    w.call("POST", "/quizzes/{quiz_id}/start", host, path=q)
    w.call("POST", "/quizzes/{quiz_id}/start", host, path=q)  # already running
    w.call("PUT", "/quizzes/{quiz_id}", host, path=q, json=QUIZ)  # no edits once started
    key = str(uuid.uuid4())
    w.call("POST", "/quizzes/{quiz_id}/answers", ana, path=q, json={"question_id": 1, "answer": 0}, headers={"Idempotency-Key": key})
    w.call("POST", "/quizzes/{quiz_id}/answers", ana, path=q, json={"question_id": 1, "answer": 0}, headers={"Idempotency-Key": key})
    w.call("POST", "/quizzes/{quiz_id}/answers", ana, path=q, json={"question_id": 1, "answer": 1}, headers={"Idempotency-Key": key})
    w.call("POST", "/quizzes/{quiz_id}/answers", ana, path=q, json={"question_id": 1, "answer": 0}, headers={"Idempotency-Key": "k2"})
    w.call("POST", "/quizzes/{quiz_id}/answers", ana, path=q, json={"question_id": 1, "answer": 0})
    w.call("POST", "/quizzes/{quiz_id}/answers", ana, path=q, json={"question_id": 99, "answer": 0}, headers={"Idempotency-Key": "k3"})
    w.call("POST", "/quizzes/{quiz_id}/answers", ana, path=q, json={"question_id": 2, "answer": 0}, headers={"Idempotency-Key": "k4"})
    w.call("POST", "/quizzes/{quiz_id}/answers", bo, path=q, json={"question_id": 1, "answer": "cat"}, headers={"Idempotency-Key": "k5"})
    w.call("POST", "/quizzes/{quiz_id}/answers", outsider, path=q, json={"question_id": 1, "answer": 0}, headers={"Idempotency-Key": "k6"})
    w.call(
        "POST",
        "/quizzes/{quiz_id}/answers",
        ana,
        path={"quiz_id": "ZZZZZZ"},
        json={"question_id": 1, "answer": 0},
        headers={"Idempotency-Key": "k7"},
    )
    w.call("GET", "/quizzes/{quiz_id}/leaderboard", ana, path=q)
    w.call("GET", "/quizzes/{quiz_id}/leaderboard", ana, path=q, params={"limit": "0"})
    w.call("GET", "/quizzes/{quiz_id}/leaderboard", outsider, path=q)
    w.call("GET", "/quizzes/{quiz_id}/leaderboard", ana, path={"quiz_id": "ZZZZZZ"})
    w.call("GET", "/quizzes/{quiz_id}/leaderboard", path=q)
    w.call("POST", "/quizzes/{quiz_id}/next", host, path=q, json={"from_question_id": 1})
    w.call("POST", "/quizzes/{quiz_id}/next", host, path=q, json={"from_question_id": 1})  # a retry: no second move
    w.call("POST", "/quizzes/{quiz_id}/answers", ana, path=q, json={"question_id": 1, "answer": 0}, headers={"Idempotency-Key": "k8"})
    w.call("DELETE", "/quizzes/{quiz_id}/players/{user_id}", outsider, path={**q, "user_id": str(uuid.uuid4())})
    w.call("DELETE", "/quizzes/{quiz_id}/players/{user_id}", host, path={**q, "user_id": "not-a-uuid"})
    bo_id = next(
        p["user_id"] for p in w.call("GET", "/quizzes/{quiz_id}/players", host, path=q).json()["players"] if p["display_name"] == "Bo"
    )
    w.call("DELETE", "/quizzes/{quiz_id}/players/{user_id}", host, path={**q, "user_id": bo_id})
    w.call("POST", "/quizzes/{quiz_id}/join", bo, path=q)  # removed: cannot come back
    w.call("POST", "/quizzes/{quiz_id}/end", outsider, path=q)
    w.call("POST", "/quizzes/{quiz_id}/end", host, path=q)
    w.call("POST", "/quizzes/{quiz_id}/next", host, path=q)  # ended
    w.call("POST", "/quizzes/{quiz_id}/end", host, path=q)
    w.call("GET", "/quizzes/{quiz_id}/leaderboard", host, path=q)

    # ---- after the quiz
    csv = {"Accept": "text/csv"}
    w.call("GET", "/quizzes/{quiz_id}/report", host, path=q)
    for table in ("players", "questions", "answers"):
        w.call("GET", "/quizzes/{quiz_id}/report", host, path=q, headers=csv, params={"table": table})
    w.call("GET", "/quizzes/{quiz_id}/report", host, path=q, headers=csv, params={"table": "everything"})
    w.call("GET", "/quizzes/{quiz_id}/report", ana, path=q)  # a player: not the host
    w.call("GET", "/quizzes/{quiz_id}/report", outsider, path=q)  # nothing to do with it: as unknown
    w.call("GET", "/quizzes/{quiz_id}/report", host, path={"quiz_id": "ZZZZZZ"})
    w.call("GET", "/quizzes/{quiz_id}/report", path=q)
    w.call("GET", "/users/me/results", ana)
    w.call("GET", "/users/me/results", outsider)
    w.call("GET", "/users/me/results")
    again = w.call("POST", "/quizzes/{quiz_id}/again", host, path=q).json()["quiz_id"]
    w.call("POST", "/quizzes/{quiz_id}/again", ana, path=q)
    w.call("POST", "/quizzes/{quiz_id}/again", outsider, path=q)
    w.call("POST", "/quizzes/{quiz_id}/again", host, path={"quiz_id": again})  # not started, so not ended
    w.call("POST", "/quizzes/{quiz_id}/again", path=q)


def as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's schema dialect as JSON Schema: `nullable: true` becomes a "null" type (or a oneOf with
    null around a `$ref`), the only 3.0 keyword these schemas use that JSON Schema reads differently."""
    if isinstance(node, list):
        return [as_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: as_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            return {"oneOf": [out, {"type": "null"}]}
    return out


def pointer(*parts: str) -> str:
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def response_for(doc: dict[str, Any], method: str, route: str, status: int) -> tuple[dict[str, Any], str] | None:
    """The declared response and its JSON pointer in the document (a `$ref` followed)."""
    operation = doc["paths"].get(route, {}).get(method)
    if operation is None or str(status) not in operation["responses"]:
        return None
    found, where = operation["responses"][str(status)], pointer("paths", route, method, "responses", str(status))
    while "$ref" in found:
        name = found["$ref"].rsplit("/", 1)[-1]
        found, where = doc["components"]["responses"][name], pointer("components", "responses", name)
    return found, where


def test_every_answer_of_every_route_is_declared_in_the_openapi_document(product: Product, walk: Walk) -> None:
    drive_every_route(walk)
    doc = httpx.get(product.base_url + "/openapi.json", timeout=10).json()
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(as_json_schema(doc), default_specification=DRAFT202012)
    )

    routes = {(m, p) for p, item in doc["paths"].items() for m in item}
    driven = {(o.method, o.route) for o in walk.seen}
    assert routes <= driven, f"routes the walk never drove: {sorted(routes - driven)}"
    assert any(o.status >= 400 for o in walk.seen) and any(o.status < 300 for o in walk.seen)

    problems = []
    for o in walk.seen:
        found = response_for(doc, o.method, o.route, o.status)
        where = f"{o.method.upper()} {o.route} -> {o.status}"
        if found is None:
            problems.append(f"{where}: status not declared ({o.code or o.body!r})")
            continue
        declared, at = found
        if o.code is not None and f"`{o.code}`" not in declared.get("description", ""):
            problems.append(f"{where}: error code `{o.code}` not in the response's description")
        content = declared.get("content") or {}
        if o.body is not None and o.media_type not in content:
            problems.append(f"{where}: answered {o.media_type}, which the response does not declare")
            continue
        if o.media_type == "application/json" and "schema" in (content.get("application/json") or {}) and o.body is not None:
            schema = {"$ref": "urn:openapi#" + at + pointer("content", "application/json", "schema")}
            validator = jsonschema.Draft202012Validator(schema, registry=registry)
            problems += [f"{where}: body does not fit its schema: {e.message[:160]}" for e in validator.iter_errors(o.body)][:3]
    assert not problems, "\n".join(sorted(set(problems)))


def test_the_asyncapi_document_is_served_beside_the_openapi_one_and_linked_from_docs(product: Product) -> None:
    as_json = httpx.get(product.base_url + "/asyncapi.json", timeout=10)
    as_yaml = httpx.get(product.base_url + "/asyncapi.yaml", timeout=10)
    assert as_json.status_code == as_yaml.status_code == 200
    document = as_json.json()
    assert document["asyncapi"] == "3.0.0" and document == yaml.safe_load(as_yaml.text)
    assert document["servers"]["local"]["host"] == product.base_url.removeprefix("http://"), "the local server is this node"
    assert {"join", "answer", "ping"} <= set(document["channels"]["quiz"]["messages"])
    page = httpx.get(product.base_url + "/docs", timeout=10).text
    assert 'href="/asyncapi.yaml"' in page


def test_unknown_fields_are_ignored_and_change_nothing_as_documented(product: Product) -> None:
    """The documented policy (OpenAPI info, docs/websocket.md): fields a request does not define are
    ignored, over HTTP and over the WebSocket; the defined ones still count."""
    doc = httpx.get(product.base_url + "/openapi.json", timeout=10).json()
    assert "Unknown fields" in doc["info"]["description"]
    w = Walk(product.base_url)
    try:
        host = w.signup("Host")
        draft = {**QUIZ, "colour": "red", "host_id": "someone-else"}
        created = w.call("POST", "/quizzes", host, json=draft)
        assert created.status_code == 201, created.text
        quiz = w.call("GET", "/quizzes/{quiz_id}", host, path={"quiz_id": created.json()["quiz_id"]}).json()
        assert "colour" not in quiz and quiz["host_id"] != "someone-else" and quiz["title"] == QUIZ["title"]
        me = w.call("PATCH", "/users/me", host, json={"display_name": "Hana", "role": "admin"})
        assert me.status_code == 200, me.text
        assert me.json().get("user", me.json())["role"] == "player", "a role in the body is not a way to become admin"
    finally:
        w.http.close()
