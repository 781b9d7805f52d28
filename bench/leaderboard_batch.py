"""How long does one leaderboard batch take as the room grows? (fan-out excluded, reported separately)

    python -m bench.leaderboard_batch [--players 10 1000 10000 100000] [--batches 200] [--events 10 50]

For each room size N: a board of N players in the real Redis (db 1, the tests'), N connections in the
real connection registry, then, for each batch size E of `--events`, `--batches` batches of E score
events for E distinct random players of that room (as one question's answers are; a room smaller than
E repeats players, so its batch has less to do) through the real `LeaderboardService.apply_batch` (Redis Lua, PostgreSQL standings in the
test database, the real `Broadcaster` with its connection list) with a delivery that only counts what
it would send, and pacing's sleep recorded instead of slept. So the figure is the batch's own work; what
delivery then costs is the emulator's (bench.quiz_load measures it on real sockets).

Prints a table and writes bench/results/leaderboard_batch-<timestamp>.{json,png} (`--results`: elsewhere).
Everything it made (board keys, registry entries, standings rows) is deleted at the end.
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
    distinct_players_per_batch: float
    p50_ms: float
    p90_ms: float
    max_ms: float
    first_ms: float  # the room's first batch in this container reads its connection list once: usually the max
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


def run_room(r: redis.Redis, database_url: str, players: int, batches: int, sizes: list[int]) -> list[RoomResult]:
    """One room of `players`, seeded once; `batches` timed batches of each size in `sizes`."""
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
    results = []
    try:
        for events in sizes:
            durations, distinct = [], []
            frames_before = delivery.frames
            for _ in tqdm(range(batches), desc=f"{players:>7} players, {events} a batch", unit="batch", leave=False):
                # Distinct players, as one question's answers are; a room smaller than the batch repeats them.
                chosen = random.sample(users, k=events) if events <= players else random.choices(users, k=events)
                distinct.append(len(set(chosen)))
                batch = []
                for u in chosen:
                    versions[u] += 1
                    batch.append(
                        ScoreEvent(
                            uuid.uuid4().hex, quiz_id, u, "P", random.randrange(0, 10_000), versions[u], int(time.time() * 1000), False
                        )
                    )
                t0 = time.perf_counter()
                service.apply_batch(batch)
                durations.append((time.perf_counter() - t0) * 1000)
            ordered = sorted(durations)
            results.append(
                RoomResult(
                    players=players,
                    batches=batches,
                    events_per_batch=events,
                    distinct_players_per_batch=round(statistics.mean(distinct), 1),
                    p50_ms=round(statistics.median(ordered), 2),
                    p90_ms=round(ordered[max(0, int(len(ordered) * 0.9) - 1)], 2),
                    max_ms=round(ordered[-1], 2),
                    first_ms=round(durations[0], 2),
                    frames_per_batch=round((delivery.frames - frames_before) / batches, 1),
                    seed_s=round(seed_s, 2),
                )
            )
    finally:
        r.delete(*RedisLeaderboard.keys(quiz_id).values(), registry.quiz_key(quiz_id), registry.version_key(quiz_id))
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DELETE FROM leaderboard_standings WHERE quiz_id = %s", (quiz_id,))
    return results


def ratios(results: list[RoomResult]) -> dict[str, float | None]:
    """Per batch size: p50 in the largest room / p50 in the smallest."""
    out: dict[str, float | None] = {}
    for events in dict.fromkeys(x.events_per_batch for x in results):
        rows = sorted((x for x in results if x.events_per_batch == events), key=lambda x: x.players)
        out[str(events)] = round(rows[-1].p50_ms / rows[0].p50_ms, 2) if rows[0].p50_ms else None
    return out


def write(results: list[RoomResult], args: argparse.Namespace, load_before: str, load_after: str) -> dict[str, Path]:
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    base = args.results / f"leaderboard_batch-{stamp}"
    doc = {
        "tool": "bench.leaderboard_batch",
        "when": stamp,
        "parameters": {"players": args.players, "batches": args.batches, "events": args.events},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": load_before, "load_after": load_after},
        "rooms": [asdict(x) for x in results],
        "p50_ratio_largest_to_smallest": ratios(results),  # per batch size
    }
    paths = {"json": base.with_suffix(".json"), "png": base.with_suffix(".png")}
    paths["json"].write_text(json.dumps(doc, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for events in args.events:
        rows = [x for x in results if x.events_per_batch == events]
        xs = [x.players for x in rows]
        line = ax.plot(xs, [x.p50_ms for x in rows], marker="o", label=f"{events} answers a batch: p50")
        ax.plot(xs, [x.p90_ms for x in rows], marker="x", linestyle="--", color=line[0].get_color(), alpha=0.5, label="p90")
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("players in the quiz")
    ax.set_ylabel("one batch (ms)")
    ax.set_title(f"Leaderboard batch, fan-out excluded (load {load_before})", fontsize=10)
    ax.text(0.02, 0.02, "not drawn: a room's first batch, which reads its connection list (max, first ms in the table)",
            transform=ax.transAxes, fontsize=7, alpha=0.7)  # fmt: skip
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(paths["png"], dpi=110)
    plt.close(fig)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.leaderboard_batch", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--players", type=int, nargs="+", default=[10, 1_000, 10_000, 100_000])
    parser.add_argument(
        "--batches",
        type=int,
        default=200,
        help="timed batches of each size in each room (default: 200; a p50 of a few ms over 30 moved by 1.5x between runs)",
    )
    parser.add_argument(
        "--events", type=int, nargs="+", default=[10, 50], help="score events per batch; one series per value (default: 10 50)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", type=Path, default=RESULTS, help="directory of the result files (default: bench/results)")
    args = parser.parse_args(argv)
    if max(args.players) > 1_000_000 or args.batches > 1_000:
        parser.error("at most 1,000,000 players and 1,000 batches: this is a bounded benchmark")
    random.seed(args.seed)
    stack = load_stack()
    r = redis.Redis.from_url(stack.redis.url(1))
    database_url = stack.postgres.url(stack.postgres.test_database)
    load_before = load_average()
    results = [x for n in sorted(args.players) for x in run_room(r, database_url, n, args.batches, args.events)]
    load_after = load_average()
    paths = write(results, args, load_before, load_after)
    print(
        f"{'players':>8} {'events':>7} {'distinct':>9} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8} {'first ms':>9} {'frames/batch':>13} {'seed s':>7}"
    )
    for x in sorted(results, key=lambda x: (x.events_per_batch, x.players)):
        print(
            f"{x.players:>8} {x.events_per_batch:>7} {x.distinct_players_per_batch:>9.1f} {x.p50_ms:>8.1f} {x.p90_ms:>8.1f} {x.max_ms:>8.1f}"
            f" {x.first_ms:>9.1f} {x.frames_per_batch:>13.1f} {x.seed_s:>7.1f}"
        )
    smallest, largest = min(args.players), max(args.players)
    for events, ratio in ratios(results).items():
        # a room smaller than the batch has fewer distinct players per batch, so less to do
        caveat = f" (the {smallest}-player room repeats players in a batch)" if smallest < int(events) else ""
        print(f"batches of {events}: p50 at {largest} players / p50 at {smallest}: {ratio}x{caveat}")
    print(f"load average before {load_before}, after {load_after}")
    print(f"wrote {paths['json']} and {paths['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
