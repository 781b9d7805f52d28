"""EventBridge Scheduler one-time schedules through boto3's `scheduler` client against the emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from local.emulator.scheduler import at_time, rate_seconds
from tests.emulator.harness import RunningEmulator, start_emulator

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with start_emulator(tmp_path_factory.mktemp("scheduler")) as running:
        yield running


def scheduler(emu: RunningEmulator) -> Any:
    return boto3.client(
        "scheduler", endpoint_url=emu.url + "/_aws/scheduler", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def tick_arn(emu: RunningEmulator) -> str:
    fn = emu.emulator.application.functions["TickFunction"]
    return fn.arn


def test_a_one_time_schedule_invokes_its_target_at_the_time_then_deletes_itself(emu: RunningEmulator) -> None:
    client = scheduler(emu)
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    created = client.create_schedule(
        Name="close-Q1-1",
        ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})",
        ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={"Arn": tick_arn(emu), "RoleArn": "arn:aws:iam::000000000000:role/x", "Input": json.dumps({"name": "q1"})},
    )
    assert created["ScheduleArn"].endswith(":schedule/default/close-Q1-1")
    got = client.get_schedule(Name="close-Q1-1")
    assert got["ScheduleExpression"].startswith("at(") and got["ScheduleExpressionTimezone"] == "UTC"
    # GetSchedule returns the schedule as created (AWS API reference, GetSchedule response elements).
    assert got["Target"]["Arn"] == tick_arn(emu) and got["Target"]["Input"] == json.dumps({"name": "q1"})
    assert (got["ActionAfterCompletion"], got["State"], got["FlexibleTimeWindow"]) == ("DELETE", "ENABLED", {"Mode": "OFF"})
    assert got["CreationDate"] <= datetime.now(UTC)
    with pytest.raises(client.exceptions.ConflictException):
        client.create_schedule(
            Name="close-Q1-1", ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})", FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": tick_arn(emu), "RoleArn": "arn:aws:iam::000000000000:role/x"},
        )  # fmt: skip
    record = emu.recorded("tick", "q1", timeout=10)
    assert record["event"] == {"name": "q1"}
    assert when.timestamp() <= record["received_at"] < when.timestamp() + 2, "at its time, not before"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_schedule(Name="close-Q1-1")


def test_a_disabled_schedule_does_not_invoke_its_target(emu: RunningEmulator) -> None:
    client = scheduler(emu)
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    client.create_schedule(
        Name="disabled-1", ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})", FlexibleTimeWindow={"Mode": "OFF"}, State="DISABLED",
        Target={"Arn": tick_arn(emu), "RoleArn": "arn:aws:iam::000000000000:role/x", "Input": json.dumps({"name": "disabled"})},
    )  # fmt: skip
    assert client.get_schedule(Name="disabled-1")["State"] == "DISABLED"
    with pytest.raises(AssertionError, match="no tick event"):
        emu.recorded("tick", "disabled", timeout=3)
    client.delete_schedule(Name="disabled-1")


def test_bad_schedules_are_refused_with_validation_errors(emu: RunningEmulator) -> None:
    client = scheduler(emu)
    target = {"Arn": tick_arn(emu), "RoleArn": "arn:aws:iam::000000000000:role/x"}
    with pytest.raises(client.exceptions.ValidationException):
        client.create_schedule(Name="every", ScheduleExpression="rate(5 minutes)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    with pytest.raises(client.exceptions.ValidationException):
        client.create_schedule(
            Name="elsewhere", ScheduleExpression="at(2030-01-01T00:00:00)", FlexibleTimeWindow={"Mode": "OFF"},
            Target={**target, "Arn": "arn:aws:lambda:us-east-1:000000000000:function:NotInTemplate"},
        )  # fmt: skip
    # Name is 1-64 of [0-9a-zA-Z-_.] (AWS API reference, CreateSchedule); boto3 sends any other name unchecked.
    with pytest.raises(client.exceptions.ValidationException):
        client.create_schedule(
            Name="close:Q1:1", ScheduleExpression="at(2030-01-01T00:00:00)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target
        )
    client.create_schedule(Name="later", ScheduleExpression="at(2030-01-01T00:00:00)", FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
    client.delete_schedule(Name="later")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.delete_schedule(Name="later")


def test_expressions() -> None:
    assert rate_seconds("rate(1 minute)") == 60 and rate_seconds("rate(2 hours)") == 7200 and rate_seconds("cron(0 * * * ? *)") is None
    assert at_time("at(2030-01-01T10:00:00)", "Europe/Paris") == datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="Nowhere"):
        at_time("at(2030-01-01T10:00:00)", "Nowhere/Land")
