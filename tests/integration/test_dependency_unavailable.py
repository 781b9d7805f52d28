"""A failing dependency is a prompt 503 `service_unavailable` with a retry hint, and a stale pooled
connection is replaced rather than failing a request. Against the real PostgreSQL and Redis; "down" is
a closed port (127.0.0.1:1). No timing thresholds: the configured waits are checked against the
function's timeout instead."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
import redis

from quiz import budget, db, redis_client
from quiz.auth import Principal, Role
from quiz.auth.adapters.redis_store import RedisRevokedSessions
from quiz.errors import DependencyUnavailable
from quiz.http import Event, Response, api_handler
from quiz.quizzes.adapters.postgres import PostgresQuizStore
from quiz.quizzes.service import QuizService

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_TIMEOUT_S = 10  # template.yaml's Globals: Timeout
CLOSED_DB = "postgresql://quiz:quiz@127.0.0.1:1/quiz"
CLOSED_REDIS = "redis://127.0.0.1:1/0"


class Context:
    """A Lambda context with the time the runtime has left."""

    aws_request_id = "test"

    def __init__(self, remaining_ms: int = 10_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def closed_pools() -> Iterator[None]:
    yield
    db.close_all()


def unreachable_quiz_service() -> QuizService:
    # Publisher, notifier and timer are never reached: the answer fails at the database.
    return QuizService(PostgresQuizStore(db.pool(CLOSED_DB), "unused"), None, None, None)  # type: ignore[arg-type]


def test_configured_waits_end_well_inside_the_function_timeout() -> None:
    pool_worst = db.POOL_WAIT_S + db.CONNECT_TIMEOUT_S  # a checkout, then a connection that is slow to refuse
    redis_worst = (redis_client.RETRIES + 1) * (redis_client.SOCKET_TIMEOUT_S * 2)  # connect + reply, per try
    assert pool_worst < FUNCTION_TIMEOUT_S / 2
    assert redis_worst < FUNCTION_TIMEOUT_S / 2
    built = redis_client.client(CLOSED_REDIS).connection_pool.connection_kwargs
    assert built["socket_timeout"] == built["socket_connect_timeout"] == redis_client.SOCKET_TIMEOUT_S


def test_a_database_at_a_closed_port_is_dependency_unavailable_with_retry_after(closed_pools: None) -> None:
    store = PostgresQuizStore(db.pool(CLOSED_DB), "unused")
    with pytest.raises(DependencyUnavailable) as raised:
        store.now()
    assert raised.value.status == 503 and raised.value.code == "service_unavailable"
    assert raised.value.retry_after is not None and raised.value.retry_after > 0
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)  # translated at the adapter


def test_a_redis_at_a_closed_port_is_dependency_unavailable(closed_pools: None) -> None:
    with pytest.raises(DependencyUnavailable) as raised:
        RedisRevokedSessions(redis_client.client(CLOSED_REDIS)).is_revoked(uuid.uuid4())
    assert raised.value.retry_after is not None
    assert isinstance(raised.value.__cause__, redis.RedisError)


def test_the_pool_waits_no_longer_than_the_invocation_has_left(closed_pools: None, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[float | None] = []

    def refuse(self: Any, timeout: float | None = None) -> Any:
        asked.append(timeout)
        raise db.PoolTimeout("refused by the test")

    monkeypatch.setattr(db.ConnectionPool, "getconn", refuse)
    pool = db.pool(CLOSED_DB)
    with budget.invocation(Context(remaining_ms=2_000)), pytest.raises(db.PoolTimeout), pool.connection():
        pass
    with pytest.raises(db.PoolTimeout), pool.connection():  # outside an invocation: the pool's own wait
        pass
    assert asked[0] is not None and asked[0] <= (2_000 - budget.RESERVE_MS) / 1000
    assert asked[1] is not None and budget.RESERVE_MS / 1000 < asked[1] <= db.POOL_WAIT_S


def test_wait_budget_follows_the_remaining_time() -> None:
    assert budget.wait_budget(None) == budget.MAX_WAIT_S
    assert budget.wait_budget(10_000) == budget.MAX_WAIT_S
    assert budget.wait_budget(budget.RESERVE_MS + 500) == pytest.approx(0.5)
    assert budget.wait_budget(100) == budget.MIN_WAIT_S  # nearly spent: still take an idle connection


# ------------------------------------------------------------------ stale pooled connections


def _backend_gone(database_url: str, pids: set[int]) -> Callable[[], bool]:
    def check() -> bool:
        with psycopg.connect(database_url, autocommit=True) as conn:
            alive = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (list(pids),)).fetchone()
        return alive is not None and alive[0] == 0

    return check


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("stale", [1, 4])
def test_stale_pooled_connections_are_replaced_and_the_next_call_succeeds(database_url: str, stale: int) -> None:
    url = f"{database_url}{'&' if '?' in database_url else '?'}application_name=stale{uuid.uuid4().hex[:8]}"
    pool = db.pool(url, max_size=stale)
    try:
        held = [pool.getconn() for _ in range(stale)]  # fill the pool with `stale` idle connections
        pids = {conn.info.backend_pid for conn in held}
        for conn in held:
            pool.putconn(conn)
        with psycopg.connect(database_url, autocommit=True) as admin:
            for pid in pids:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        _wait_for(_backend_gone(database_url, pids), "the terminated backends to exit")

        store = PostgresQuizStore(pool, "unused")
        assert store.now() is not None  # not a 503: the dead connections were skipped and replaced
        with pool.connection() as conn:
            assert conn.info.backend_pid not in pids
    finally:
        pool.close()
        db._pools.pop(url, None)


def test_a_healthy_pooled_connection_is_kept_even_on_a_descriptor_past_1024(database_url: str) -> None:
    url = f"{database_url}{'&' if '?' in database_url else '?'}application_name=healthy{uuid.uuid4().hex[:8]}"
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]  # the pool's socket lands past select's limit
    pool = db.pool(url, max_size=1)
    try:
        with pool.connection() as conn:
            first = conn.info.backend_pid
            assert conn.fileno() > 1024
        with pool.connection() as conn:
            assert conn.info.backend_pid == first  # the same connection: the check kept it
    finally:
        pool.close()
        db._pools.pop(url, None)
        for fd in spare:
            os.close(fd)


# ------------------------------------------------------------------ what clients see


def test_the_http_mapping_gives_503_with_retry_after() -> None:
    @api_handler
    def failing(event: Event, context: Any) -> Response:
        raise DependencyUnavailable("the database is unavailable; retry shortly")

    response = failing({}, Context())
    assert response["statusCode"] == 503
    assert int(response["headers"]["Retry-After"]) == DependencyUnavailable.RETRY_AFTER_S
    error = json.loads(response["body"])["error"]
    assert error["code"] == "service_unavailable" and error["details"]["retry_after_ms"] == DependencyUnavailable.RETRY_AFTER_S * 1000


@pytest.fixture
def answers_app(monkeypatch: pytest.MonkeyPatch, closed_pools: None) -> ModuleType:
    spec = importlib.util.spec_from_file_location("answers_app_unavailable", ROOT / "functions" / "answers" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    player = Principal(user_id=uuid.uuid4(), display_name="Ana", role=Role.PLAYER)
    monkeypatch.setattr(module, "quiz_service", unreachable_quiz_service)
    monkeypatch.setattr(module, "authenticate", lambda event: player)
    monkeypatch.setattr(module, "ws_principal", lambda event: player)
    return module


def test_an_http_answer_with_the_database_down_is_503_with_retry_after(
    answers_app: ModuleType, aws_event: Callable[[str], dict[str, Any]]
) -> None:
    event = copy.deepcopy(aws_event("http-api-v2"))
    event.update(
        routeKey="POST /quizzes/{quiz_id}/answers",
        pathParameters={"quiz_id": "K7Q2MX"},
        headers={"idempotency-key": "k-1", "content-type": "application/json"},
        body=json.dumps({"question_id": 1, "answer": "cat"}),
        isBase64Encoded=False,
    )
    response = answers_app.handler(event, Context())
    assert response["statusCode"] == 503, response
    assert int(response["headers"]["Retry-After"]) > 0
    error = json.loads(response["body"])["error"]
    assert error["code"] == "service_unavailable" and error["details"]["retry_after_ms"] == int(response["headers"]["Retry-After"]) * 1000


def test_a_websocket_answer_with_the_database_down_is_a_service_unavailable_frame(
    answers_app: ModuleType, aws_event: Callable[[str], dict[str, Any]]
) -> None:
    event = copy.deepcopy(aws_event("ws-message"))
    event["requestContext"]["routeKey"] = "answer"
    event["body"] = json.dumps({"action": "answer", "quiz_id": "K7Q2MX", "question_id": 1, "answer": "cat", "request_id": "r-1"})
    response = answers_app.ws_handler(event, Context())
    frame = json.loads(response["body"])
    assert response["statusCode"] == 200
    assert frame["type"] == "error" and frame["action"] == "answer" and frame["request_id"] == "r-1"
    assert frame["error"]["code"] == "service_unavailable"
    assert frame["error"]["details"]["retry_after_ms"] == DependencyUnavailable.RETRY_AFTER_S * 1000


class SessionsWithRedisDown:
    """The join's own Redis at a closed port: whatever join reaches there fails as the adapter reports it."""

    def join(self, principal: Principal, connection_id: str, quiz_id: Any) -> dict[str, Any]:
        RedisRevokedSessions(redis_client.client(CLOSED_REDIS)).is_revoked(uuid.uuid4())
        raise AssertionError("Redis at a closed port answered")


def test_a_websocket_join_with_redis_down_is_a_service_unavailable_frame(
    monkeypatch: pytest.MonkeyPatch, aws_event: Callable[[str], dict[str, Any]]
) -> None:
    spec = importlib.util.spec_from_file_location("ws_connect_app_unavailable", ROOT / "functions" / "ws_connect" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "sessions", SessionsWithRedisDown)
    monkeypatch.setattr(module, "ws_principal", lambda event: Principal(user_id=uuid.uuid4(), display_name="Ana", role=Role.PLAYER))
    event = copy.deepcopy(aws_event("ws-message"))
    event["requestContext"]["routeKey"] = "join"
    event["body"] = json.dumps({"action": "join", "quiz_id": "K7Q2MX"})
    frame = json.loads(module.handler(event, Context())["body"])
    assert frame["type"] == "error" and frame["action"] == "join"
    assert frame["error"] == {
        "code": "service_unavailable",
        "message": frame["error"]["message"],
        "details": {"retry_after_ms": DependencyUnavailable.RETRY_AFTER_S * 1000},
    }
