"""How long does one leaderboard batch take as the room grows? (fan-out excluded, reported separately)

    python -m bench.leaderboard_batch [--players 10 1000 10000 100000] [--batches 30] [--events 50]

For each room size N: a board of N players in the real Redis (db 1, the tests'), N connections in the
real connection registry, then `--batches` batches of `--events` score events for random players of
that room through the real `LeaderboardService.apply_batch` (Redis Lua, PostgreSQL standings in the
test database, the real `Broadcaster` with its connection list) with a delivery that only counts what
it would send, and pacing's sleep recorded instead of slept. So the figure is the batch's own work; what
delivery then costs is the emulator's (bench.quiz_load measures it on real sockets).

Prints a table and writes bench/results/leaderboard_batch-<timestamp>.{json,png}. Everything it made
(board keys, registry entries, standings rows) is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis
from tqdm import tqdm

from local.stack import load_stack
from quiz import db
from quiz.leaderboard.adapters.postgres import PostgresStandings
from quiz.leaderboard.adapters.redis_store import RedisLeaderboard
from quiz.leaderboard.domain import ScoreEvent
from quiz.leaderboard.service import LeaderboardService, Pacing
from quiz.realtime.adapters.redis_registry import RedisQuizConnections
from quiz.realtime.broadcaster import Broadcaster
from quiz.realtime.ports import Message

RESULTS = Path(__file__).resolve().parent / "results"
SEED_CHUNK = 5_000


class CountingDelivery:
    """The delivery port, counting frames instead of sending them."""

    def __init__(self) -> None:
        self.frames = 0
        self.calls = 0

    def send(self, connection_ids: list[str], data: bytes) -> list[str]:
        return self.send_many([(connection_ids, data)])

    def send_many(self, messages: list[Message]) -> list[str]:
        self.calls += 1
        self.frames += sum(len(ids) for ids, _ in messages)
        return []


@dataclass
class RoomResult:
    players: int
    batches: int
    events_per_batch: int
    p50_ms: float
    p90_ms: float
    max_ms: float
    frames_per_batch: float
    seed_s: float


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def seed(r: redis.Redis, board: RedisLeaderboard, registry: RedisQuizConnections, quiz_id: str, players: int) -> list[str]:
    """A board and a room of `players`, written straight into Redis in chunks."""
    users = [str(uuid.UUID(int=random.getrandbits(128))) for _ in range(players)]
    start = datetime.now(UTC) - timedelta(hours=1)
    for i in range(0, players, SEED_CHUNK):
        chunk = users[i : i + SEED_CHUNK]
        events = [
            ScoreEvent(
                "seed",
                quiz_id,
                u,
                f"P{i + j}",
                random.randrange(0, 5_000),
                1,
                int((start + timedelta(milliseconds=i + j)).timestamp() * 1000),
                False,
            )
            for j, u in enumerate(chunk)
        ]
        board.apply({quiz_id: events})
        r.hset(registry.quiz_key(quiz_id), mapping={f"c{i + j}=": u for j, u in enumerate(chunk)})
    r.incr(registry.version_key(quiz_id))
    board.mark_ready(quiz_id)
    return users


def run_room(r: redis.Redis, database_url: str, players: int, batches: int, events: int) -> RoomResult:
    quiz_id = f"BENCH{uuid.uuid4().hex[:6].upper()}"
    board = RedisLeaderboard(r)
    registry = RedisQuizConnections(r)
    delivery = CountingDelivery()
    service = LeaderboardService(
        board, PostgresStandings(db.pool(database_url)), Broadcaster(registry, delivery), pacing=Pacing(1, 10**9), sleep=lambda s: None
    )
    started = time.perf_counter()
    users = seed(r, board, registry, quiz_id, players)
    seed_s = time.perf_counter() - started
    versions = dict.fromkeys(users, 1)
    durations = []
    try:
        for _ in tqdm(range(batches), desc=f"{players:>7} players", unit="batch", leave=False):
            batch = []
            for u in random.choices(users, k=events):  # with replacement: a small room repeats players, as a real one would
                versions[u] += 1
                batch.append(
                    ScoreEvent(uuid.uuid4().hex, quiz_id, u, "P", random.randrange(0, 10_000), versions[u], int(time.time() * 1000), False)
                )
            t0 = time.perf_counter()
            service.apply_batch(batch)
            durations.append((time.perf_counter() - t0) * 1000)
    finally:
        r.delete(*RedisLeaderboard.keys(quiz_id).values(), registry.quiz_key(quiz_id), registry.version_key(quiz_id))
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM leaderboard_standings WHERE quiz_id = %s", (quiz_id,))
    ordered = sorted(durations)
    return RoomResult(
        players=players,
        batches=batches,
        events_per_batch=events,
        p50_ms=round(statistics.median(ordered), 2),
        p90_ms=round(ordered[max(0, int(len(ordered) * 0.9) - 1)], 2),
        max_ms=round(ordered[-1], 2),
        frames_per_batch=round(delivery.frames / batches, 1),
        seed_s=round(seed_s, 2),
    )


def write(results: list[RoomResult], args: argparse.Namespace, load_before: str, load_after: str) -> dict[str, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = RESULTS / f"leaderboard_batch-{stamp}"
    smallest, largest = results[0], results[-1]
    doc = {
        "tool": "bench.leaderboard_batch",
        "when": stamp,
        "parameters": {"players": args.players, "batches": args.batches, "events": args.events},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": load_before, "load_after": load_after},
        "rooms": [asdict(x) for x in results],
        "p50_ratio_largest_to_smallest": round(largest.p50_ms / smallest.p50_ms, 2) if smallest.p50_ms else None,
    }
    paths = {"json": base.with_suffix(".json"), "png": base.with_suffix(".png")}
    paths["json"].write_text(json.dumps(doc, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [x.players for x in results]
    ax.plot(xs, [x.p50_ms for x in results], marker="o", label="p50")
    ax.plot(xs, [x.max_ms for x in results], marker="x", linestyle="--", label="max")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("players in the quiz")
    ax.set_ylabel(f"one batch of {args.events} answers (ms)")
    ax.set_title(f"Leaderboard batch, fan-out excluded (load {load_before})")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(paths["png"], dpi=110)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.leaderboard_batch", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--players", type=int, nargs="+", default=[10, 1_000, 10_000, 100_000])
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--events", type=int, default=50, help="score events per batch")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if max(args.players) > 1_000_000 or args.batches > 1_000:
        parser.error("at most 1,000,000 players and 1,000 batches: this is a bounded benchmark")
    random.seed(args.seed)
    stack = load_stack()
    r = redis.Redis.from_url(stack.redis.url(1))
    database_url = stack.postgres.url(stack.postgres.test_database)
    load_before = load_average()
    results = [run_room(r, database_url, n, args.batches, args.events) for n in sorted(args.players)]
    load_after = load_average()
    paths = write(results, args, load_before, load_after)
    print(f"{'players':>8} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8} {'frames/batch':>13} {'seed s':>7}")
    for x in results:
        print(f"{x.players:>8} {x.p50_ms:>8.1f} {x.p90_ms:>8.1f} {x.max_ms:>8.1f} {x.frames_per_batch:>13.1f} {x.seed_s:>7.1f}")
    print(f"p50 at {results[-1].players} players / p50 at {results[0].players}: {results[-1].p50_ms / results[0].p50_ms:.2f}x")
    comparable = [x for x in results if x.players >= args.events]
    if len(comparable) > 1:
        # a room smaller than the batch has fewer distinct players per batch, so less to do
        print(
            f"p50 at {comparable[-1].players} / p50 at {comparable[0].players} (rooms ≥ one batch): {comparable[-1].p50_ms / comparable[0].p50_ms:.2f}x"
        )
    print(f"load average before {load_before}, after {load_after}")
    print(f"wrote {paths['json']} and {paths['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
