"""quiz.logs: one JSON line per record with the invocation's fields, at the level LOG_LEVEL names."""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from quiz import logs, observability
from quiz.observability import traced_handler

Lines = Callable[[], list[dict[str, Any]]]


class Context:
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    function_name = "quiz-dev-AnswersFunction-1A2B3C"


@pytest.fixture
def configured() -> Iterator[Callable[[str | None], Lines]]:
    def configure(level: str | None) -> Lines:
        out = io.StringIO()
        logs.configure({"LOG_LEVEL": level} if level is not None else {}, stream=out)
        return lambda: [json.loads(line) for line in out.getvalue().splitlines()]

    yield configure
    logs.configure(os.environ)  # back to stderr, at the environment's level


def test_a_line_carries_the_invocation_and_its_trace(configured: Callable[[str | None], Lines], monkeypatch: pytest.MonkeyPatch) -> None:
    lines = configured("info")
    monkeypatch.setattr(observability, "_cold_start", True)
    provider = TracerProvider()
    seen: list[str] = []

    @traced_handler("AnswersFunction", provider=provider)
    def handler(event: Any, context: Any) -> dict[str, int]:
        from opentelemetry import trace

        seen.append(format(trace.get_current_span().get_span_context().trace_id, "032x"))
        logging.getLogger("quiz.service").info("answer of %s judged", "Ana")
        return {"statusCode": 200}

    handler({}, Context())
    handler({}, Context())

    first, second = lines()
    assert first["level"] == "INFO" and first["logger"] == "quiz.service" and first["message"] == "answer of Ana judged"
    assert first["function"] == Context.function_name and first["request_id"] == Context.aws_request_id
    assert (first["cold_start"], second["cold_start"]) == (True, False)
    assert [first["trace_id"], second["trace_id"]] == seen


def test_log_level_is_honoured(configured: Callable[[str | None], Lines]) -> None:
    lines = configured("ERROR")
    log = logging.getLogger("quiz.leaderboard")
    log.warning("not shown")
    log.error("shown")

    assert [line["message"] for line in lines()] == ["shown"]


def test_without_log_level_only_warnings_and_worse_are_written(configured: Callable[[str | None], Lines]) -> None:
    lines = configured(None)
    logging.getLogger("quiz.clock").info("not shown")
    logging.getLogger("quiz.clock").warning("shown")

    assert [(line["message"], "request_id" in line) for line in lines()] == [("shown", False)]  # outside an invocation


def test_an_unknown_level_falls_back_to_the_default_and_says_so(configured: Callable[[str | None], Lines]) -> None:
    lines = configured("LOUD")

    [line] = lines()
    assert line["level"] == "WARNING" and "LOG_LEVEL='LOUD'" in line["message"]


def test_an_exception_is_one_line_too(configured: Callable[[str | None], Lines]) -> None:
    lines = configured("INFO")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("quiz.service").exception("push failed")

    [line] = lines()
    assert line["message"] == "push failed" and "RuntimeError: boom" in line["exception"]
