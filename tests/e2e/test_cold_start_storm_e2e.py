"""Cold-start storms: many invocations of several cold functions at once.

With the emulator's runtime and a template of slow-importing functions (tests/emulator/template-storm.yaml),
the workers that import at the same moment never outnumber the runtime's init limit and every invocation
succeeds; one that waits for an init slot takes a worker of its function that went idle meanwhile; the
init limit counts from the spawn; retired workers are re-warmed. Then the product itself: players of a
quiz reconnect and join all at once against a freshly started product whose every pool is cold.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from bench.quiz_load.seeding import BenchSeeder
from local.emulator import runtime as runtime_module
from local.emulator.runtime import FunctionTimeout, Runtime
from local.emulator.template import load_application
from local.product import ProductDidNotStart, local_product
from tests.emulator.harness import HERE
from tests.support import QUIZ
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

STORM_TEMPLATE = HERE / "template-storm.yaml"
STORM_FUNCTIONS = ["StormAFunction", "StormBFunction", "StormCFunction", "StormDFunction"]
WAIT = 30.0


def most_at_once(init_log: Path) -> tuple[int, int]:
    """(most imports in progress at the same moment, imports started) from the functions' own trace."""
    running = peak = started = 0
    for line in init_log.read_text().splitlines():
        if line.startswith("+"):
            running += 1
            started += 1
            peak = max(peak, running)
        elif line.startswith("-"):
            running -= 1
    return peak, started


