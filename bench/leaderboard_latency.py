"""How long after an answer is acknowledged does the player see it on the live leaderboard?

    python -m bench.leaderboard_latency --players 10 200 [--questions 3] [--base-url URL]

For each player count: sign up N players and a host, create a multiple-choice quiz, open a WebSocket
per player and join, start. For every question each player answers once at a random moment within
`--spread` seconds (about `--correct-rate` of them right), over the WebSocket or HTTP (`--answer-via`).
Per answer:

    t_ack    arrival of the acknowledgement at that player (the `answer_result` frame or the HTTP reply)
    t_board  arrival, at that same player, of the first frame that shows the player's new score:
               "leaderboard"  the quiz's `leaderboard` frame listing the player at the new score, or,
                              when the player is not in the top N it shows,
               "your_rank"    the player's own `your_rank` frame carrying the new score
    delay    t_board - t_ack

A wrong answer leaves the total unchanged, so no frame can show it: those are counted, not timed.
An answer whose new score is not shown within `--reflect-timeout` is "missed".

Everything is bounded: answers (`--max-answers`), each wait, and the whole run (`--time-limit`, after
which the tool interrupts itself and cleans up). By default it starts its own emulator (own Kafka topic,
stopped and deleted afterwards); `--base-url` targets one that is already running (loopback only).
Results go to bench/results/leaderboard_latency-<timestamp>.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from bench.latency.drive import run_player_count
from bench.latency.report import RESULTS, RunResult, table, write_results
from bench.limits import time_limit
from local.product import LocalProduct, local_product

# What tests and other tools import from here, from before the split into bench/latency/.
__all__ = ["RunResult", "main", "parse_args", "run_player_count", "table", "write_results"]


# ---------------------------------------------------------------------------------------------- CLI


def _loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise argparse.ArgumentTypeError(f"load is only sent to loopback, not {host!r}")
    return url.rstrip("/")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.leaderboard_latency", description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--players", type=int, nargs="+", default=[10, 200], help="player counts, one quiz each (default: 10 200)")
    p.add_argument("--questions", type=int, default=3, help="questions per quiz (default: 3)")
    p.add_argument("--spread", type=float, default=4.0, help="each player answers at a random moment within this many seconds (default: 4)")
    p.add_argument("--correct-rate", type=float, default=0.7, help="share of right answers (default: 0.7)")
    p.add_argument("--answer-via", choices=["ws", "http", "mixed"], default="ws", help="how players answer (default: ws)")
    p.add_argument("--reflect-timeout", type=float, default=30.0, help="seconds to wait for an answer to show before it counts as missed")
    p.add_argument("--max-answers", type=int, default=5000, help="refuse runs that would send more answers than this (default: 5000)")
    p.add_argument("--time-limit", type=float, default=900.0, help="hard wall-clock limit for the whole tool, seconds (default: 900)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--base-url", type=_loopback, help="an emulator already running on loopback (default: start one)")
    p.add_argument(
        "--emulator-arg", action="append", default=[], help="extra option for the started emulator, e.g. --emulator-arg=--max-concurrency=8"
    )
    p.add_argument(
        "--product-dir", type=Path, default=None, help="run the started emulator from another checkout (an A/B), default: this one"
    )
    p.add_argument("--results", type=Path, default=RESULTS, help="directory for the result files (default: bench/results)")
    p.add_argument("--no-probe", action="store_true", help="skip the delivery probe (per-connection vs batch POST timings)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    total = sum(a.players) * a.questions
    if min(a.players) < 1 or a.questions < 1:
        p.error("--players and --questions must be at least 1")
    if total > a.max_answers:
        p.error(f"{total} answers planned, more than --max-answers {a.max_answers}")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    started = time.monotonic()
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
    results: list[RunResult] = []
    try:
        with time_limit(a.time_limit), contextlib.ExitStack() as stack:
            product: LocalProduct | None = None
            if a.base_url:
                base_url, log_path, redis_url = a.base_url, None, None
            else:
                print("starting the emulator (own Kafka topic) ...", file=sys.stderr, flush=True)
                product = stack.enter_context(
                    local_product(
                        emulator_args=a.emulator_arg,
                        keep_dir=a.results,
                        **({"product_dir": a.product_dir.resolve()} if a.product_dir else {}),
                    )
                )
                base_url, log_path, redis_url = product.base_url, product.log, product.redis_url
                settings["emulator_log"] = str(product.log)
                settings["scores_topic"] = product.scores_topic
            for n in a.players:
                # leave the hard limit some room to close sockets, stop the emulator and write the results
                left = a.time_limit - 30 - (time.monotonic() - started)
                result = run_player_count(
                    base_url, n, questions=a.questions, spread_s=a.spread, correct_rate=a.correct_rate, answer_via=a.answer_via,
                    reflect_timeout_s=a.reflect_timeout, time_limit_s=left, seed=a.seed, progress=not a.no_progress,
                    log_path=log_path, redis_url=redis_url, probe_delivery=not a.no_probe and redis_url is not None,
                )  # fmt: skip
                results.append(result)
                print(table([result]), file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print(f"stopped: the time limit of {a.time_limit:.0f} s was reached (or interrupted); writing what was measured", file=sys.stderr)
    except TimeoutError as exc:
        print(f"stopped: {exc}; writing what was measured", file=sys.stderr)
    if not results:
        print("nothing was measured", file=sys.stderr)
        return 1
    paths = write_results(results, settings, a.results)
    print(table(results))
    for r in results:
        s = r.server
        lb = s.get("functions", {}).get("LeaderboardFunction", {})
        if lb:
            # The function's own p50/max come from the log's REPORT lines, absent with --base-url.
            own = (
                f", p50 {lb['p50_ms']} ms, max {lb['max_ms']} ms per batch"
                if "p50_ms" in lb
                else f", {lb['wait_mean_ms']} ms mean wait per batch"
            )
            delay = s.get("leaderboard_record_delay", {})
            print(
                f"{r.players} players: {lb['invocations']} leaderboard batches{own}; "
                f"{s['management_posts_per_connection']} PostToConnection calls ({s['management_posts_per_leaderboard_batch']} per batch), "
                f"{s['management_batch_posts']} batch calls"
                + (f"; score event to batch done: mean {delay['mean_ms']} ms, p90 ≤ {delay['p90_le_ms']} ms" if delay.get("count") else "")
            )
        if r.delivery_probe:
            d = r.delivery_probe
            print(
                f"{r.players} players: one frame to {d['connections']} connections: {d['per_connection_16_threads_ms']} ms per-connection on 16 threads, "
                f"{d['per_connection_sequential_ms']} ms one after another, {d['batch_extension_ms']} ms as one batch call"
            )
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
