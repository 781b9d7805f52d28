"""The question clock: invoked by a one-time EventBridge schedule shortly before a question's deadline."""

from __future__ import annotations

import logging
from typing import Any

from quiz.bootstrap import quiz_service
from quiz.observability import traced_handler

log = logging.getLogger("quiz.clock")


@traced_handler("QuestionClockFunction", trigger="timer")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    quiz_id, position = str(event["quiz_id"]), int(event["question_id"])
    # Wait for the deadline within this invocation's time, keeping 10 s to push question_closed.
    max_wait_s = context.get_remaining_time_in_millis() / 1000 - 10
    closed = quiz_service().close_due(quiz_id, position, max_wait_s=max_wait_s)
    log.info("deadline of %s/%s: %s", quiz_id, position, "closed" if closed else "already closed")
    return {"quiz_id": quiz_id, "question_id": position, "closed": closed}