@pytest.fixture
def storm(tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    """Runtimes over the storm template, closed after the test; their functions trace into tmp_path/init.log."""
    runtimes: list[Runtime] = []

    def make(init_concurrency: int, max_concurrency: int = 4, **parameters: str) -> Runtime:
        app = load_application(STORM_TEMPLATE, parameter_overrides={"InitLog": str(tmp_path / "init.log"), **parameters})
        runtime = Runtime(app.functions, app.region, max_concurrency=max_concurrency, init_concurrency=init_concurrency)
        runtimes.append(runtime)
        return runtime

    yield make
    for runtime in runtimes:
        runtime.close()


def test_a_storm_over_several_cold_functions_never_initialises_more_workers_at_once_than_the_limit(
    storm: Callable[..., Runtime], tmp_path: Path
) -> None:
    runtime = storm(init_concurrency=2, max_concurrency=4)
    calls = [fid for fid in STORM_FUNCTIONS for _ in range(20)]  # 80 invocations, 16 possible workers
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        results = list(pool.map(lambda fid: runtime.invoke(fid, {}), calls))

    assert [r["function"] for r in results] == [runtime.pool(fid).function.function_name for fid in calls], "every invocation answered"
    peak, started = most_at_once(tmp_path / "init.log")
    assert peak <= 2, f"{peak} workers were importing at once"
    assert peak == 2, "the storm did use both slots"
    cold = sum(runtime.pool(fid).cold_starts for fid in STORM_FUNCTIONS)
    assert started == cold, "every import traced is a cold start the pools counted"
    assert all(1 <= runtime.pool(fid).cold_starts <= 4 for fid in STORM_FUNCTIONS), "never more workers than a pool runs"
    assert runtime.init_gate.peak <= 2 and runtime.init_gate.in_use == 0


def test_an_invocation_waiting_for_an_init_slot_takes_a_worker_that_went_idle(storm: Callable[..., Runtime], tmp_path: Path) -> None:
    hold, busy = tmp_path / "hold", tmp_path / "busy"
    runtime = storm(init_concurrency=1, max_concurrency=2, HoldFile=str(hold))
    pool = runtime.pool("StormBFunction")
    warm_pid = runtime.invoke("StormBFunction", {})["pid"]
    results: dict[str, Any] = {}

    def run(name: str, fid: str, event: dict[str, Any]) -> threading.Thread:
        thread = threading.Thread(target=lambda: results.__setitem__(name, runtime.invoke(fid, event)))
        thread.start()
        return thread

    threads = [run("busy", "StormBFunction", {"wait_for": str(busy)})]  # the warm worker, kept busy
    eventually(lambda: pool.warm == 0, WAIT, "the warm worker to be busy", interval=0.02)
    threads.append(run("hog", "HogFunction", {}))  # takes the only init slot and keeps it
    eventually(lambda: runtime.init_gate.in_use == 1, WAIT, "the hog to hold the init slot", interval=0.02)
    threads.append(run("queued", "StormBFunction", {}))  # no idle worker: it needs a cold start, and queues
    eventually(lambda: pool.init_waits == 1, WAIT, "the second invocation to queue for a slot", interval=0.02)

    busy.touch()  # the warm worker finishes its invocation and goes idle
    threads[0].join(WAIT)
    threads[2].join(WAIT)
    assert results["queued"]["pid"] == warm_pid, "served by the worker that went idle, not a new one"
    assert pool.cold_starts == 1 and pool.reused_while_waiting == 1
    hold.touch()
    threads[1].join(WAIT)
    assert results["hog"]["function"] and runtime.init_gate.in_use == 0
    assert most_at_once(tmp_path / "init.log")[0] == 1


def test_the_init_limit_counts_from_the_spawn_not_while_queued_for_a_slot(
    storm: Callable[..., Runtime], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime_module, "INIT_TIMEOUT_S", 1.0)  # StormA's Timeout is 1 s: its init limit is 1 s too
    hold = tmp_path / "hold"
    runtime = storm(init_concurrency=1, HoldFile=str(hold))
    results: dict[str, Any] = {}
    hog = threading.Thread(target=lambda: results.__setitem__("hog", runtime.invoke("HogFunction", {})))
    hog.start()
    eventually(lambda: runtime.init_gate.in_use == 1, WAIT, "the hog to hold the init slot", interval=0.02)
    queued = threading.Thread(target=lambda: results.__setitem__("queued", runtime.invoke("StormAFunction", {})))
    queued.start()
    eventually(lambda: runtime.pool("StormAFunction").init_waits == 1, WAIT, "StormA to queue for a slot", interval=0.02)
    time.sleep(1.5)  # longer than StormA's init limit, spent waiting for the slot
    hold.touch()
    hog.join(WAIT)
    queued.join(WAIT)
    assert results["queued"]["function"] == runtime.pool("StormAFunction").function.function_name


def test_retired_workers_are_rewarmed_up_to_the_recent_peak_concurrency(storm: Callable[..., Runtime], tmp_path: Path) -> None:
    runtime = storm(init_concurrency=2, max_concurrency=4)
    pool = runtime.pool("StormCFunction")
    release = tmp_path / "release"
    with ThreadPoolExecutor(max_workers=3) as threads:
        busy = [threads.submit(runtime.invoke, "StormCFunction", {"wait_for": str(release)}) for _ in range(3)]
        eventually(lambda: pool.cold_starts == 3, WAIT, "three workers running at once", interval=0.02)
        release.touch()
        first_pids = {f.result()["pid"] for f in busy}
    assert pool.recent_peak == 3 and pool.warm == 3

    runtime.recycle(["StormCFunction"])  # a code reload
    eventually(lambda: pool.warm == 3, WAIT, "the pool re-warmed to its recent peak", interval=0.02)
    assert pool.rewarmed == 3 and pool.cold_starts == 3
    assert runtime.pool("StormDFunction").warm == 0, "a function that saw no traffic is not warmed"

    release.unlink()
    with ThreadPoolExecutor(max_workers=3) as threads:
        again = [threads.submit(runtime.invoke_detailed, "StormCFunction", {"wait_for": str(release)}) for _ in range(3)]
        eventually(lambda: pool.warm == 0, WAIT, "all three re-warmed workers busy", interval=0.02)
        release.touch()
        invocations = [f.result() for f in again]
    assert not any(i.cold_start for i in invocations) and pool.cold_starts == 3
    assert not {i.result["pid"] for i in invocations} & first_pids, "new workers, with the new code"


def test_a_worker_killed_by_its_timeout_is_replaced_in_the_background(storm: Callable[..., Runtime], tmp_path: Path) -> None:
    runtime = storm(init_concurrency=2)
    pool = runtime.pool("StormAFunction")  # Timeout: 1
    first = runtime.invoke("StormAFunction", {})["pid"]
    with pytest.raises(FunctionTimeout):
        runtime.invoke("StormAFunction", {"wait_for": str(tmp_path / "never")})
    eventually(lambda: pool.warm == 1, WAIT, "a replacement worker, started before anyone asked", interval=0.02)
    assert pool.rewarmed == 1 and pool.cold_starts == 1
    after = runtime.invoke_detailed("StormAFunction", {})
    assert not after.cold_start and after.result["pid"] != first and after.result["calls"] == 1


def test_the_first_invocation_of_a_worker_reports_its_init_duration(
    storm: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    runtime = storm(init_concurrency=2)
    with caplog.at_level(logging.INFO, logger="emulator.function.StormDFunction"):
        runtime.invoke("StormDFunction", {})
        runtime.invoke("StormDFunction", {})
    reports = [r.getMessage() for r in caplog.records if "REPORT RequestId" in r.getMessage()]
    assert len(reports) == 2
    assert "Init Duration: " in reports[0], "a cold start's REPORT line carries Init Duration, as on Lambda"
    assert float(reports[0].rsplit("Init Duration: ", 1)[1].split()[0]) >= 300, "the 0.3 s import is in it"
    assert "Init Duration" not in reports[1]


# ---------------------------------------------------------------------------- the product


PLAYERS = 150


async def reconnect_and_join(ws_url: str, tokens: list[str], quiz_id: str, get_board: Callable[[str], int]) -> list[dict[str, Any]]:
    """Every player opens a WebSocket and joins at the same moment; each also reads the leaderboard."""
    start = asyncio.Event()

    async def one(token: str) -> dict[str, Any]:
        await start.wait()
        outcome: dict[str, Any] = {"frames": [], "board_status": None}
        try:
            async with websockets.connect(f"{ws_url}?token={token}", open_timeout=60, close_timeout=2, max_size=None) as ws:
                await ws.send(json.dumps({"action": "join", "quiz_id": quiz_id}))
                async with asyncio.timeout(60):
                    while True:
                        frame = json.loads(await ws.recv())
                        outcome["frames"].append(frame)
                        if frame.get("type") in ("joined", "error") or "message" in frame:
                            break
            outcome["board_status"] = await asyncio.to_thread(get_board, token)
        except Exception as exc:  # recorded, asserted on below: one player's failure must not hide the others'
            outcome["error"] = f"{type(exc).__name__}: {exc}"
        return outcome

    tasks = [asyncio.create_task(one(token)) for token in tokens]
    await asyncio.sleep(0.2)  # every task is waiting at the line
    start.set()
    return await asyncio.gather(*tasks)


def test_a_reconnect_storm_against_a_cold_product_seats_every_player_without_a_5xx(database_url: str) -> None:
    try:
        with local_product() as first:
            seeder = BenchSeeder(first.database_url, first.keys)
            try:
                host = seeder.accounts("h", 1)[0]
                players = seeder.accounts("r", PLAYERS)
            finally:
                seeder.close()
            with httpx.Client(base_url=first.base_url, timeout=60) as api:
                created = api.post("/quizzes", json=QUIZ, headers={"authorization": f"Bearer {host.token}"})
                assert created.status_code == 201, created.text
                quiz_id = created.json()["quiz_id"]

                def seat(token: str) -> int:
                    return api.post(f"/quizzes/{quiz_id}/join", headers={"authorization": f"Bearer {token}"}).status_code

                with ThreadPoolExecutor(max_workers=16) as pool:
                    assert set(pool.map(seat, [p.token for p in players])) == {200}, "every player has a seat"
        # A restart: a new emulator, every pool cold, the same database and Redis. Tokens for its key.
        with local_product() as second:
            seeder = BenchSeeder(second.database_url, second.keys)
            try:
                tokens = [p.token for p in seeder.accounts("r", PLAYERS)]
            finally:
                seeder.close()
            ws_url = second.base_url.replace("http://", "ws://") + "/ws"
            with httpx.Client(base_url=second.base_url, timeout=60, limits=httpx.Limits(max_connections=64)) as api:

                def get_board(token: str) -> int:
                    return api.get(f"/quizzes/{quiz_id}/leaderboard", headers={"authorization": f"Bearer {token}"}).status_code

                outcomes = asyncio.run(reconnect_and_join(ws_url, tokens, quiz_id, get_board))
    except ProductDidNotStart as exc:
        pytest.fail(str(exc))

    errors = [o["error"] for o in outcomes if "error" in o]
    assert not errors, f"{len(errors)} players failed, e.g. {errors[:3]}"
    last_frames = [o["frames"][-1] for o in outcomes]
    refused = [f for f in last_frames if f.get("type") != "joined"]  # an error frame, or `Internal server error`
    assert not refused, f"{len(refused)} players were not seated, e.g. {refused[:3]}"
    assert all(f["quiz_id"] == quiz_id for f in last_frames)
    assert [o["board_status"] for o in outcomes] == [200] * PLAYERS, "GET leaderboard answered every player"
