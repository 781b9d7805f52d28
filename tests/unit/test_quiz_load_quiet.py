"""bench.quiz_load's fan-out probe waits for the answers still running after the quiz, so that their CPU is
not counted as the fan-out's: when it stops waiting, and what it reports (pure logic, a scripted meter and
clock)."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.quiz_load.fanout import busy_cores, until_quiet

Processes = dict[str, tuple[str, float]]


class ScriptedMeter:
    """`CpuMeter.processes` readings: in window i the answers worker and PostgreSQL use `cores[i]` between
    them, the emulator half a core (its own work is not a backlog)."""

    emulator_pid: int | None = 4242

    def __init__(self, *cores: float, window_s: float = 1.0) -> None:
        self.cores = list(cores)
        self.window_s = window_s
        self.taken = 0
        self.cpu = {"101": ("fn:answers", 50.0), "102": ("postgres", 20.0), "103": ("emulator", 80.0)}

    def processes(self) -> Processes:
        if self.taken:
            busy = self.cores[min(self.taken, len(self.cores)) - 1] * self.window_s
            (a, answers), (p, postgres), (e, emulator) = self.cpu["101"], self.cpu["102"], self.cpu["103"]
            self.cpu = {"101": (a, answers + busy * 0.75), "102": (p, postgres + busy * 0.25), "103": (e, emulator + 0.5 * self.window_s)}
        self.taken += 1
        return dict(self.cpu)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.now += s
        self.slept += 1


def wait(meter: Any, clock: Clock | None = None, **kw: Any) -> dict[str, Any]:
    clock = clock or Clock()
    return asyncio.run(until_quiet(meter, clock=clock, sleep=clock.sleep, **{"max_wait_s": 60.0, **kw}))


def test_it_waits_while_the_functions_and_postgres_are_busy_and_stops_once_they_are_idle() -> None:
    result = wait(ScriptedMeter(1.6, 0.9, 0.3, 0.02))
    assert result == {"quiet": True, "waited_s": 4.0, "busy_cores": 0.02}


def test_an_idle_product_is_probed_after_one_window() -> None:
    assert wait(ScriptedMeter(0.0)) == {"quiet": True, "waited_s": 1.0, "busy_cores": 0.0}


def test_it_gives_up_at_the_limit_and_says_the_product_was_not_idle() -> None:
    result = wait(ScriptedMeter(1.2), max_wait_s=5.0)
    assert result == {"quiet": False, "waited_s": 5.0, "busy_cores": 1.2}


def test_without_a_meter_or_a_node_of_its_own_it_does_not_wait_and_says_it_does_not_know() -> None:
    unknown = {"quiet": None, "waited_s": 0.0, "busy_cores": None}
    clock = Clock()
    assert wait(None, clock) == unknown  # no /proc
    elsewhere = ScriptedMeter(1.2)
    elsewhere.emulator_pid = None  # --base-url: its workers cannot be told apart from other processes
    assert wait(elsewhere, clock) == unknown
    assert clock.slept == 0 and elsewhere.taken == 0


def test_only_the_functions_and_postgres_count_as_busy() -> None:
    before: Processes = {"1": ("fn:answers", 1.0), "2": ("fn:leaderboard", 1.0), "3": ("postgres", 1.0), "4": ("emulator", 1.0)}
    after: Processes = {"1": ("fn:answers", 1.3), "2": ("fn:leaderboard", 1.1), "3": ("postgres", 1.1), "4": ("emulator", 1.9)}
    assert round(busy_cores(before, after, 2.0), 6) == 0.25


def test_a_process_that_exits_within_the_window_does_not_hide_the_others_work() -> None:
    # A worker with 30 s of CPU behind it is killed (its timeout) while another keeps answering: summed by
    # component, the answers function's total would drop by 29.4 s and read as idle.
    before: Processes = {"1": ("fn:answers", 30.0), "2": ("fn:answers", 5.0), "3": ("postgres", 10.0)}
    after: Processes = {"2": ("fn:answers", 5.6), "3": ("postgres", 10.2), "5": ("fn:answers", 0.1)}  # 5: its replacement
    assert round(busy_cores(before, after, 1.0), 6) == 0.9
