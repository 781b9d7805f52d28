"""EventBridge Scheduler schedules outlive an emulator restart, as they outlive nothing on AWS but time."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.emulator.harness import RunningEmulator, start_emulator
from tests.waiting import eventually

pytestmark = pytest.mark.e2e

ROLE = "arn:aws:iam::000000000000:role/x"


def scheduler(emu: RunningEmulator) -> Any:
    return boto3.client(
        "scheduler", endpoint_url=emu.url + "/_aws/scheduler", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def at(when: datetime) -> str:
    return f"at({when:%Y-%m-%dT%H:%M:%S})"


def test_schedules_due_while_the_emulator_was_down_fire_at_its_restart_and_the_rest_keep_their_time(tmp_path: Path) -> None:
    store = tmp_path / "state" / "schedules.json"
    events = tmp_path / "events"
    events.mkdir()
    due_while_down = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    later = due_while_down + timedelta(seconds=5)
    with start_emulator(events, schedule_store=store) as emu:
        client, arn = scheduler(emu), emu.emulator.application.functions["TickFunction"].arn
        for name, when, payload in (("down", due_while_down, "while-down"), ("later", later, "later"), ("gone", later, "deleted")):
            client.create_schedule(
                Name=name, ScheduleExpression=at(when), ScheduleExpressionTimezone="UTC", FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE", Target={"Arn": arn, "RoleArn": ROLE, "Input": json.dumps({"name": payload})},
            )  # fmt: skip
        client.delete_schedule(Name="gone")
    # The emulator is down past the first schedule's time: nothing ran it.
    time.sleep(max(0.0, due_while_down.timestamp() - time.time()) + 1.5)
    assert not list(events.glob("tick-*.json"))
    with start_emulator(events, schedule_store=store) as emu:
        started = time.time()
        client = scheduler(emu)
        assert client.get_schedule(Name="later")["ScheduleExpression"] == at(later)
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.get_schedule(Name="gone")
        fired = emu.recorded("tick", "while-down", timeout=10)
        assert fired["event"] == {"name": "while-down"}, "with the schedule's Input"
        print(
            f"\nfired {fired['received_at'] - started:.3f} s after the restart ({fired['received_at'] - due_while_down.timestamp():.1f} s late)"
        )
        kept = emu.recorded("tick", "later", timeout=15)
        assert kept["event"] == {"name": "later"}
        assert kept["received_at"] >= later.timestamp(), "a schedule not yet due keeps its time"
        with pytest.raises(AssertionError, match="no tick event"):
            emu.recorded("tick", "deleted", timeout=1)
        # ActionAfterCompletion DELETE: fired, then gone, from the store too
        eventually(lambda: all(name not in store.read_text() for name in ("down", "later")), 10, "both fired schedules to leave the store")
    assert json.loads(store.read_text()) == []


def test_a_fired_schedule_without_delete_is_kept_but_never_fires_again_after_a_restart(tmp_path: Path) -> None:
    store = tmp_path / "schedules.json"
    events = tmp_path / "events"
    events.mkdir()
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    with start_emulator(events, schedule_store=store) as emu:
        client, arn = scheduler(emu), emu.emulator.application.functions["TickFunction"].arn
        client.create_schedule(
            Name="kept", ScheduleExpression=at(when), FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": arn, "RoleArn": ROLE, "Input": json.dumps({"name": "kept"})},
        )  # fmt: skip
        emu.recorded("tick", "kept", timeout=10)
        eventually(lambda: json.loads(store.read_text())[0]["fired"], 5, "the store to mark the schedule fired")
    (events / "tick-kept.json").unlink()
    with start_emulator(events, schedule_store=store) as emu:
        assert scheduler(emu).get_schedule(Name="kept")["Name"] == "kept"
        with pytest.raises(AssertionError, match="no tick event"):
            emu.recorded("tick", "kept", timeout=2)
