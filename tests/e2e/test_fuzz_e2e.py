"""Issue 10's property, fuzzed: whatever a client sends to any HTTP route or WebSocket action, the answer
is never a 5xx, and every action gets one reply frame with a type (never API Gateway's bare
"Internal server error", never silence).

Every route of template.yaml (functions/*/openapi.yaml) and every WebSocket action (join, answer, ping,
and what falls to $default) is drawn from. Bounded: QUIZ_FUZZ_EXAMPLES examples per test (default 100,
for `make test`); the fault suite's full run (`python -m tests.faults`) sets it high, points the tests at
its own emulator with QUIZ_FUZZ_BASE_URL, and reads the counts from the JSON lines QUIZ_FUZZ_STATS names."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from clients.quiz_client import QuizClient
from local.product import LocalProduct

pytestmark = pytest.mark.e2e

REPLIES = {"error", "answer_result", "joined", "pong", "rejoin"}
EXAMPLES = int(os.environ.get("QUIZ_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))

if os.environ.get("QUIZ_FUZZ_BASE_URL"):

    @pytest.fixture(scope="module")
    def product() -> Iterator[LocalProduct]:
        """An emulator already running (the fault suite's, on its own stack) instead of a new one."""
        yield LocalProduct(os.environ["QUIZ_FUZZ_BASE_URL"], "", Path(os.devnull), "", "", {})


def record(test: str, inputs: int, server_errors: int, statuses: dict[str, int] | None = None) -> None:
    """One JSON line per test for the fault suite's report (when it asked for one)."""
    path = os.environ.get("QUIZ_FUZZ_STATS")
    if path:
        with open(path, "a") as out:
            line = {"test": test, "inputs": inputs, "server_errors": server_errors, "statuses": statuses or {}}
            out.write(json.dumps(line, sort_keys=True) + "\n")


# Any code point, surrogates and NUL included (json.dumps writes them as \uXXXX escapes).
hostile_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40) | st.sampled_from(
    ["\x00", "\ud800", "a\udfffb", "", " ", "K7Q2MX", "urn:uuid:" + str(uuid.uuid4()), "١٢٣", "../..", "%00", "*"]
)
scalars = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=False, allow_infinity=False) | hostile_text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4), max_leaves=12
)


