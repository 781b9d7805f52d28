"""Issue 10's property, fuzzed: whatever a client sends to a few routes and WebSocket actions, the answer
is never a 5xx, and every action gets one reply frame with a type (never API Gateway's bare
"Internal server error", never silence). Bounded: a few hundred examples, no shrinking database."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from clients.quiz_client import QuizClient

pytestmark = pytest.mark.e2e

REPLIES = {"error", "answer_result", "joined", "pong"}
FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Any code point, surrogates and NUL included (json.dumps writes them as \uXXXX escapes).
hostile_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=40) | st.sampled_from(
    ["\x00", "\ud800", "a\udfffb", "", " ", "K7Q2MX", "urn:uuid:" + str(uuid.uuid4()), "١٢٣"]
)
scalars = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=False, allow_infinity=False) | hostile_text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4), max_leaves=12
)


def url_part(text: str) -> str:
    """Percent-encoded as its UTF-8 bytes; a lone surrogate becomes bytes that are not UTF-8 at all."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def raw_json(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> str:
    """A JSON object with the route's own fields fuzzed, or a hostile text that is barely JSON."""
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
                ]
            )
        )
    body = {name: draw(strategy) for name, strategy in fields.items() if draw(st.booleans())}
    return json.dumps(body)


def fuzz_fields(**overrides: st.SearchStrategy[Any]) -> dict[str, st.SearchStrategy[Any]]:
    return {name: json_values | strategy for name, strategy in overrides.items()}


@pytest.fixture
def quiz(player: Callable[[str], QuizClient]) -> tuple[QuizClient, QuizClient, str]:
    host, ana = player("Host"), player("Ana")
    quiz_id = host.create_quiz(
        {"title": "Fuzz", "questions": [{"kind": "typed", "prompt": "Up?", "accepted_answers": ["down"], "time_limit_s": 300}]}
    )["quiz_id"]
    ana.join(quiz_id)
    host.host(quiz_id, "start")
    return host, ana, quiz_id


def test_no_http_route_answers_5xx(quiz: tuple[QuizClient, QuizClient, str]) -> None:
    host, ana, quiz_id = quiz
    question = st.fixed_dictionaries(
        {"kind": st.sampled_from(["typed", "multiple_choice"]) | json_values, "prompt": hostile_text, "choices": st.lists(hostile_text)}
    )
    requests = st.one_of(
        st.tuples(
            st.just("POST"), st.just("/quizzes"), raw_json(fuzz_fields(title=hostile_text, questions=st.lists(question, max_size=3)))
        ),
        st.tuples(st.just("PUT"), st.just(f"/quizzes/{quiz_id}"), raw_json(fuzz_fields(title=hostile_text))),
        st.tuples(
            st.just("POST"), st.just(f"/quizzes/{quiz_id}/answers"), raw_json(fuzz_fields(question_id=st.integers(), answer=hostile_text))
        ),
        st.tuples(st.just("POST"), st.just("/auth/login"), raw_json(fuzz_fields(username=hostile_text, password=hostile_text))),
        st.tuples(
            st.just("DELETE"), hostile_text.filter(bool).map(lambda u: f"/quizzes/{quiz_id}/participants/{url_part(u)}"), st.just("")
        ),
        st.tuples(st.just("GET"), hostile_text.map(lambda n: f"/quizzes/{quiz_id}/leaderboard?limit={url_part(n)}"), st.just("")),
    )

    @FUZZ
    @given(request=requests, who=st.sampled_from([host, ana]))
    def no_5xx(request: tuple[str, str, str], who: QuizClient) -> None:
        method, path, body = request
        headers = {"Authorization": f"Bearer {who.access_token}", "Idempotency-Key": str(uuid.uuid4()), "content-type": "application/json"}
        response = who.http.request(method, path, content=body.encode("utf-8", "surrogatepass") if body else None, headers=headers)
        assert response.status_code < 500, f"{method} {path} {body[:200]!r} -> {response.status_code} {response.text[:200]}"

    no_5xx()


def test_every_websocket_action_gets_a_typed_reply(quiz: tuple[QuizClient, QuizClient, str]) -> None:
    _, ana, quiz_id = quiz
    frames = st.one_of(
        raw_json(
            fuzz_fields(
                action=st.just("answer"), quiz_id=st.just(quiz_id), question_id=st.integers(), answer=hostile_text, request_id=hostile_text
            )
        ),
        raw_json(fuzz_fields(action=st.just("join"), quiz_id=hostile_text | st.just(quiz_id))),
        raw_json(fuzz_fields(action=hostile_text)),
    )
    with connect(f"{ana.ws_url}?token={ana.access_token}", open_timeout=10, max_size=2**20) as ws:

        @FUZZ
        @given(frame=frames)
        def typed_reply(frame: str) -> None:
            ws.send(frame.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
            while True:  # broadcasts (a joined quiz's leaderboard) may come in between; the reply follows
                reply = json.loads(ws.recv(timeout=15))
                assert "type" in reply, f"{frame[:200]!r} -> {reply}"
                if reply["type"] in REPLIES:
                    break
            if reply["type"] == "error":
                assert reply["code"] != "internal_error", reply

        typed_reply()
