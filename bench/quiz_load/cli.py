"""Live quizzes under load, from one asyncio process: how long until every player sees their new score?

    python -m bench.quiz_load --players 200 1000 5000 10000     # one quiz each
    python -m bench.quiz_load --rooms 100 --players 100         # 100 quizzes × 100 players at once

Per scenario: a bare websockets fan-out ceiling (N sockets, M leaderboard-sized frames); players seeded
(bench/quiz_load/seeding.py), connected and joined (timed); quizzes started; every player answers each
question once at a random moment within `--spread` s of `question_opened`; per answer the
acknowledgement and the first frame showing the new score; `question_closed` after each deadline; then
the product's fan-out through the management API's batch extension. Results:
bench/results/quiz_load-<UTC timestamp>.json and .png, and a table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import re
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from tqdm import tqdm

from bench.limits import time_limit
from bench.quiz_load import fanout
from bench.quiz_load.live import LiveConnection, run_loop
from bench.quiz_load.report import load_average, machine, summary, table, write_results
from bench.quiz_load.scenario import ScenarioDriver, ScenarioRun, ScenarioSpec, Target
from bench.quiz_load.seeding import BenchSeeder, SeedingError, jwt_keys_of_running_target
from local.product import ProductDidNotStart, local_product
from local.services import state_dir
from local.stack import load_stack

RESULTS = Path(__file__).resolve().parent.parent / "results"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
SPARE_FILES = 512  # descriptors beyond the sockets: HTTP pool, database, logs, the interpreter's own


def _loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise argparse.ArgumentTypeError(f"load is only sent to loopback, not {host!r}")
    return url.rstrip("/")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.quiz_load", description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--players", type=int, nargs="+", default=[200], help="players per quiz; one scenario per value (default: 200)")
    p.add_argument("--rooms", type=int, default=1, help="quizzes played at once in each scenario (default: 1)")
    p.add_argument("--questions", type=int, default=2, help="questions per quiz (default: 2)")
    p.add_argument("--spread", type=float, default=4.0, help="each player answers at a random moment within this many s (default: 4)")
    p.add_argument("--correct-rate", type=float, default=0.7, help="share of right answers (default: 0.7)")
    p.add_argument("--answer-via", choices=["ws", "http", "mixed"], default="ws", help="how players answer (default: ws)")
    p.add_argument("--question-time", type=int, default=None, help="each question's time limit, s (default: spread + 6, at least 5)")
    p.add_argument("--reflect-timeout", type=float, default=30.0, help="s to wait for a new score to show before it is missed")
    p.add_argument(
        "--no-reply-wait", type=float, default=300.0,
        help="at most s, after the quiz, to look for the answers that got no reply in the database (default: 300)",
    )  # fmt: skip
    p.add_argument("--request-timeout", type=float, default=30.0, help="s to wait for any reply (join, answer, host action)")
    p.add_argument("--close-timeout", type=float, default=15.0, help="s after a deadline to wait for question_closed")
    p.add_argument("--connect-concurrency", type=int, default=200, help="connect+join handshakes in flight at once (default: 200)")
    p.add_argument("--http-connections", type=int, default=100, help="HTTP connection pool size (default: 100)")
    p.add_argument(
        "--fanout-frames", type=int, default=None,
        help="frames per socket in the fan-out ceiling and probe (default: enough for ~40,000 frames in all, 20 to 200)",
    )  # fmt: skip
    p.add_argument("--warmup", type=int, default=20, help="players of an unmeasured warm-up quiz played first; 0: none (default: 20)")
    p.add_argument("--no-ceiling", action="store_true", help="skip the bare websockets fan-out ceiling")
    p.add_argument("--no-probe", action="store_true", help="skip the product's fan-out probe (batch POST /@connections)")
    p.add_argument(
        "--quiet-wait", type=float, default=120.0,
        help="s the fan-out probe waits at most for the answers still running after the quiz to finish (default: 120)",
    )  # fmt: skip
    p.add_argument("--max-answers", type=int, default=40_000, help="refuse runs planning more answers than this (default: 40000)")
    p.add_argument("--time-limit", type=float, default=1800.0, help="wall-clock limit of the whole run, s (default: 1800)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--base-url", type=_loopback, help="an emulator already running on loopback (default: start one)")
    p.add_argument("--database-url", type=_loopback, help="with --base-url: the database it uses (default: local/stack.toml's)")
    p.add_argument(
        "--emulator-arg", action="append", default=[], help="option for the started emulator, e.g. --emulator-arg=--max-concurrency=8"
    )
    p.add_argument("--results", type=Path, default=RESULTS, help="directory of the result files (default: bench/results)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if min(a.players) < 1 or a.rooms < 1 or a.questions < 1 or not 0 <= a.correct_rate <= 1 or a.spread < 0 or a.quiet_wait < 0:
        p.error("--players, --rooms and --questions must be at least 1, --correct-rate within 0..1, --spread and --quiet-wait not negative")
    planned = sum(a.rooms * n for n in a.players) * a.questions
    if planned > a.max_answers:
        p.error(f"{planned} answers planned, more than --max-answers {a.max_answers}")
    if a.question_time is None:
        a.question_time = max(5, math.ceil(a.spread) + 6)
    return a


def scenarios(a: argparse.Namespace) -> list[ScenarioSpec]:
    return [_spec(a, n) for n in a.players]


def _spec(a: argparse.Namespace, players: int) -> ScenarioSpec:
    return ScenarioSpec(
        rooms=a.rooms, players=players, questions=a.questions, spread_s=a.spread, correct_rate=a.correct_rate, answer_via=a.answer_via,
        question_time_s=a.question_time, reflect_timeout_s=a.reflect_timeout, request_timeout_s=a.request_timeout,
        close_timeout_s=a.close_timeout, connect_concurrency=a.connect_concurrency, seed=a.seed,
    )  # fmt: skip


def raise_open_files(needed: int) -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (the started emulator inherits it); exit with what to do if too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft < ceiling:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < needed:
        raise SystemExit(
            f"this run holds up to {needed - SPARE_FILES} sockets and needs about {needed} open files, but RLIMIT_NOFILE is "
            f"{soft} (hard limit {hard}). Raise the hard limit and start again: as root `ulimit -n {needed * 2}` in the shell that "
            f"runs the tool, `LimitNOFILE={needed * 2}` in a systemd unit, a `nofile` line in /etc/security/limits.conf, or "
            f"`docker run --ulimit nofile={needed * 2}`; or run fewer players. An emulator started elsewhere (--base-url) needs as many."
        )
    return soft, hard


async def run_all(a: argparse.Namespace, specs: list[ScenarioSpec], target: Target, seeder: BenchSeeder, runs: list[ScenarioRun],
                  budget_s: float, document: dict[str, Any]) -> None:  # fmt: skip
    """The warm-up, then every scenario in turn, within `budget_s`; each run is appended as it starts (partial ones count)."""
    limits = httpx.Limits(max_connections=a.http_connections, max_keepalive_connections=a.http_connections)
    try:
        async with asyncio.timeout(budget_s), httpx.AsyncClient(base_url=target.base_url, limits=limits, timeout=a.request_timeout) as http:
            if a.warmup:
                document["warmup"] = await warm_up(a, target, http, seeder)
            for spec in specs:
                await run_scenario(a, spec, target, http, seeder, runs)
                if len(specs) > 1:
                    print(table([summary(runs[-1])]), file=sys.stderr, flush=True)
    except TimeoutError:
        if runs and not runs[-1].completed:
            runs[-1].stopped_by = f"time limit ({a.time_limit:.0f} s)"
        print(f"stopped: the time limit of {a.time_limit:.0f} s was reached; writing what was measured", file=sys.stderr)


async def warm_up(a: argparse.Namespace, target: Target, http: httpx.AsyncClient, seeder: BenchSeeder) -> dict[str, Any]:
    """One small unmeasured quiz first, so the scenarios do not pay a fresh emulator's cold starts (its
    figures are kept in the JSON under "warmup": they are what a cold start costs)."""
    rooms = min(a.rooms, 8)  # several rooms close their questions at once: warm as many clock workers
    spec = replace(_spec(a, math.ceil(a.warmup / rooms)), rooms=rooms, questions=1, spread_s=0.5, correct_rate=1.0, question_time_s=5)
    players = await asyncio.to_thread(seeder.accounts, "p", spec.connections)
    hosts = await asyncio.to_thread(seeder.accounts, "h", spec.rooms)
    driver = ScenarioDriver(target, spec, http, progress=False)
    print(f"warming up: {spec.connections} players in {rooms} quiz(zes), one question ...", file=sys.stderr, flush=True)
    try:
        await driver.play(players, hosts)
    except Exception as exc:  # a failed warm-up is reported, the scenarios still run
        driver.run.stopped_by = f"{type(exc).__name__}: {exc}"[:300]
        print(f"the warm-up failed: {driver.run.stopped_by}", file=sys.stderr)
    figures = summary(driver.run)
    return {k: figures[k] for k in ("rooms", "players_per_room", "completed", "stopped_by", "join_phase_s", "ack_p50_ms", "ack_p99_ms",
                                    "board_p50_ms", "board_p99_ms", "missed", "failed")}  # fmt: skip


async def run_scenario(a: argparse.Namespace, spec: ScenarioSpec, target: Target, http: httpx.AsyncClient, seeder: BenchSeeder,
                       runs: list[ScenarioRun]) -> None:  # fmt: skip
    """Seed, measure the bare ceiling, play the scenario, probe the product's fan-out."""
    players = await asyncio.to_thread(seeder.accounts, "p", spec.connections)
    hosts = await asyncio.to_thread(seeder.accounts, "h", spec.rooms)
    frames = a.fanout_frames or fanout.frames_for(spec.connections)
    driver = ScenarioDriver(target, spec, http, progress=not a.no_progress)
    ceiling = {} if a.no_ceiling else await fanout.ceiling(spec.connections, frames, meter=driver.cpu)
    runs.append(driver.run)
    driver.run.fanout = {"ceiling": ceiling}

    async def probe(conns: list[LiveConnection]) -> None:
        driver.run.fanout["quiet"] = await fanout.until_quiet(driver.cpu, max_wait_s=a.quiet_wait)
        driver.run.fanout["product"] = await fanout.product_fanout(http, conns, frames, meter=driver.cpu)
        driver.run.fanout["board_frame_bytes"] = max((c.board_bytes for c in conns), default=0) or None
        driver.run.fanout.update(_ratio(driver.run.fanout))

    log_from = log_size(target.emulator_log)
    try:
        await driver.play(players, hosts, after_quiz=None if a.no_probe else probe)
        await settle_no_reply(driver.no_reply(), driver.run, seeder, wait_s=a.no_reply_wait, progress=not a.no_progress)
    except Exception as exc:  # recorded with the scenario; the next one may still run
        driver.run.stopped_by = f"{type(exc).__name__}: {exc}"[:300]
        print(f"scenario {spec.name} stopped: {driver.run.stopped_by}", file=sys.stderr)
    finally:
        if target.emulator_log is not None:
            driver.run.dropped = dropped_responses(target.emulator_log, log_from)


