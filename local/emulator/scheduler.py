"""EventBridge Scheduler (one-time ``at()`` schedules) and template ``Schedule`` events, locally.

The Scheduler API is served at ``/_aws/scheduler`` in the shape boto3's ``scheduler`` client speaks
(REST-JSON), so ``boto3.client("scheduler", endpoint_url="http://127.0.0.1:8000/_aws/scheduler")``
works unchanged:

    POST   /schedules/{Name}   CreateSchedule  (409 ConflictException when it exists)
    GET    /schedules/{Name}   GetSchedule     (404 ResourceNotFoundException)
    DELETE /schedules/{Name}   DeleteSchedule

Only one-time ``at(yyyy-mm-ddThh:mm:ss)`` expressions are emulated (with
``ScheduleExpressionTimezone``, default UTC); the target must be a Lambda function of the template
(by ARN). At the time, the target is invoked with ``Target.Input`` (parsed JSON), retried per
``RetryPolicy.MaximumRetryAttempts`` (default 185 on AWS; bounded to 3 here), then, with
``ActionAfterCompletion: DELETE``, the schedule is removed. Schedules live in this node's memory:
a restart forgets them, as a question's deadline still holds on the database's clock.

Template ``Type: Schedule`` events with ``rate(...)`` expressions run periodically with their ``Input``
(or an EventBridge "Scheduled Event" when there is none). ``cron(...)`` is not emulated (logged).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = logging.getLogger("emulator.scheduler")

PREFIX = "/_aws/scheduler"
LOCAL_MAX_RETRIES = 3
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
# CreateSchedule's Name and GroupName: 1-64 of [0-9a-zA-Z-_.] (AWS API reference); boto3 does not check patterns.
_NAME = re.compile(r"^[0-9a-zA-Z_.-]{1,64}$")

InvokeAsync = Callable[[str, Any], Awaitable[Any]]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"Message": message}, status_code=status, headers={"x-amzn-ErrorType": code})


def rate_seconds(expression: str) -> int | None:
    m = _RATE.match(expression.strip())
    if not m:
        return None
    return int(m.group(1)) * _UNIT_S[m.group(2).rstrip("s")]


def at_time(expression: str, timezone: str | None) -> datetime:
    m = _AT.match(expression.strip())
    if not m:
        raise ValueError("only one-time at(yyyy-mm-ddThh:mm:ss) schedules are emulated")
    try:
        tz = ZoneInfo(timezone or "UTC")
    except ZoneInfoNotFoundError as exc:
        raise ValueError(f"unknown ScheduleExpressionTimezone {timezone!r}") from exc
    return datetime.fromisoformat(m.group(1)).replace(tzinfo=tz)


@dataclass
class Schedule:
    name: str
    group: str
    expression: str
    when: datetime
    function_id: str
    payload: Any
    retries: int
    delete_after: bool
    arn: str
    created: dict[str, Any]  # what GetSchedule returns besides Name, GroupName and Arn
    handle: asyncio.TimerHandle | None = None


class Scheduler:
    """One-time schedules that invoke template functions, plus the template's rate() events."""

    def __init__(self, *, resolve_arn: Callable[[str], str | None], invoke: InvokeAsync, region: str, account_id: str) -> None:
        self._resolve = resolve_arn
        self._invoke = invoke
        self._region, self._account = region, account_id
        self._schedules: dict[tuple[str, str], Schedule] = {}
        self._periodic: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()

    def routes(self) -> list[Route]:
        return [Route(PREFIX + "/schedules/{name}", self.endpoint, methods=["POST", "GET", "DELETE"])]

    # ------------------------------------------------------------------ the API

    async def endpoint(self, request: Request) -> Response:
        name = request.path_params["name"]
        group = request.query_params.get("groupName", "default")
        if request.method == "GET":
            found = self._schedules.get((group, name))
            if found is None:
                return _error(404, "ResourceNotFoundException", f"Schedule {name} does not exist.")
            return JSONResponse({"Name": name, "GroupName": group, "Arn": found.arn, **found.created})
        if request.method == "DELETE":
            found = self._schedules.pop((group, name), None)
            if found is None:
                return _error(404, "ResourceNotFoundException", f"Schedule {name} does not exist.")
            if found.handle:
                found.handle.cancel()
            return JSONResponse({})
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "ValidationException", "body is not JSON")
        return self.create(name, body)

    def create(self, name: str, body: dict[str, Any]) -> Response:
        group = body.get("GroupName") or "default"
        for what, value in (("Name", name), ("GroupName", group)):
            if not _NAME.match(value):
                return _error(400, "ValidationException", f"{what} {value!r} must be 1-64 characters of [0-9a-zA-Z-_.]")
        if (group, name) in self._schedules:
            return _error(409, "ConflictException", f"Schedule {name} already exists.")
        target = body.get("Target") or {}
        function_id = self._resolve(str(target.get("Arn", "")))
        if function_id is None:
            return _error(400, "ValidationException", f"Target.Arn {target.get('Arn')!r} is not a function of this template")
        try:
            when = at_time(str(body.get("ScheduleExpression", "")), body.get("ScheduleExpressionTimezone"))
            payload = json.loads(target["Input"]) if target.get("Input") else {}
        except (ValueError, json.JSONDecodeError) as exc:
            return _error(400, "ValidationException", str(exc))
        retries = int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", LOCAL_MAX_RETRIES))
        arn = f"arn:aws:scheduler:{self._region}:{self._account}:schedule/{group}/{name}"
        now = datetime.now(UTC).timestamp()
        echoed = ("ActionAfterCompletion", "Description", "FlexibleTimeWindow", "ScheduleExpression", "ScheduleExpressionTimezone")
        created = {key: body[key] for key in echoed if key in body}
        created.update(CreationDate=now, LastModificationDate=now, State=body.get("State") or "ENABLED", Target=target)
        schedule = Schedule(
            name,
            group,
            str(body["ScheduleExpression"]),
            when,
            function_id,
            payload,
            min(retries, LOCAL_MAX_RETRIES),
            body.get("ActionAfterCompletion") == "DELETE",
            arn,
            created,
        )
        self._schedules[(group, name)] = schedule
        if created["State"] == "DISABLED":  # AWS: a disabled schedule does not invoke its target
            return JSONResponse({"ScheduleArn": arn})
        delay = max(0.0, (when - datetime.now(UTC)).total_seconds())
        schedule.handle = asyncio.get_running_loop().call_later(delay, self._fire, schedule)
        return JSONResponse({"ScheduleArn": arn})

    def _fire(self, schedule: Schedule) -> None:
        task = asyncio.get_running_loop().create_task(self._run(schedule))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, schedule: Schedule) -> None:
        for attempt in range(schedule.retries + 1):
            try:
                await self._invoke(schedule.function_id, schedule.payload)
                break
            except Exception as exc:  # the target failed: retry with backoff, as Scheduler does
                log.warning("schedule %s: %s failed (attempt %d): %s", schedule.name, schedule.function_id, attempt + 1, exc)
                await asyncio.sleep(min(2**attempt, 10))
        if schedule.delete_after:
            self._schedules.pop((schedule.group, schedule.name), None)

    # ------------------------------------------------------------------ template Schedule events

    def start_periodic(self, function_id: str, expression: str, payload: Any | None) -> None:
        seconds = rate_seconds(expression)
        if seconds is None:
            log.warning("%s: schedule %r is not emulated (only rate(...) expressions are)", function_id, expression)
            return

        async def every() -> None:
            while True:
                await asyncio.sleep(seconds)
                event = payload if payload is not None else scheduled_event(self._region, self._account)
                try:
                    await self._invoke(function_id, event)
                except Exception as exc:
                    log.warning("scheduled run of %s failed: %s", function_id, exc)

        self._periodic.append(asyncio.get_running_loop().create_task(every()))

    async def stop(self) -> None:
        for s in self._schedules.values():
            if s.handle:
                s.handle.cancel()
        for t in [*self._periodic, *self._running]:
            t.cancel()
        self._schedules.clear()


def scheduled_event(region: str, account: str) -> dict[str, Any]:
    """The EventBridge "Scheduled Event" a rule without Input delivers."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": {},
    }
