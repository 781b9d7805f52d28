"""One answer, one trace, in Zipkin: the functions export their spans with the OpenTelemetry Zipkin exporter
(OTEL_TRACES_EXPORTER=zipkin, what `make run` sets) to the Zipkin server `make services` runs, and the
trace of a WebSocket answer holds its whole path: the answer's invocation span, the answer transaction,
the Kafka publish, the leaderboard batch that consumed the record, and the push of its frames."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from clients.quiz_client import QuizClient
from local.product import LocalProduct, ProductDidNotStart, local_product
from local.stack import load_stack
from tests.support import QUIZ, board_scores
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def zipkin() -> str:
    conf = load_stack().zipkin
    assert conf is not None, "local/stack.toml has no [zipkin]"
    try:
        httpx.get(f"{conf.url}/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.fail(f"Zipkin is not answering at {conf.url} ({exc}): start it with `make services`")
    return conf.url


@pytest.fixture(scope="module")
def traced_product(zipkin: str, database_url: str, redis_url: str, kafka_bootstrap: str) -> Iterator[LocalProduct]:
    env = {"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"{zipkin}/api/v2/spans"}
    try:
        with local_product(env=env) as running:
            yield running
    except ProductDidNotStart as exc:
        pytest.fail(str(exc))


def signed_up(product: LocalProduct, name: str) -> QuizClient:
    client = QuizClient(product.base_url)
    client.signup(f"t{uuid.uuid4().hex[:12]}", "correct horse battery staple", name)
    return client


def trace_of(zipkin: str, quiz_id: str, wanted: set[str], timeout: float = 30) -> list[dict[str, Any]]:
    """The trace whose answer transaction is tagged with this quiz, once it holds every wanted span kind."""
    spans: list[dict[str, Any]] = []

    def complete() -> bool:
        nonlocal spans
        found = httpx.get(
            f"{zipkin}/api/v2/traces", params={"annotationQuery": f"quiz.id={quiz_id}", "limit": 10, "lookback": 600_000}, timeout=10
        )
        for trace in found.json():
            if any(s.get("name") == "answer transaction" for s in trace):
                spans = trace
                names = {s.get("name", "") for s in spans}
                if all(any(w in n for n in names) for w in wanted):
                    return True
        return False

    # On a timeout the partial trace is returned: the test's own assertions then say which spans are missing.
    with contextlib.suppress(AssertionError):
        eventually(complete, timeout, f"a trace of quiz {quiz_id} holding {sorted(wanted)}", interval=0.5)
    return spans


def test_one_answer_is_one_trace_from_the_request_to_the_push(traced_product: LocalProduct, zipkin: str) -> None:
    host, ana = signed_up(traced_product, "Host"), signed_up(traced_product, "Ana")
    try:
        quiz_id = host.create_quiz(QUIZ)["quiz_id"]
        live = ana.live()
        live.request({"action": "join", "quiz_id": quiz_id}, expect="joined")
        live.wait_for("your_rank")  # the join's own score event is through: the answer's batch is its own
        host.host(quiz_id, "start")
        live.wait_for("question_opened")
        result = live.request({"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": 1}, expect="answer_result")
        live.wait_for("leaderboard", lambda f: board_scores(f).get(ana.user_id) == result["score"])
        live.close()

        wanted = {"wsanswerfunction", "answer transaction", "publish", "leaderboardfunction", "push"}
        spans = trace_of(zipkin, quiz_id, wanted)
        names = sorted(s.get("name", "") for s in spans)
        assert spans, f"no trace tagged quiz.id={quiz_id} in Zipkin"
        missing = {w for w in wanted if not any(w in n for n in names)}
        assert not missing, f"the answer's trace lacks {sorted(missing)}; it has {names}"

        by_id = {s["id"]: s for s in spans}
        kinds = {s.get("name", ""): s.get("kind") for s in spans}
        assert any(k == "PRODUCER" for n, k in kinds.items() if "publish" in n)
        assert any(k == "CONSUMER" for n, k in kinds.items() if "leaderboardfunction" in n)
        # One tree: every span but the root has its parent in the same trace.
        roots = [s for s in spans if s.get("parentId") not in by_id]
        assert len(roots) == 1 and "wsanswerfunction" in roots[0].get("name", ""), [(s.get("name"), s.get("parentId")) for s in roots]
    finally:
        host.close()
        ana.close()