# A line of the node's log (local/emulator/integration.py) for a response API Gateway did not wait for.
DROPPED = re.compile(r"(\w+) finished after the integration timeout; its response \(([^)]*)\) was dropped")


def log_size(log: Path | None) -> int:
    try:
        return log.stat().st_size if log is not None else 0
    except OSError:
        return 0


def dropped_responses(log: Path, offset: int = 0) -> Counter[str] | None:
    """The responses the node dropped after the integration timeout, from `offset` of its log on, counted
    by function and by what they were: of the answers that got no reply, which were recorded
    (`answer_result`) and which refused (`error question_closed`), as the functions answered them. Read
    once the lookup of those answers is over: a line written later is counted with the next scenario."""
    found: Counter[str] = Counter()
    try:
        with log.open("rb") as f:
            f.seek(offset)
            for line in f:
                match = DROPPED.search(line.decode("utf-8", "replace"))
                if match:
                    found[f"{match[1]}: {match[2]}"] += 1
    except OSError:
        return None  # no log to read: unknown, not none
    return found


async def settle_no_reply(
    pending: Mapping[tuple[str, int, str], Any], run: ScenarioRun, seeder: BenchSeeder, *,
    wait_s: float, progress: bool, poll_s: float = 2.0, quiet_s: float = 30.0,
) -> None:  # fmt: skip
    """The answers that got no reply (API Gateway's timeout: their invocations go on running), by (quiz
    id, question, user id), are looked up in the database until all of them are there, none came for
    `quiet_s`, or `wait_s` passed, so the run says how many of them counted rather than assuming it."""
    if not pending:
        run.no_reply_recorded, run.no_reply_settled_s = 0, 0.0
        return
    quiz_ids = sorted({quiz_id for quiz_id, _, _ in pending})
    started = last_change = time.monotonic()
    found: set[tuple[str, int, str]] = set()
    with tqdm(
        total=len(pending), desc=f"{run.spec.name}: answers without a reply, found recorded", unit="answer", disable=not progress
    ) as bar:
        while True:
            now_found = pending.keys() & await asyncio.to_thread(seeder.recorded_answers, quiz_ids)
            if len(now_found) > len(found):
                bar.update(len(now_found) - len(found))
                found, last_change = now_found, time.monotonic()
            if len(found) == len(pending) or time.monotonic() - last_change > quiet_s or time.monotonic() - started > wait_s:
                break
            await asyncio.sleep(poll_s)
    run.no_reply_recorded = len(found)
    run.no_reply_settled_s = round(last_change - started, 1)


