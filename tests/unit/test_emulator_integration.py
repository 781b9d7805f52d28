"""API Gateway's integration timeout: the client is answered at the timeout, the invocation is never cancelled."""

from __future__ import annotations

import asyncio

import pytest

from local.emulator.integration import IntegrationTimeout, within


async def _invocation(seconds: float, finished: list[str], result: str = "done") -> str:
    await asyncio.sleep(seconds)
    finished.append(result)
    return result


def test_a_reply_within_the_timeout_is_the_functions() -> None:
    finished: list[str] = []
    assert asyncio.run(within(_invocation(0.01, finished), "Fn", 1.0)) == "done"
    assert finished == ["done"]


def test_past_the_timeout_the_caller_hears_so_and_the_invocation_runs_to_its_end() -> None:
    finished: list[str] = []

    async def scenario() -> None:
        with pytest.raises(IntegrationTimeout) as timed_out:
            await within(_invocation(0.2, finished), "AnswerFn", 0.05)
        assert timed_out.value.function_id == "AnswerFn" and "50 ms" in str(timed_out.value)
        assert finished == []  # answered before the function returned...
        await asyncio.sleep(0.3)
        assert finished == ["done"]  # ...which it then did

    asyncio.run(scenario())


def test_a_caller_that_goes_away_does_not_cancel_the_invocation() -> None:
    finished: list[str] = []

    async def scenario() -> None:
        waiting = asyncio.ensure_future(within(_invocation(0.1, finished), "Fn", 5.0))
        await asyncio.sleep(0.02)
        waiting.cancel()  # the HTTP client disconnected
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.2)
        assert finished == ["done"]  # on Lambda the invocation runs whatever became of its caller

    asyncio.run(scenario())


def test_a_dropped_response_is_logged_by_what_it_was_never_by_its_content(caplog: pytest.LogCaptureFixture) -> None:
    finished: list[str] = []
    refused = {"statusCode": 200, "body": '{"type":"error","action":"answer","error":{"code":"question_closed","message":"closed"}}'}

    async def refusal() -> dict[str, object]:
        await _invocation(0.1, finished)
        return refused

    async def scenario() -> None:
        with pytest.raises(IntegrationTimeout):
            await within(refusal(), "WsAnswerFunction", 0.02)
        await asyncio.sleep(0.2)

    with caplog.at_level("INFO", logger="emulator.integration"):
        asyncio.run(scenario())
    (line,) = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert "WsAnswerFunction finished after the integration timeout" in line
    assert "(status 200, type error, error question_closed)" in line and 'closed"' not in line


@pytest.mark.parametrize(
    ("result", "said"),
    [
        ({"statusCode": 200, "body": '{"type":"answer_result","score":875}'}, "status 200, type answer_result"),
        ({"statusCode": 201, "body": '{"access_token":"eyJ.secret","token_type":"Bearer"}'}, "status 201"),
        (
            {"statusCode": 503, "body": '{"error":{"code":"service_unavailable","message":"retry"}}'},
            "status 503, error service_unavailable",
        ),
        ({"statusCode": 200, "body": "not json"}, "status 200"),
        ({"statusCode": 200, "body": "e30=", "isBase64Encoded": True}, "status 200"),
        ({"body": '{"type": ' + "[" * 5000 + "]" * 5000 + "}"}, "status 200"),
        ("a bare string", "not a proxy response"),
        ({"statusCode": "eyJ.secret", "body": "{}"}, "status (not a number)"),
    ],
)
def test_what_a_response_was_is_told_without_its_content(result: object, said: str) -> None:
    from local.emulator.integration import outcome

    told = outcome(result)
    assert told == said and "secret" not in told
