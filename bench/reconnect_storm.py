"""A reconnect storm against a freshly started product: N seated players reconnect and join at once.

    .venv/bin/python -m bench.reconnect_storm --players 1000
    .venv/bin/python -m bench.reconnect_storm --players 300 --product-dir /tmp/old-checkout   # an A/B

What a restart of the emulator (or a deploy) does to a live quiz: every pool is cold and every player's
client reconnects at the same moment. The run:

1. starts the product (`local.product.local_product`: template.yaml on a free loopback port, the test
   database, Redis db 1, a topic of its own), prepares N bench accounts and a host with the layer's own
   adapters (bench.quiz_load.seeding: no argon2 per account), creates a quiz and seats every player
   through the public API (POST /quizzes/{id}/join), then stops that product;
2. starts a new one, cold, on the same database and Redis, mints tokens for its key, and at one moment
   has every player open a WebSocket, send `join` and, once joined, GET the leaderboard over HTTP;
3. prints and writes (bench/results/reconnect-storm-<stamp>.json): players seated, 5xx answers (HTTP
   5xx, a WebSocket upgrade refused with a 5xx, an `Internal server error` frame), other failures, the
   time from the storm's start to each player's `joined` frame (p50 / p99 / max), and the cold starts
   the emulator counted per function.

It stops by itself: every wait is bounded and `--timeout` (180 s) bounds the storm; both emulators are
stopped and their topics deleted at the end. Loopback only. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import websockets
from websockets.exceptions import InvalidStatus

from bench.quiz_load.seeding import BenchSeeder
from local.product import LocalProduct, local_product
from local.stack import REPO

RESULTS = REPO / "bench" / "results"
ACCOUNT_KIND = "r"  # bench accounts qload-r001…: apart from quiz_load's players, so runs do not share seats
QUIZ: dict[str, Any] = {
    "title": "Reconnect storm",
    "questions": [
        {
            "kind": "multiple_choice",
            "prompt": "'Give up' means?",
            "choices": ["surrender", "donate"],
            "correct_choice": 0,
            "time_limit_ms": 30000,
        }
    ],
}


@dataclass
class PlayerOutcome:
    joined_s: float | None = None  # from the storm's start to the `joined` frame
    board_status: int | None = None
    failure: str | None = None  # what went wrong, when something did
    server_error: bool = False  # a 5xx, in whatever form the gateway gave it


@dataclass
class StormReport:
    players: int
    outcomes: list[PlayerOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        joined = sorted(o.joined_s for o in self.outcomes if o.joined_s is not None)

        def pct(q: float) -> float | None:
            return round(joined[min(len(joined) - 1, int(q * len(joined)))], 3) if joined else None

        return {
            "players": self.players,
            "seated": len(joined),
            "server_errors_5xx": sum(o.server_error for o in self.outcomes),
            "other_failures": sum(o.failure is not None and not o.server_error for o in self.outcomes),
            "failure_kinds": dict(Counter((o.failure or "").split(":")[0] for o in self.outcomes if o.failure)),
            "leaderboard_ok": sum(o.board_status == 200 for o in self.outcomes),
            "seat_time_s": {
                "p50": round(statistics.median(joined), 3) if joined else None,
                "p99": pct(0.99),
                "max": round(joined[-1], 3) if joined else None,
            },
            "storm_seconds": round(self.seconds, 2),
        }


def _require_loopback(url: str) -> None:
    host = httpx.URL(url).host
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"{url}: only loopback targets are allowed")


def prepare(product: LocalProduct, players: int, deadline: float) -> tuple[str, float]:
    """Accounts, a quiz and a seat for every player, through the public API; (quiz id, seconds spent)."""
    started = time.monotonic()
    seeder = BenchSeeder(product.database_url, product.keys)
    try:
        host = seeder.accounts("h", 1)[0]
        accounts = seeder.accounts(ACCOUNT_KIND, players)
    finally:
        seeder.close()
    with httpx.Client(base_url=product.base_url, timeout=30) as api:
        created = api.post("/quizzes", json=QUIZ, headers={"authorization": f"Bearer {host.token}"})
        created.raise_for_status()
        quiz_id = str(created.json()["quiz_id"])

        def seat(token: str) -> int:
            if time.monotonic() > deadline:
                return 0
            return api.post(f"/quizzes/{quiz_id}/join", headers={"authorization": f"Bearer {token}"}).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = Counter(pool.map(seat, [a.token for a in accounts]))
    if statuses != Counter({200: players}):
        raise SystemExit(f"seating the players before the storm failed: {dict(statuses)}")
    return quiz_id, time.monotonic() - started


async def storm(product: LocalProduct, tokens: list[str], quiz_id: str, timeout_s: float) -> StormReport:
    """Every player reconnects and joins at the same moment, then reads the leaderboard."""
    report = StormReport(len(tokens))
    ws_url = product.base_url.replace("http://", "ws://", 1) + "/ws"
    go = asyncio.Event()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=product.base_url, timeout=timeout_s, limits=limits) as api:

        async def player(token: str) -> PlayerOutcome:
            outcome = PlayerOutcome()
            await go.wait()
            begun = time.monotonic()
            try:
                async with websockets.connect(f"{ws_url}?token={token}", open_timeout=timeout_s, close_timeout=2, max_size=None) as ws:
                    await ws.send(json.dumps({"action": "join", "quiz_id": quiz_id}))
                    while outcome.joined_s is None:
                        frame = json.loads(await ws.recv())
                        if frame.get("type") == "joined":
                            outcome.joined_s = time.monotonic() - begun
                        elif frame.get("message") == "Internal server error":
                            outcome.server_error, outcome.failure = True, "ws_internal_server_error"
                            return outcome
                        elif frame.get("type") == "error":
                            outcome.failure = f"ws_error:{frame.get('error', {}).get('code')}"
                            return outcome
                    board = await api.get(f"/quizzes/{quiz_id}/leaderboard", headers={"authorization": f"Bearer {token}"})
                    outcome.board_status = board.status_code
                    if board.status_code >= 500:
                        outcome.server_error, outcome.failure = True, f"leaderboard_http_{board.status_code}"
                    elif board.status_code != 200:
                        outcome.failure = f"leaderboard_http_{board.status_code}"
            except InvalidStatus as exc:
                status = exc.response.status_code
                outcome.server_error, outcome.failure = status >= 500, f"ws_upgrade_{status}"
            except (OSError, TimeoutError, websockets.WebSocketException, httpx.HTTPError) as exc:
                outcome.failure = f"{type(exc).__name__}: {exc}"
            return outcome

        tasks = [asyncio.create_task(player(t)) for t in tokens]
        await asyncio.sleep(0.5)  # every player waits at the line
        started = time.monotonic()
        go.set()
        done, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        report.seconds = time.monotonic() - started
        report.outcomes = [t.result() if t in done else PlayerOutcome(failure="timeout: the storm's --timeout passed") for t in tasks]
    return report


def cold_starts(base_url: str) -> dict[str, int]:
    """emulator_lambda_cold_starts_total per function, from the node's /metrics."""
    counts: dict[str, int] = {}
    for line in httpx.get(f"{base_url}/metrics", timeout=10).text.splitlines():
        if line.startswith("emulator_lambda_cold_starts_total{"):
            labels, _, value = line.partition("} ")
            function = labels.split('function="', 1)[1].split('"', 1)[0]
            counts[function] = int(float(value))
    return counts


