"""What one answer costs the machine, in CPU milliseconds per component, with no queueing to blur it.

    python -m bench.answer_cost --players 300                 # answers sent one after another, rooms of 10
    python -m bench.answer_cost --players 300 --in-flight 8   # at most 8 in flight

Starts the emulator (as `bench.quiz_load` does), seats `--players` players in one quiz of one long
question, then has them answer over their WebSockets with at most `--in-flight` answers outstanding, and
reads from /proc how much CPU each part spent meanwhile: the emulator, each function's workers,
PostgreSQL, Redis, the Kafka broker, this process, and `other` (anything else the machine ran, which
says how far to trust the figure). One figure per component, per answer; the wall time per answer too.

Then, in the same run, the bare ceiling of the path: as many documented `ping` actions (no quiz named:
the function replies `pong` and touches nothing) through the same sockets, route and kind of worker,
as many in flight. What a WebSocket request to a function costs here with no work in it, against
which the answer's figures read as a ratio (`--no-ceiling` skips it).
Writes bench/results/answer_cost-<UTC timestamp>.json. Run it alone: the breakdown is what the product
costs, `other` shows what disturbed it.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.limits import time_limit
from bench.quiz_load.cpu import CpuMeter
from bench.quiz_load.live import LiveConnection, run_loop
from bench.quiz_load.report import load_average
from bench.quiz_load.scenario import CHOICES, Target, quiz_document
from bench.quiz_load.seeding import BenchAccount, BenchSeeder
from local.product import local_product

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.answer_cost", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--players", type=int, default=300, help="players, each answering once (default: 300)")
    p.add_argument("--room-size", type=int, default=10, help="players per quiz: each answer is pushed to its room (default: 10)")
    p.add_argument("--in-flight", type=int, default=1, help="answers outstanding at once (default: 1, one after another)")
    p.add_argument(
        "--warmup", type=int, default=None, help="answers sent first, as many in flight, not counted (default: 40 or 8 per lane)"
    )
    p.add_argument("--emulator-arg", action="append", default=[], help="option for the started emulator")
    p.add_argument("--product-dir", type=Path, default=None, help="run another checkout's emulator and functions (an A/B)")
    p.add_argument("--no-ceiling", action="store_true", help="skip the bare ceiling (pings through the same path)")
    p.add_argument("--results", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    if a.warmup is None:
        a.warmup = max(40, 8 * a.in_flight)
    if a.players < 1 or a.in_flight < 1 or a.room_size < 1 or a.warmup < 0:
        p.error("--players, --room-size and --in-flight must be at least 1, --warmup not negative")
    return a


async def _host(http: httpx.AsyncClient, host: BenchAccount, path: str, body: Any = None) -> dict[str, Any]:
    reply = await http.post(path, json=body, headers={"Authorization": f"Bearer {host.token}"})
    if reply.status_code not in (200, 201):
        raise RuntimeError(f"POST {path}: {reply.status_code} {reply.text[:200]}")
    return dict(reply.json())


async def _answer(conn: LiveConnection, quiz_id: str, choice: int) -> float:
    request_id = uuid.uuid4().hex
    started = time.monotonic()
    frame = {"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": choice, "request_id": request_id}
    _, _, reply = await conn.request(frame, ("reply", request_id), 60)
    if reply.get("type") != "answer_result":
        raise RuntimeError(f"answer refused: {reply}")
    return time.monotonic() - started


async def _ping(conn: LiveConnection) -> float:
    request_id = uuid.uuid4().hex
    started = time.monotonic()
    _, _, reply = await conn.request({"action": "ping", "request_id": request_id}, ("pong",), 60)
    if reply.get("type") != "pong":
        raise RuntimeError(f"ping answered {reply}")
    return time.monotonic() - started


async def _timed(meter: CpuMeter, in_flight: int, calls: list[Callable[[], Awaitable[float]]]) -> dict[str, Any]:
    """Run the calls with at most `in_flight` outstanding; their rate, wall times and CPU per call by component."""
    before = meter.snapshot()
    started = time.monotonic()
    walls: list[float] = []
    lanes = asyncio.Semaphore(in_flight)

    async def one(call: Callable[[], Awaitable[float]]) -> None:
        async with lanes:
            walls.append(await call())

    await asyncio.gather(*(one(c) for c in calls))
    elapsed = time.monotonic() - started
    await asyncio.sleep(1.0)  # what the calls set off (an answer's pushes) is part of what they cost
    spent = meter.spent(before, meter.snapshot())
    walls.sort()
    n = len(walls)
    return {
        "calls": n, "seconds": round(elapsed, 2), "per_s": round(n / elapsed, 1),
        "wall_ms_p50": round(walls[n // 2] * 1000, 2), "wall_ms_p99": round(walls[min(n - 1, n * 99 // 100)] * 1000, 2),
        "cpu_ms_per_call": {k: round(v * 1000 / n, 2) for k, v in spent.items()},
    }  # fmt: skip


async def _frames_posted(http: httpx.AsyncClient) -> float:
    """Frames the node has delivered to sockets through the management API (its /metrics)."""
    text = (await http.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("emulator_management_posts_total{") and 'outcome="delivered"' in line
    )


async def measure(a: argparse.Namespace, target: Target, seeder: BenchSeeder) -> dict[str, Any]:
    players = await asyncio.to_thread(seeder.accounts, "p", a.players + a.warmup)
    (host,) = await asyncio.to_thread(seeder.accounts, "h", 1)
    conns = [LiveConnection(p.user_id) for p in players]
    rooms = max(1, -(-len(conns) // a.room_size))
    async with httpx.AsyncClient(base_url=target.base_url, timeout=30) as http:
        quizzes = [str((await _host(http, host, "/quizzes", quiz_document(1, 300)))["quiz_id"]) for _ in range(rooms)]
        room_of = {id(c): quizzes[i % rooms] for i, c in enumerate(conns)}
        gate = asyncio.Semaphore(50)

        async def join(conn: LiveConnection, account: BenchAccount) -> None:
            async with gate:
                await conn.open(f"{target.ws_url}?token={account.token}", 30)
                await conn.request({"action": "join", "quiz_id": room_of[id(conn)]}, ("joined",), 30)

        print(f"seating {len(conns)} players in {rooms} quiz(zes) ...", file=sys.stderr, flush=True)
        await asyncio.gather(*(join(c, p) for c, p in zip(conns, players, strict=True)))
        for quiz_id in quizzes:
            await _host(http, host, f"/quizzes/{quiz_id}/start")
        warm, measured = conns[: a.warmup], conns[a.warmup :]
        # As many in flight as measured, so every worker the measurement will use has started (a cold
        # start costs a worker about a second of CPU: inside the measurement it would be most of it).
        warm_lanes = asyncio.Semaphore(a.in_flight)

        async def warm_one(conn: LiveConnection) -> None:
            async with warm_lanes:
                await _answer(conn, room_of[id(conn)], 0)

        await asyncio.gather(*(warm_one(c) for c in warm))
        await asyncio.sleep(1.0)  # the warm-up's pushes settle before the meter starts
        print(f"answering: {len(measured)} answers, {a.in_flight} in flight ...", file=sys.stderr, flush=True)
        meter = CpuMeter(target.emulator_pid)
        frames_before = await _frames_posted(http)
        answers = await _timed(
            meter,
            a.in_flight,
            [functools.partial(_answer, c, room_of[id(c)], 0 if i % 3 else 1 + i % (len(CHOICES) - 1)) for i, c in enumerate(measured)],
        )
        frames = await _frames_posted(http) - frames_before
        pings = None
        if not a.no_ceiling:
            print(f"the bare ceiling: {len(measured)} pings, {a.in_flight} in flight ...", file=sys.stderr, flush=True)
            pings = await _timed(meter, a.in_flight, [functools.partial(_ping, c) for c in measured])
        for quiz_id in quizzes:
            await _host(http, host, f"/quizzes/{quiz_id}/end")
    await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    n = answers["calls"]
    return {
        "answers": n, "in_flight": a.in_flight, "quizzes": rooms, "room_size": a.room_size, "seconds": answers["seconds"],
        "answers_per_s": answers["per_s"], "frames_pushed_per_answer": round(frames / n, 1),
        "wall_ms_p50": answers["wall_ms_p50"], "wall_ms_p99": answers["wall_ms_p99"],
        "cpu_ms_per_answer": answers["cpu_ms_per_call"],
        "ceiling": pings and {
            "action": "ping", "pings": pings["calls"], "pings_per_s": pings["per_s"], "wall_ms_p50": pings["wall_ms_p50"],
            "wall_ms_p99": pings["wall_ms_p99"], "cpu_ms_per_ping": pings["cpu_ms_per_call"],
            "answers_per_s_over_pings_per_s": round(answers["per_s"] / pings["per_s"], 3),
        },
    }  # fmt: skip


def _cpu_line(unit: str, cpu: dict[str, float]) -> str:
    named = ", ".join(f"{k} {v:.2f}" for k, v in cpu.items() if k not in ("machine", "other"))
    return f"CPU ms per {unit}: {cpu['machine']:.2f} on the machine; {named}; other {cpu['other']:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    document: dict[str, Any] = {
        "tool": "bench.answer_cost",
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()},
        "load_before": load_average(),
    }
    with (
        time_limit(600),
        local_product(emulator_args=a.emulator_arg, **({"product_dir": a.product_dir} if a.product_dir else {})) as product,
    ):
        seeder = BenchSeeder(product.database_url, product.keys)
        try:
            document["result"] = figures = run_loop(measure(a, Target(product.base_url, product.pid), seeder))
        finally:
            seeder.close()
    document["load_after"] = load_average()
    print(
        f"{figures['answers']} answers, {a.in_flight} in flight: {figures['answers_per_s']}/s, "
        f"{figures['frames_pushed_per_answer']} frames pushed per answer, wall p50/p99 "
        f"{figures['wall_ms_p50']}/{figures['wall_ms_p99']} ms\n{_cpu_line('answer', figures['cpu_ms_per_answer'])}"
    )
    ceiling = figures["ceiling"]
    if ceiling:
        print(
            f"bare ceiling, {ceiling['pings']} pings through the same path: {ceiling['pings_per_s']}/s, wall p50/p99 "
            f"{ceiling['wall_ms_p50']}/{ceiling['wall_ms_p99']} ms; answers/s over pings/s {ceiling['answers_per_s_over_pings_per_s']}\n"
            f"{_cpu_line('ping', ceiling['cpu_ms_per_ping'])}"
        )
    print(f"uptime before: {document['load_before']['uptime']}\nuptime after:  {document['load_after']['uptime']}")
    a.results.mkdir(parents=True, exist_ok=True)
    path = a.results / f"answer_cost-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(document, indent=2))
    print(f"json: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
