"""Fan-out capacity: the same frames to the same number of sockets, twice.

* **ceiling** — a bare `websockets` asyncio server in a subprocess (no product, no JSON handling, no
  registry) with N clients of this process connected; on "go" it sends M leaderboard-sized frames to all
  of them with `websockets.broadcast`, as fast as the sockets drain. What this machine, this client and
  this library can deliver at best.
* **product** — the same M frames to the quiz's N connections through the emulator's management API
  batch extension (`POST /@connections`, one call per frame carrying every connection id), posted by
  the product's own delivery adapter (`ManagementApiDelivery`, as a leaderboard tick pushes) in a
  process of its own (`fanout_sender`, as the leaderboard function is one), `CALLS_IN_FLIGHT` calls at
  a time, with the product otherwise idle: it first waits (`until_quiet`) for the answers still running
  after the quiz, and reports how long (`quiet`).

Both are read by the same client code (`LiveConnection`, which parses every frame as it would a
leaderboard), and both report frames delivered per second, from the first send to the last frame
in at the clients, and the CPU microseconds each part of the machine spent per frame delivered. The
client process's CPU is part of both figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx

from bench.quiz_load.cpu import CpuMeter
from bench.quiz_load.live import LiveConnection
from local.product import free_port

FRAMES_IN_ALL = 40_000  # enough frames for a figure that is not just start-up; at most 200 per socket (the
MAX_FRAMES_EACH = 200  # emulator closes a socket with more than 1,024 frames waiting for it)
# Calls to the management API in flight at once: a few, as a few leaderboard containers would make (each
# sends one tick's call and waits for it). With all of them at once (200 at 200 players) the probe measured
# its own HTTP client: httpx queueing 200 requests on its pool spent more than the server, and the figure
# halved (6,163 against 13,475 frames/s at 200 sockets, one run each, load 1.4).
CALLS_IN_FLIGHT = 4


def frames_for(connections: int) -> int:
    """Frames per socket for the fan-out measures: ~40,000 in all, 20 to 200 per socket."""
    return max(20, min(MAX_FRAMES_EACH, math.ceil(FRAMES_IN_ALL / max(1, connections))))


def probe_frame(seq: int, participants: int) -> str:
    """A frame shaped and sized like a `leaderboard` frame with a full top 10 (about 1 KB)."""
    top = [
        {"rank": r, "user_id": str(uuid.UUID(int=r)), "display_name": f"Load player {r:05d}", "score": 100_000 - r} for r in range(1, 11)
    ]
    frame = {"type": "bench_probe", "quiz_id": "BENCH1", "seq": seq, "player_count": participants, "top": top,
             "server_time": "2025-05-01T10:00:36.512+00:00"}  # fmt: skip
    return json.dumps(frame)


async def _delivery(
    conns: Sequence[LiveConnection], frames: int, send: Callable[[], Awaitable[None]], timeout: float, meter: CpuMeter | None
) -> dict[str, Any]:
    """Start the sends, then wait until every client has every frame (or the timeout); count what came,
    and what each part of the machine spent per frame delivered (microseconds)."""
    cpu_before = meter.snapshot() if meter else None
    before = sum(c.counts["bench_probe"] for c in conns)
    expected = frames * len(conns)
    started = time.monotonic()
    await send()
    sent = time.monotonic()
    until = started + timeout
    received = 0
    while time.monotonic() < until:
        received = sum(c.counts["bench_probe"] for c in conns) - before
        if received >= expected:
            break
        await asyncio.sleep(0.05)
    last = max((c.last_probe_at for c in conns), default=started)
    elapsed = max(last - started, 1e-9)
    spent = meter.spent(cpu_before, meter.snapshot()) if meter and cpu_before else {}
    return {
        "cpu_us_per_frame": {k: round(v * 1e6 / received, 1) for k, v in spent.items()} if received else {},
        "connections": len(conns),
        "frames_each": frames,
        "frame_bytes": len(probe_frame(0, len(conns)).encode()),
        "expected": expected,
        "received": received,
        "send_s": round(sent - started, 3),
        "elapsed_s": round(elapsed, 3),
        "frames_per_s": round(received / elapsed, 1) if received else 0.0,
    }


# ---------------------------------------------------------------------------------------------- ceiling


async def ceiling(
    connections: int, frames: int, *, concurrency: int = 200, timeout: float = 120.0, meter: CpuMeter | None = None
) -> dict[str, Any]:
    """Frames/s a bare websockets server delivers to `connections` clients of this process."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.quiz_load.ceiling_server", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    conns = [LiveConnection() for _ in range(connections)]
    try:
        assert server.stdout is not None
        await asyncio.wait_for(asyncio.to_thread(server.stdout.readline), 20)  # the server prints "ready" once listening
        gate = asyncio.Semaphore(concurrency)

        async def open_one(conn: LiveConnection) -> None:
            async with gate:
                await conn.open(f"ws://127.0.0.1:{port}/", 30)

        await asyncio.gather(*(open_one(c) for c in conns))

        async def go() -> None:
            await conns[0].send({"go": frames, "participants": connections})

        return await _delivery(conns, frames, go, timeout, meter)
    finally:
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(10)
        if server.poll() is None:
            server.kill()
            server.wait(10)
        if server.stdout is not None:
            server.stdout.close()