def init_durations(log: Path) -> dict[str, dict[str, float]]:
    """The `Init Duration` of every cold start in the emulator's log (REPORT lines, as Lambda writes them)."""
    found: dict[str, list[float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        if "REPORT RequestId" not in line or "Init Duration: " not in line or "emulator.function." not in line:
            continue
        function = line.split("emulator.function.", 1)[1].split(":", 1)[0]
        found.setdefault(function, []).append(float(line.rsplit("Init Duration: ", 1)[1].split()[0]))
    return {
        fid: {"count": len(ms), "median_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1)}
        for fid, ms in sorted(found.items())
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reconnect_storm", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=180, help="bound on the storm itself, and on seating (s)")
    parser.add_argument("--product-dir", type=Path, default=REPO, help="the checkout whose emulator and functions run (an A/B)")
    parser.add_argument("--emulator-arg", action="append", default=[], help="passed to the cold emulator (repeatable)")
    args = parser.parse_args(argv)
    if args.players < 1:
        parser.error("--players must be at least 1")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    load_before = os.getloadavg()
    with local_product(product_dir=args.product_dir, keep_dir=RESULTS / f"reconnect-storm-{stamp}") as warm:
        _require_loopback(warm.base_url)
        quiz_id, seat_s = prepare(warm, args.players, time.monotonic() + args.timeout)
    print(f"seated {args.players} players in quiz {quiz_id} in {seat_s:.1f} s; restarting the product cold", flush=True)
    with local_product(
        product_dir=args.product_dir, emulator_args=args.emulator_arg, keep_dir=RESULTS / f"reconnect-storm-{stamp}"
    ) as cold:
        _require_loopback(cold.base_url)
        seeder = BenchSeeder(cold.database_url, cold.keys)
        try:
            tokens = [a.token for a in seeder.accounts(ACCOUNT_KIND, args.players)]
        finally:
            seeder.close()
        report = asyncio.run(storm(cold, tokens, quiz_id, args.timeout))
        starts = cold_starts(cold.base_url)
        log = cold.log
    load_after = os.getloadavg()
    result = {
        "at": stamp,
        "product_dir": str(args.product_dir),
        **report.summary(),
        "cold_starts": starts,
        "cold_starts_total": sum(starts.values()),
        "init_duration": init_durations(log),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(),
        "emulator_log": str(log),
    }
    s = result
    print(
        f"players {s['players']}  seated {s['seated']}  5xx {s['server_errors_5xx']}  other failures {s['other_failures']}"
        f"  leaderboard 200s {s['leaderboard_ok']}"
    )
    print(f"time to seat: p50 {s['seat_time_s']['p50']} s  p99 {s['seat_time_s']['p99']} s  max {s['seat_time_s']['max']} s")
    print(f"cold starts {s['cold_starts_total']}: { ({k: v for k, v in starts.items() if v}) }")
    for fid, init in s["init_duration"].items():
        print(f"  init {fid:26} x{init['count']:<3} median {init['median_ms']:7.0f} ms  max {init['max_ms']:7.0f} ms")
    if s["failure_kinds"]:
        print(f"failures: {s['failure_kinds']}")
    print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, after {load_after[0]:.2f}")
    path = RESULTS / f"reconnect-storm-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0 if s["seated"] == s["players"] and s["server_errors_5xx"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