def url_part(text: str) -> str:
    """Percent-encoded as its UTF-8 bytes; a lone surrogate becomes bytes that are not UTF-8 at all."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def raw_json(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]], always: tuple[str, ...] = ()) -> str:
    """A JSON object with the route's own fields fuzzed (those in `always` always there), or a hostile
    text that is barely JSON."""
    if draw(st.integers(0, 5)) == 0:
        depth = draw(st.sampled_from([33, 990, 5000]))
        return draw(
            st.sampled_from(
                [
                    "[" * depth + "]" * depth,
                    '{"x": ' + "1" * draw(st.integers(21, 5000)) + "}",
                    "1e999",
                    '{"a": NaN}',
                    "{",
                    '"\\ud800"',
                    "",
                    "null",
                    "[]",
                ]
            )
        )
    body = {name: draw(strategy) for name, strategy in fields.items() if name in always or draw(st.booleans())}
    return json.dumps(body)


def fuzz_fields(**overrides: st.SearchStrategy[Any]) -> dict[str, st.SearchStrategy[Any]]:
    return {name: json_values | strategy for name, strategy in overrides.items()}


NO_BODY = st.just("")
QUESTION = {"kind": "typed", "prompt": "Up?", "accepted_answers": ["down"], "time_limit_ms": 300000}


@pytest.fixture
def quiz(player: Callable[[str], QuizClient]) -> dict[str, Any]:
    """A running quiz that only answers and reads touch, a second one the fuzzed host actions pace, and a
    spare account the fuzzed logout and refresh may spend."""
    host, ana, spare = player("Host"), player("Ana"), player("Spare")
    quiz_id = host.create_quiz({"title": "Fuzz", "questions": [QUESTION]})["quiz_id"]
    paced_id = host.create_quiz({"title": "Paced", "questions": [QUESTION, QUESTION]})["quiz_id"]
    for q in (quiz_id, paced_id):
        ana.join(q)
    host.host(quiz_id, "start")
    return {"host": host, "ana": ana, "spare": spare, "quiz_id": quiz_id, "paced_id": paced_id}


def http_requests(q: dict[str, Any]) -> st.SearchStrategy[tuple[str, str, str]]:
    """(method, path, body) for every HTTP route of template.yaml, with its path, query and body fuzzed."""
    quiz_id, paced_id = q["quiz_id"], q["paced_id"]
    any_quiz = st.sampled_from([quiz_id, paced_id]) | hostile_text.map(url_part)
    paced = st.just(paced_id) | hostile_text.map(url_part)
    question = st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["typed", "multiple_choice"]) | json_values,
            "prompt": hostile_text,
            "choices": st.lists(hostile_text),
            "correct_choice": st.integers(-2, 5) | json_values,
            "accepted_answers": st.lists(hostile_text, max_size=3) | json_values,
            "time_limit_ms": st.integers(-5_000, 10**9) | json_values,
            "points": st.integers(-5, 10**6) | json_values,
        }
    )
    quiz_fields = fuzz_fields(title=hostile_text, questions=st.lists(question, max_size=3), streak_bonus=st.integers(-5, 10**6))
    credentials = fuzz_fields(username=hostile_text, password=hostile_text, display_name=hostile_text)
    pacing = raw_json(fuzz_fields(from_question_id=st.integers(-(10**21), 10**21)))

    def fixed(method: str, path: str, body: st.SearchStrategy[str] = NO_BODY) -> st.SearchStrategy[tuple[str, str, str]]:
        return st.tuples(st.just(method), st.just(path), body)

    def on(method: str, paths: st.SearchStrategy[str], body: st.SearchStrategy[str] = NO_BODY) -> st.SearchStrategy[tuple[str, str, str]]:
        return st.tuples(st.just(method), paths, body)

    return st.one_of(
        fixed("POST", "/auth/signup", raw_json(credentials)),
        fixed("POST", "/auth/login", raw_json(credentials)),
        fixed("POST", "/auth/refresh", raw_json(fuzz_fields(refresh_token=hostile_text | st.just(q["spare"].refresh_token or "")))),
        fixed("POST", "/auth/logout", raw_json(fuzz_fields(everywhere=st.booleans()))),
        fixed("GET", "/users/me"),
        fixed("PATCH", "/users/me", raw_json(fuzz_fields(display_name=hostile_text))),
        fixed("POST", "/quizzes", raw_json(quiz_fields)),
        on("GET", hostile_text.map(lambda x: f"/quizzes?limit={url_part(x)}&cursor={url_part(x)}") | st.just("/quizzes")),
        on("GET", any_quiz.map(lambda x: f"/quizzes/{x}")),
        on("PUT", paced.map(lambda x: f"/quizzes/{x}"), raw_json(quiz_fields)),
        on("POST", any_quiz.map(lambda x: f"/quizzes/{x}/join"), raw_json(fuzz_fields(x=json_values))),
        on("GET", any_quiz.map(lambda x: f"/quizzes/{x}/players")),
        on(
            "DELETE",
            st.tuples(paced, hostile_text.filter(bool).map(url_part) | st.just(str(uuid.uuid4()))).map(
                lambda t: f"/quizzes/{t[0]}/players/{t[1]}"
            ),
        ),
        on(
            "POST",
            st.tuples(paced, st.sampled_from(["lock", "unlock", "start", "next", "end"])).map(lambda t: f"/quizzes/{t[0]}/{t[1]}"),
            pacing,
        ),
        on(
            "POST",
            any_quiz.map(lambda x: f"/quizzes/{x}/answers"),
            raw_json(fuzz_fields(question_id=st.integers(-(10**21), 10**21), answer=hostile_text | st.integers(-2, 5))),
        ),
        on("GET", st.tuples(any_quiz, hostile_text).map(lambda t: f"/quizzes/{t[0]}/leaderboard?limit={url_part(t[1])}")),
    )


def test_no_http_route_answers_5xx(quiz: dict[str, Any]) -> None:
    host, ana, spare = quiz["host"], quiz["ana"], quiz["spare"]
    # Who asks: the host, a player, the spare account (spent by logout), no one, or a forged token.
    callers = st.sampled_from(["host", "host", "ana", "ana", "spare", "none", "forged"])
    server_errors: list[str] = []
    statuses: Counter[str] = Counter()
    inputs = 0

    @FUZZ
    @given(request=http_requests(quiz), caller=callers, idempotency_key=st.just(None) | hostile_text)
    def no_5xx(request: tuple[str, str, str], caller: str, idempotency_key: str | None) -> None:
        nonlocal inputs
        inputs += 1
        method, path, body = request
        if path == "/auth/logout" and caller in ("host", "ana"):
            caller = "spare"  # a logout would end the session every later example needs
        who = {"host": host, "ana": ana, "spare": spare}.get(caller, host)
        headers = {"content-type": "application/json"}
        if caller in ("host", "ana", "spare"):
            headers["Authorization"] = f"Bearer {who.access_token}"
        elif caller == "forged":
            headers["Authorization"] = "Bearer eyJhbGciOiJFZERTQSJ9.e30.AAAA"
        if idempotency_key is not None:
            # A header carries printable ASCII only (httpx refuses anything else before sending).
            escaped = idempotency_key.encode("ascii", "backslashreplace").decode()
            headers["Idempotency-Key"] = "".join(c for c in escaped if " " <= c <= "~")[:200].strip()
        response = who.http.request(method, path, content=body.encode("utf-8", "surrogatepass") if body else None, headers=headers)
        statuses[str(response.status_code)] += 1
        if response.status_code >= 500:
            server_errors.append(f"{method} {path} {body[:200]!r} -> {response.status_code} {response.text[:200]}")

    try:
        no_5xx()
    finally:
        record("http", inputs, len(server_errors), dict(statuses))
    assert not server_errors, f"{len(server_errors)} of {inputs} requests got a 5xx: {server_errors[:5]}"
    assert any(code.startswith("2") for code in statuses), f"no request succeeded, so the fuzz never got past authentication: {statuses}"


def test_every_websocket_action_gets_a_typed_reply(quiz: dict[str, Any]) -> None:
    ana, quiz_id = quiz["ana"], quiz["quiz_id"]

    def action(name: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
        """A frame of one action: its `action` always right, its other fields fuzzed."""
        return raw_json({"action": st.just(name), **fuzz_fields(**fields)}, always=("action",))

    frames = st.one_of(
        action(
            "answer",
            quiz_id=st.just(quiz_id) | hostile_text,
            question_id=st.integers(-(10**21), 10**21) | st.just(1),
            answer=hostile_text | st.integers(-2, 5),
            request_id=hostile_text,
        ),
        action("join", quiz_id=hostile_text | st.just(quiz_id) | st.just(quiz["paced_id"])),
        action("ping", quiz_id=hostile_text | st.just(quiz_id)),
        raw_json(fuzz_fields(action=hostile_text | st.sampled_from(["$default", "$connect", "$disconnect", "JOIN", "answer "]))),
        hostile_text,  # not JSON at all: $default
    )
    failures: list[str] = []
    replies: Counter[str] = Counter()
    inputs = 0
    with connect(f"{ana.ws_url}?token={ana.access_token}", open_timeout=10, max_size=2**20) as ws:

        @FUZZ
        @given(frame=frames)
        def typed_reply(frame: str) -> None:
            nonlocal inputs
            inputs += 1
            ws.send(frame.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
            while True:  # broadcasts (a joined quiz's leaderboard) may come in between; the reply follows
                reply = json.loads(ws.recv(timeout=15))
                if "type" not in reply:
                    failures.append(f"{frame[:200]!r} -> {reply}")
                    return
                if reply["type"] in REPLIES:
                    break
            replies[f"{reply['type']}:{reply['error']['code']}" if reply["type"] == "error" else reply["type"]] += 1
            if reply["type"] == "rejoin":  # a ping for a quiz whose registration was lost: the join reply follows
                return
            if reply["type"] == "error" and reply["error"]["code"] == "internal_error":
                failures.append(f"{frame[:200]!r} -> {reply}")

        try:
            typed_reply()
        finally:
            record("websocket", inputs, len(failures), dict(replies))
    assert not failures, f"{len(failures)} of {inputs} frames got no typed reply or an internal error: {failures[:5]}"
