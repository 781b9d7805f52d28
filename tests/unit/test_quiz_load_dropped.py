"""bench.quiz_load reads from the node's log what became of the responses API Gateway did not wait for:
the lines are the ones `local/emulator/integration.py` writes, produced here by the real code."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from bench.quiz_load.cli import dropped_responses, log_size
from local.emulator.integration import IntegrationTimeout, within


def _dropped(log: Path, function_id: str, response: dict[str, object], times: int = 1) -> None:
    """The node's logger writes to `log` what the real integration timeout logs for a late response."""
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
    logger = logging.getLogger("emulator.integration")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)

    async def late() -> dict[str, object]:
        await asyncio.sleep(0.05)
        return response

    async def scenario() -> None:
        for _ in range(times):
            with pytest.raises(IntegrationTimeout):
                await within(late(), function_id, 0.001)
        await asyncio.sleep(0.2)

    try:
        asyncio.run(scenario())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


RECORDED = {"statusCode": 200, "body": '{"type":"answer_result","score":875}'}
REFUSED = {"statusCode": 200, "body": '{"type":"error","action":"answer","error":{"code":"question_closed","message":"closed"}}'}


def test_dropped_responses_are_counted_by_function_and_by_what_they_were(tmp_path: Path) -> None:
    log = tmp_path / "emulator.log"
    log.write_text("INFO:     emulator.websocket: open\nWARNING:  emulator.websocket: route answer: no response within\n")
    _dropped(log, "WsAnswerFunction", RECORDED, times=3)
    _dropped(log, "WsAnswerFunction", REFUSED)
    _dropped(log, "AnswersFunction", {"statusCode": 503, "body": '{"error":{"code":"service_unavailable","message":"x"}}'})
    assert dropped_responses(log) == {
        "WsAnswerFunction: status 200, type answer_result": 3,
        "WsAnswerFunction: status 200, type error, error question_closed": 1,
        "AnswersFunction: status 503, error service_unavailable": 1,
    }


def test_only_the_lines_after_the_scenario_started_count(tmp_path: Path) -> None:
    log = tmp_path / "emulator.log"
    _dropped(log, "WsAnswerFunction", REFUSED)  # the warm-up's, or an earlier scenario's
    start = log_size(log)
    _dropped(log, "WsAnswerFunction", RECORDED, times=2)
    assert dropped_responses(log, start) == {"WsAnswerFunction: status 200, type answer_result": 2}


def test_no_log_is_unknown_not_none(tmp_path: Path) -> None:
    assert dropped_responses(tmp_path / "missing.log") is None
    assert log_size(tmp_path / "missing.log") == 0 and log_size(None) == 0
