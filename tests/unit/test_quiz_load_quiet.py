"""bench.quiz_load's fan-out probe waits for the answers still running after the quiz, so that their CPU is
not counted as the fan-out's: when it stops waiting, and what it reports (pure logic, a scripted meter and
clock)."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.quiz_load.fanout import busy_cores, until_quiet


class ScriptedMeter:
    """CPU snapshots whose functions and PostgreSQL use `cores[i]` in window i (and other work besides)."""

    def __init__(self, *cores: float, window_s: float = 1.0) -> None:
        self.cores = list(cores)
        self.window_s = window_s
        self.taken = 0
        self.cpu = {"fn:answers": 0.0, "postgres": 0.0, "emulator": 0.0, "machine": 0.0}

    def snapshot(self) -> dict[str, float]:
        if self.taken:
            busy = self.cores[min(self.taken, len(self.cores)) - 1] * self.window_s
            self.cpu = {
                "fn:answers": self.cpu["fn:answers"] + busy * 0.75,
                "postgres": self.cpu["postgres"] + busy * 0.25,
                "emulator": self.cpu["emulator"] + 0.5 * self.window_s,  # the emulator's own work is not a backlog
                "machine": self.cpu["machine"] + busy + 0.5 * self.window_s,
            }
        self.taken += 1
        return dict(self.cpu)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, s: float) -> None:
        self.now += s


def wait(meter: ScriptedMeter, **kw: Any) -> dict[str, Any]:
    clock = Clock()
    return asyncio.run(until_quiet(meter, clock=clock, sleep=clock.sleep, **{"max_wait_s": 60.0, **kw}))  # type: ignore[arg-type]


def test_it_waits_while_the_functions_and_postgres_are_busy_and_stops_once_they_are_idle() -> None:
    result = wait(ScriptedMeter(1.6, 0.9, 0.3, 0.02))
    assert result == {"quiet": True, "waited_s": 4.0, "busy_cores": 0.02}


def test_an_idle_product_is_probed_after_one_window() -> None:
    assert wait(ScriptedMeter(0.0)) == {"quiet": True, "waited_s": 1.0, "busy_cores": 0.0}


def test_it_gives_up_at_the_limit_and_says_the_product_was_not_idle() -> None:
    result = wait(ScriptedMeter(1.2), max_wait_s=5.0)
    assert result == {"quiet": False, "waited_s": 5.0, "busy_cores": 1.2}


def test_only_the_functions_and_postgres_count_as_busy() -> None:
    spent = {"fn:answers": 0.3, "fn:leaderboard": 0.1, "postgres": 0.1, "emulator": 0.9, "load generator": 0.5, "machine": 2.0}
    assert busy_cores(spent, 2.0) == 0.25