# ---------------------------------------------------------------------------------------------- product

# The product counts as idle once its functions and PostgreSQL together use less than this share of one
# core over a window: a quiz of thousands leaves a backlog of answers still running after its last
# question closes, and measured beside it the fan-out paid for their CPU too (at 10,000 players the
# answers function spent 28.6 us per probe frame, PostgreSQL 4.5, against 0.4 for the sender).
IDLE_CORES = 0.1


def busy_cores(before: dict[str, tuple[str, float]], after: dict[str, tuple[str, float]], window_s: float) -> float:
    """Cores the product's own backlog kept busy over a window, from two `CpuMeter.processes` readings: its
    functions' workers and PostgreSQL, process by process (one started within the window counts whole)."""
    spent = sum(
        seconds - (before[pid][1] if pid in before else 0.0)
        for pid, (kind, seconds) in after.items()
        if kind.startswith("fn:") or kind == "postgres"
    )
    return max(0.0, spent) / max(window_s, 1e-9)


async def until_quiet(
    meter: CpuMeter | None,
    *,
    max_wait_s: float,
    window_s: float = 1.0,
    idle_cores: float = IDLE_CORES,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> dict[str, Any]:
    """Wait until the product is idle (see `IDLE_CORES`), at most `max_wait_s`; say how long that took,
    whether it got there, and how busy the last window was, so that a figure measured beside a backlog
    says so instead of passing for the fan-out's own. Without /proc, or against a node this run did not
    start (its workers cannot be told apart), there is nothing to wait on: `quiet` is None, unknown."""
    if meter is None or meter.emulator_pid is None:
        return {"quiet": None, "waited_s": 0.0, "busy_cores": None}
    started = clock()
    before = meter.processes()
    while True:
        await sleep(window_s)
        after = meter.processes()
        busy = busy_cores(before, after, window_s)
        waited = clock() - started
        if busy < idle_cores or waited >= max_wait_s:
            return {"quiet": busy < idle_cores, "waited_s": round(waited, 1), "busy_cores": round(busy, 3)}
        before = after


async def connection_ids(conns: Sequence[LiveConnection], timeout: float, concurrency: int = 200) -> dict[str, LiveConnection]:
    """Each socket's API Gateway connection id, as the documented `ping` → `pong` reports it."""
    gate = asyncio.Semaphore(concurrency)

    async def ask(conn: LiveConnection) -> tuple[str, LiveConnection] | None:
        async with gate:
            try:
                _, _, pong = await conn.request({"action": "ping"}, ("pong",), timeout)
            except (TimeoutError, ConnectionError, OSError):
                return None
            return (str(pong["connectionId"]), conn) if pong.get("connectionId") else None

    return dict(pair for pair in await asyncio.gather(*(ask(c) for c in conns)) if pair)


async def product_fanout(
    http: httpx.AsyncClient,
    conns: Sequence[LiveConnection],
    frames: int,
    timeout: float = 120.0,
    calls_in_flight: int = CALLS_IN_FLIGHT,
    meter: CpuMeter | None = None,
) -> dict[str, Any]:
    """Frames/s the emulator's delivery path (batch extension of @connections) gets to the quiz's sockets,
    posted by the product's delivery adapter from a process of its own (`fanout_sender`)."""
    by_id = await connection_ids(conns, timeout=30)
    ids = list(by_id)
    if not ids:
        return {"error": "no connection answered ping"}
    endpoint = str(http.base_url).rstrip("/")
    sender = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.quiz_load.fanout_sender", "--endpoint", endpoint, "--frames", str(frames),
        "--senders", str(calls_in_flight), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert sender.stdin is not None and sender.stdout is not None
    stdin, stdout = sender.stdin, sender.stdout
    try:
        stdin.write(json.dumps(ids).encode() + b"\n")
        await stdin.drain()
        if (await asyncio.wait_for(stdout.readline(), 30)).strip() != b"ready":
            return {"error": "the fan-out sender did not start"}

        async def go() -> None:
            stdin.write(b"go\n")
            await stdin.drain()

        result = await _delivery(list(by_id.values()), frames, go, timeout, meter)
        done = json.loads(await asyncio.wait_for(stdout.readline(), timeout) or b"{}")
        result["send_s"] = done.get("sent_s")
        result["gone"] = done.get("gone")
        stdin.close()  # the sender exits (it stayed until now so that the meter counted it)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sender.wait(), 10)
    finally:
        if sender.returncode is None:
            sender.kill()
        await sender.wait()
    result["connections_in_quiz"] = len(conns)
    return result
