"""EventBridge Scheduler adapter of the question timer: a one-time schedule per question deadline.

The schedule invokes the question clock function with ``{"quiz_id", "question_id"}`` at the deadline
(rounded up to the whole second that `at()` expressions allow) and deletes itself afterwards. The
local emulator implements the same Scheduler API and points ``AWS_ENDPOINT_URL_SCHEDULER`` at it, so
this adapter runs unchanged there.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger("quiz.timer")


class SchedulerQuestionTimer:
    def __init__(self, *, target_arn: str, role_arn: str, client: Any | None = None) -> None:
        self._target, self._role = target_arn, role_arn
        # The endpoint is boto3's own: the regional one on AWS, AWS_ENDPOINT_URL_SCHEDULER where set (the emulator).
        self._client = client or boto3.client("scheduler")

    def close_at(self, quiz_id: str, position: int, deadline: datetime) -> None:
        utc = deadline.astimezone(UTC)
        whole = utc.replace(microsecond=0) + (timedelta(seconds=1) if utc.microsecond else timedelta(0))
        assert math.isfinite(whole.timestamp())
        try:
            self._client.create_schedule(
                Name=f"close-{quiz_id}-{position}",
                ScheduleExpression=f"at({whole:%Y-%m-%dT%H:%M:%S})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self._target,
                    "RoleArn": self._role,
                    "Input": json.dumps({"quiz_id": quiz_id, "question_id": position}),
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
