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
``ActionAfterCompletion: DELETE``, the schedule is removed.

Schedules outlive a restart, as EventBridge Scheduler's do: each create, delete and firing rewrites a
JSON file (`ScheduleFile`, ``EmulatorSettings.schedule_store``; default
``.state/emulator/schedules-<node id>.json``). On start-up the node loads it, fires at once (with their
``Input``) the schedules that fell due while it was down, and schedules the rest; a schedule that has
fired is kept only when AWS keeps it (no ``ActionAfterCompletion: DELETE``), marked so that it never fires
twice. A file of this node's own rather than the Redis registry: a node runs without Redis, and nodes
sharing a Redis would each load and fire every schedule (the node that took the CreateSchedule call owns
it, as it owns its WebSockets). A firing cut short by a stop runs again after the restart: at least once,
as on AWS, which the question clock tolerates (closing a closed question changes nothing).

Template ``Type: Schedule`` events with ``rate(...)`` expressions run periodically with their ``Input``
(or an EventBridge "Scheduled Event" when there is none). ``cron(...)`` is not emulated (logged).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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
    body: dict[str, Any]  # the CreateSchedule request, which the store keeps to rebuild it
    handle: asyncio.TimerHandle | None = None
    fired: bool = False


class ScheduleFile:
    """The schedules of one node in a JSON file, rewritten whole (and atomically) on every change:
    a few hundred schedules at most (one per open question), so simplicity wins over a journal."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[dict[str, Any]]:
        try:
            records = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("schedules in %s not loaded: %s", self.path, exc)
            return []
        return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []

    def save(self, records: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_name(self.path.name + ".tmp")
        scratch.write_text(json.dumps(records, separators=(",", ":")))
        os.replace(scratch, self.path)  # readers (and a crash) see the old file or the new one, never half


class Scheduler:
    """One-time schedules that invoke template functions, plus the template's rate() events."""

    def __init__(
        self,
        *,
        resolve_arn: Callable[[str], str | None],
        invoke: InvokeAsync,
        region: str,
        account_id: str,
        store: ScheduleFile | None = None,
    ) -> None:
        self._resolve = resolve_arn
        self._store = store
        self._invoke = invoke
        self._region, self._account = region, account_id
        self._schedules: dict[tuple[str, str], Schedule] = {}
        self._periodic: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()
        self._stopped = False

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
            self._save()
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
        now = datetime.now(UTC).timestamp()
        try:
            schedule = self._build(name, group, body, {"CreationDate": now, "LastModificationDate": now})
        except ValueError as exc:
            return _error(400, "ValidationException", str(exc))
        self._add(schedule)
        self._save()
        return JSONResponse({"ScheduleArn": schedule.arn})

    def _build(self, name: str, group: str, body: dict[str, Any], dates: dict[str, Any]) -> Schedule:
        target = body.get("Target") or {}
        function_id = self._resolve(str(target.get("Arn", "")))
        if function_id is None:
            raise ValueError(f"Target.Arn {target.get('Arn')!r} is not a function of this template")
        try:
            when = at_time(str(body.get("ScheduleExpression", "")), body.get("ScheduleExpressionTimezone"))
            payload = json.loads(target["Input"]) if target.get("Input") else {}
        except json.JSONDecodeError as exc:
            raise ValueError(f"Target.Input is not JSON: {exc}") from exc
        retries = int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", LOCAL_MAX_RETRIES))
        arn = f"arn:aws:scheduler:{self._region}:{self._account}:schedule/{group}/{name}"
        echoed = ("ActionAfterCompletion", "Description", "FlexibleTimeWindow", "ScheduleExpression", "ScheduleExpressionTimezone")
        created = {key: body[key] for key in echoed if key in body}
        created.update(dates, State=body.get("State") or "ENABLED", Target=target)
        return Schedule(
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
            {**body, "GroupName": group},
        )

    def _add(self, schedule: Schedule) -> None:
        self._schedules[(schedule.group, schedule.name)] = schedule
        if schedule.created["State"] == "DISABLED" or schedule.fired:  # AWS: a disabled schedule does not invoke its target
            return
        delay = max(0.0, (schedule.when - datetime.now(UTC)).total_seconds())
        schedule.handle = asyncio.get_running_loop().call_later(delay, self._fire, schedule)

    def resume(self) -> int:
        """Load the schedules this node kept before it stopped (in the running loop): those that fell due
        meanwhile fire now, the rest at their time. Returns how many were loaded."""
        if self._store is None:
            return 0
        loaded = 0
        for record in self._store.load():
            try:
                name, body = str(record["name"]), dict(record["body"])
                group = str(body.get("GroupName") or "default")
                schedule = self._build(name, group, body, dict(record.get("dates") or {}))
            except (KeyError, TypeError, ValueError) as exc:  # its function left the template, or a damaged record
                log.warning("stored schedule %s not resumed: %s", record.get("name"), exc)
                continue
            schedule.fired = bool(record.get("fired"))
            if (group, name) in self._schedules:
                continue
            self._add(schedule)
            loaded += 1
            if not schedule.fired and schedule.handle is not None and schedule.when <= datetime.now(UTC):
                log.info("schedule %s/%s fell due at %s while this node was down: firing it now", group, name, schedule.when.isoformat())
        self._save()  # without the records that no longer resolve
        return loaded

    def _save(self) -> None:
        if self._store is None or self._stopped:  # stopping empties memory, never the store
            return
        records = [
            {
                "name": s.name,
                "body": s.body,
                "dates": {k: s.created[k] for k in ("CreationDate", "LastModificationDate") if k in s.created},
                "fired": s.fired,
            }
            for s in self._schedules.values()
        ]
        try:
            self._store.save(records)
        except OSError as exc:  # the schedule still fires while this node runs; only a restart would lose it
            log.warning("schedules not saved to %s: %s", self._store.path, exc)

    def _fire(self, schedule: Schedule) -> None:
        early = (schedule.when - datetime.now(UTC)).total_seconds()
        if early > 0:  # the loop's monotonic clock ran ahead of the wall clock: never before the time, as on AWS
            schedule.handle = asyncio.get_running_loop().call_later(early, self._fire, schedule)
            return
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
        schedule.fired = True
        if schedule.delete_after:
            self._schedules.pop((schedule.group, schedule.name), None)
        self._save()

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
        self._stopped = True
        for s in self._schedules.values():
            if s.handle:
                s.handle.cancel()
        for t in [*self._periodic, *self._running]:
            t.cancel()
        self._schedules.clear()  # in memory only: the store keeps them for the next start


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