def _ratio(fan: dict[str, Any]) -> dict[str, Any]:
    product = (fan.get("product") or {}).get("frames_per_s")
    ceiling = (fan.get("ceiling") or {}).get("frames_per_s")
    return {"ratio": round(product / ceiling, 3) if product and ceiling else None}


@contextlib.contextmanager
def target(a: argparse.Namespace, document: dict[str, Any]) -> Iterator[tuple[Target, str, dict[str, str]]]:
    """(base URL, database URL, JWT keys) of the emulator under test: started here, or the one at --base-url."""
    if a.base_url:
        stack = load_stack()
        yield Target(a.base_url), a.database_url or stack.postgres.url(), jwt_keys_of_running_target(state_dir())
        return
    print("starting the emulator (own Kafka topic, test database, Redis db 1) ...", file=sys.stderr, flush=True)
    with local_product(emulator_args=a.emulator_arg, keep_dir=a.results) as product:
        document["emulator"] = {"log": str(product.log), "scores_topic": product.scores_topic, "args": a.emulator_arg}
        yield Target(product.base_url, product.pid, product.log), product.database_url, product.keys


def measure(
    a: argparse.Namespace, target: Target | str, database_url: str, keys: dict[str, str], runs: list[ScenarioRun], document: dict[str, Any],
    *, budget_s: float | None = None,
) -> list[ScenarioRun]:  # fmt: skip
    """Seed the accounts and play every scenario against `target`, appending to `runs` as they start."""
    under_test = Target(target) if isinstance(target, str) else target
    document["base_url"] = under_test.base_url
    document["load_before"] = load_average()
    seeder = BenchSeeder(database_url, keys)
    try:
        run_loop(run_all(a, scenarios(a), under_test, seeder, runs, a.time_limit if budget_s is None else budget_s, document))
    finally:
        document["seeding"] = asdict(seeder.report)
        document["load_after"] = load_average()
        seeder.close()
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    a = parse_args(argv)
    started = time.monotonic()
    specs = scenarios(a)
    open_files = raise_open_files(max(s.connections for s in specs) + SPARE_FILES)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
    document: dict[str, Any] = {"tool": "bench.quiz_load", "settings": settings, "machine": machine(), "open_files": open_files}
    runs: list[ScenarioRun] = []
    try:
        with time_limit(a.time_limit + 60), target(a, document) as (under_test, database_url, keys):
            measure(a, under_test, database_url, keys, runs, document, budget_s=a.time_limit - (time.monotonic() - started))
    except KeyboardInterrupt:
        if runs and not runs[-1].completed:
            runs[-1].stopped_by = "interrupted"
        print("interrupted; writing what was measured", file=sys.stderr)
    except (SeedingError, ProductDidNotStart) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    document["written_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    if not runs:
        print("nothing was measured", file=sys.stderr)
        return 1
    paths = write_results(runs, document, a.results)
    print(table([summary(r) for r in runs]))
    print(f"uptime before: {document.get('load_before', {}).get('uptime')}\nuptime after:  {document.get('load_after', {}).get('uptime')}")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
