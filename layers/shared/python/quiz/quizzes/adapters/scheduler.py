"""EventBridge Scheduler adapter of the question timer (`QuestionTimer`): a one-time schedule per question deadline.

The schedule invokes the question clock function with ``{"quiz_id", "question_id", "deadline"}``
shortly before the deadline (see `fire_time`) and deletes itself afterwards; the clock waits for the
deadline on PostgreSQL's clock, then closes the question. The
local emulator implements the same Scheduler API and points ``AWS_ENDPOINT_URL_SCHEDULER`` at it, so
this adapter runs unchanged there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("quiz.timer")


def fire_time(deadline: datetime, now: datetime, precision_s: int) -> datetime:
    """When the schedule should fire so the clock runs no later than the deadline.

    EventBridge Scheduler fires a one-time schedule within a minute of its time (60 s precision), so
    the schedule is set ``precision_s`` early and the clock function waits for the deadline itself.
    Whole seconds, which is what ``at()`` takes, rounded down: an exact scheduler (the emulator's)
    then fires up to a second early and the clock waits the rest, instead of firing up to a second
    late. Never in the past.
    """
    target = max(deadline - timedelta(seconds=precision_s), now + timedelta(seconds=1))
    floored = target.replace(microsecond=0)
    return floored if floored > now else floored + timedelta(seconds=1)


class SchedulerQuestionTimer:
    def __init__(self, *, target_arn: str, role_arn: str, precision_s: int = 60, client: Any | None = None) -> None:
        self._target, self._role, self._precision = target_arn, role_arn, precision_s
        if client is None:
            # Imported when the first question opens, not at module level: boto3 costs every function that
            # imports the quiz service ~0.1 s of cold start, and only the host's "next question" needs it.
            import boto3

            # The endpoint is boto3's own: the regional one on AWS, AWS_ENDPOINT_URL_SCHEDULER where set (the emulator).
            client = boto3.client("scheduler")
        self._client = client

    def close_at(self, quiz_id: str, position: int, deadline: datetime) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        when = fire_time(deadline.astimezone(UTC), datetime.now(UTC), self._precision)
        try:
            self._client.create_schedule(
                Name=f"close-{quiz_id}-{position}",
                ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self._target,
                    "RoleArn": self._role,
                    "Input": json.dumps({"quiz_id": quiz_id, "question_id": position, "deadline": deadline.isoformat()}),
                    "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 300},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConflictException":  # already scheduled: fine
                log.error("could not schedule the close of %s/%s: %s", quiz_id, position, exc)
        except BotoCoreError as exc:
            # The deadline still holds for answers (checked on PostgreSQL's clock); only the push waits
            # for the host's next action.
            log.error("could not schedule the close of %s/%s: %s", quiz_id, position, exc)


class LazyQuestionTimer:
    """Builds the real timer on first use, so functions that never open a question (the clock itself,
    the relay, WebSocket joins) need none of its configuration."""

    def __init__(self, build: Callable[[], SchedulerQuestionTimer]) -> None:
        self._build = build
        self._timer: SchedulerQuestionTimer | None = None

    def close_at(self, quiz_id: str, position: int, deadline: datetime) -> None:
        if self._timer is None:
            self._timer = self._build()
        self._timer.close_at(quiz_id, position, deadline)
