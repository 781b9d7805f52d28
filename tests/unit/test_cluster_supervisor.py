"""`make run-cluster`'s supervisor with fake node processes and a fake clock: a node's death is announced,
the survivors keep serving, the node starts again after a backoff, and a node that keeps dying is left down."""

from __future__ import annotations

import io
import signal
from typing import Any

import pytest

from local import cluster
from local.cluster import RestartPolicy, Supervisor


class FakeNode:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def die(self, code: int = -signal.SIGKILL) -> None:
        self.returncode = code


class FakeSupervisor(Supervisor):
    def __init__(self, policy: RestartPolicy | None) -> None:
        super().__init__("127.0.0.1", 8000, [8001, 8002], policy, out=io.StringIO())
        self.spawned: list[int] = []

    def spawn(self, port: int) -> None:
        self.spawned.append(port)
        self.nodes[port] = FakeNode(len(self.spawned))  # type: ignore[assignment]

    @property
    def said(self) -> str:
        assert isinstance(self.out, io.StringIO)
        return self.out.getvalue()

    def node(self, port: int) -> FakeNode:
        node: Any = self.nodes[port]
        return node  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "port_open", lambda host, port: False)  # a dead node's port is free
    monkeypatch.setattr(cluster, "_answers", lambda host, port: True)  # a restarted node answers at once


def started(policy: RestartPolicy | None) -> FakeSupervisor:
    supervisor = FakeSupervisor(policy)
    for port in (8001, 8002):
        supervisor.spawn(port)
    return supervisor


def test_a_dead_node_is_announced_the_survivor_named_and_the_node_restarted_after_a_backoff() -> None:
    supervisor = started(RestartPolicy(first_delay_s=1.0))
    supervisor.node(8001).die()
    supervisor.check(now=100.0)
    assert "node :8001 died (killed by SIGKILL); still serving on :8000 through node(s) :8002" in supervisor.said
    assert "restarting node :8001 in 1 s" in supervisor.said
    supervisor.check(now=100.5)
    assert supervisor.spawned == [8001, 8002], "not before the backoff"
    supervisor.check(now=101.0)
    assert supervisor.spawned == [8001, 8002, 8001]
    supervisor.check(now=101.5)
    assert "node :8001 is back and serving" in supervisor.said
    assert supervisor.node(8002).poll() is None, "the survivor was never touched"


def test_the_backoff_doubles_and_a_node_that_keeps_dying_is_left_down() -> None:
    supervisor = started(RestartPolicy(max_restarts=3, window_s=300.0, first_delay_s=1.0))
    now = 0.0
    delays = []
    for _ in range(3):
        supervisor.node(8001).die(1)
        supervisor.check(now)
        due = supervisor.restart_at[8001]
        delays.append(due - now)
        now = due
        supervisor.check(now)  # started again
        now += 1.0
    assert delays == [1.0, 2.0, 4.0]
    supervisor.node(8001).die(1)
    supervisor.check(now)
    assert "node :8001 stays down (3 restarts in 300 s already)" in supervisor.said
    supervisor.check(now + 600)
    assert supervisor.spawned.count(8001) == 4, "left down: no further start"


def test_restarts_older_than_the_window_no_longer_count() -> None:
    policy = RestartPolicy(max_restarts=1, window_s=60.0)
    policy.started(8001, now=0.0)
    assert policy.next_start(8001, now=30.0) is None
    assert policy.next_start(8001, now=61.0) == 62.0


def test_with_no_restart_a_dead_node_stays_down_and_the_others_keep_serving() -> None:
    supervisor = started(None)
    supervisor.node(8002).die(0)
    supervisor.check(now=1.0)
    supervisor.check(now=100.0)
    assert "node :8002 died (exit code 0); still serving on :8000 through node(s) :8001" in supervisor.said
    assert "node :8002 stays down (--no-restart)" in supervisor.said
    assert supervisor.spawned == [8001, 8002]
    assert supervisor.said.count("died") == 1, "announced once"
