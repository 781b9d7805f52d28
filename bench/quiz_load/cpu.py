"""Where the machine's CPU goes during a phase: per component, read from /proc (Linux only).

Components: the emulator process itself, its workers by function (`fn:answers`, `fn:ws_connect`, ...),
PostgreSQL, Redis, the Kafka broker, ZooKeeper, this load generator, the fan-out ceiling's bare
`websockets` server, the fan-out probe's sender (the product's delivery adapter), and `other` (everything else the
machine ran: a test suite beside the benchmark shows up there, which is how a reader knows a figure was
disturbed). Seconds of CPU, so a phase's figure divided by its answers is CPU milliseconds per answer.
A process that exits within a phase loses its last seconds (workers rarely do).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: str) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a process, or None if it is gone."""
    try:
        fields = (PROC / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _command(pid: str) -> str:
    try:
        return (PROC / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def rss_kib(pid: int | None) -> int | None:
    """A process's resident memory (VmRSS), KiB; None if unknown or gone."""
    if pid is None:
        return None
    try:
        line = next(x for x in (PROC / str(pid) / "status").read_text().splitlines() if x.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1])


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all but idle and iowait) since boot."""
    values = [int(v) for v in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _TICK


@dataclass
class CpuMeter:
    """Snapshots of CPU seconds per component; `emulator_pid` is the node under test (None: not ours)."""

    emulator_pid: int | None = None
    _kinds: dict[str, str] = field(default_factory=dict)  # pid -> component, cached (a pid's command does not change)

    @staticmethod
    def available() -> bool:
        return (PROC / "stat").exists()

    def _component(self, pid: str, parent: int) -> str | None:
        kind = self._kinds.get(pid)
        if kind is not None:
            return kind
        command = _command(pid)
        comm = command.split(" ", 1)[0].rsplit("/", 1)[-1]
        if self.emulator_pid is not None and int(pid) == self.emulator_pid:
            kind = "emulator"
        elif self.emulator_pid is not None and parent == self.emulator_pid and "worker.py" in command:
            code_dir = command.split("worker.py", 1)[1].split()[0] if command.split("worker.py", 1)[1].split() else "?"
            kind = "fn:" + code_dir.rstrip("/").rsplit("/", 1)[-1]
        elif int(pid) == os.getpid():
            kind = "load generator"
        elif "bench.quiz_load.ceiling_server" in command:
            kind = "bare server"
        elif "bench.quiz_load.fanout_sender" in command:
            kind = "fan-out sender"
        elif comm.startswith("postgres"):
            kind = "postgres"
        elif comm.startswith("redis"):
            kind = "redis"
        elif "kafka.Kafka" in command or ("kafka" in command and "java" in comm and "zookeeper" not in command):
            kind = "kafka"
        elif "java" in comm and "zookeeper" in command.lower():
            kind = "zookeeper"
        else:
            kind = ""  # counted in `other`
        self._kinds[pid] = kind
        return kind

    def snapshot(self) -> dict[str, float]:
        """CPU seconds per component now (the living processes' sums), and the whole machine's."""
        seconds: dict[str, float] = defaultdict(float)
        for kind, spent in self.processes().values():
            seconds[kind] += spent
        seconds["machine"] = _machine_busy_s()
        return seconds

    def processes(self) -> dict[str, tuple[str, float]]:
        """Each named process's component and CPU seconds now, by pid. Two of these make a short window's
        figure that a process exiting within it (a worker killed on its timeout, a closed connection's
        backend) cannot zero: `snapshot` sums the living, so such an exit can make a component's total
        go down."""
        seconds: dict[str, tuple[str, float]] = {}
        for entry in PROC.iterdir():
            pid = entry.name
            if not pid.isdigit():
                continue
            stat = _stat(pid)
            if stat is None:
                continue
            kind = self._component(pid, stat[0])
            if kind:
                seconds[pid] = (kind, stat[1])
        return seconds

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """CPU seconds per component between two snapshots, with `other` = the machine minus the named ones."""
        spent = {k: max(0.0, after[k] - before.get(k, 0.0)) for k in after if k != "machine"}
        machine = max(0.0, after["machine"] - before.get("machine", 0.0))
        spent = {k: round(v, 3) for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v > 0}
        spent["other"] = round(max(0.0, machine - sum(spent.values())), 3)
        spent["machine"] = round(machine, 3)
        return spent
