"""API Gateway's integration timeout: how long a route waits for its Lambda function before answering the client.

Past the route's `TimeoutInMillis` (30 s at most for an HTTP API, 29 s for a WebSocket API) API Gateway gives
the client an error (503 `{"message":"Service Unavailable"}`, or the frame `{"message": "Endpoint request timed
out", ...}`), while the function's invocation carries on to its end and its result is dropped. Here the wait
includes the time an invocation waits for a worker of its function, which on Lambda would have been a new
execution environment: on a machine far smaller than Lambda's fleet, the client hears back within the timeout
all the same, and the invocation still runs, so nothing it would write (an answer, received in time, with its
API Gateway time) is lost. A retry with the same idempotency key finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable
from typing import Any

log = logging.getLogger("emulator.integration")


class IntegrationTimeout(Exception):
    """The route's integration timeout passed before the function returned (it still runs)."""

    def __init__(self, function_id: str, timeout_s: float) -> None:
        super().__init__(f"{function_id}: no response within the integration timeout ({timeout_s * 1000:.0f} ms)")
        self.function_id = function_id
        self.timeout_s = timeout_s


async def within(invocation: Awaitable[Any], function_id: str, timeout_s: float) -> Any:
    """The invocation's result, or IntegrationTimeout once `timeout_s` passed; the invocation is never cancelled."""
    task = asyncio.ensure_future(invocation)
    try:
        done, _ = await asyncio.wait((task,), timeout=timeout_s)
    except asyncio.CancelledError:  # the client went away: the invocation still runs to its end
        task.add_done_callback(lambda t: _late(t, function_id, "after its client went away"))
        raise
    if done:
        return task.result()
    task.add_done_callback(lambda t: _late(t, function_id, "after the integration timeout"))
    raise IntegrationTimeout(function_id, timeout_s)


def _late(task: asyncio.Future[Any], function_id: str, when: str) -> None:
    if task.cancelled():
        return
    failure = task.exception()
    if failure is not None:
        log.error("%s finished %s, with an error: %s", function_id, when, failure)
    else:
        log.info("%s finished %s; its response (%s) was dropped, as API Gateway drops it", function_id, when, outcome(task.result()))


def outcome(result: Any) -> str:
    """What a response was, without its content (a body may carry a token): its status code and, for a
    JSON object body, its `type` and its error's `code`. What API Gateway drops, the emulator's log still
    tells (an answer recorded, or refused as `question_closed`, say) to whoever wonders what became of it."""
    if not isinstance(result, dict):
        return "not a proxy response"
    status = result.get("statusCode", 200)
    parts = [f"status {status if isinstance(status, int) else '(not a number)'}"]
    body = result.get("body")
    doc: Any = None
    if isinstance(body, str) and body.startswith("{") and not result.get("isBase64Encoded"):
        with contextlib.suppress(ValueError, RecursionError):
            doc = json.loads(body)
    if isinstance(doc, dict):
        error = doc.get("error")
        for name, value in (("type", doc.get("type")), ("error", error.get("code") if isinstance(error, dict) else None)):
            if isinstance(value, str):
                parts.append(f"{name} {value[:40]}")
    return ", ".join(parts)
