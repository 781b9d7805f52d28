"""The full fault and fuzz suite: its own stack, N faults round-robin, the fuzz, a Markdown + JSON report.

    .venv/bin/python -m tests.faults --faults 100 --timeout 1800 --report bench/results/faults-<date>.md

Exit status 1 when an acknowledged answer was lost or counted twice, a board never agreed with
PostgreSQL, or any 5xx other than a 503 was seen (fuzz included); 0 otherwise."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from tqdm import tqdm

from local.stack import REPO
from tests.faults.runner import KINDS, RoundResult, Summary, run_rounds, schedule
from tests.faults.stack import FaultStack


def run_fuzz(stack: FaultStack, examples: int, timeout_s: float) -> dict[str, Any]:
    """tests/e2e/test_fuzz_e2e.py against this stack's emulator with `examples` inputs per test."""
    stats = Path(tempfile.mkstemp(prefix="fuzz-", suffix=".jsonl")[1])
    env = {
        **os.environ,
        "QUIZ_FUZZ_BASE_URL": stack.emulator.base_url,
        "QUIZ_FUZZ_EXAMPLES": str(examples),
        "QUIZ_FUZZ_STATS": str(stats),
        "QUIZ_STACK_FILE": str(stack.stack_file),
    }
    command = [sys.executable, "-m", "pytest", "tests/e2e/test_fuzz_e2e.py", "-q", "-p", "no:cacheprovider", f"--timeout={int(timeout_s)}"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s + 60)
    lines = [json.loads(line) for line in stats.read_text().splitlines() if line.strip()]
    stats.unlink(missing_ok=True)
    return {
        "inputs": sum(line["inputs"] for line in lines),
        "server_errors": sum(line["server_errors"] for line in lines),
        "per_test": lines,
        "pytest_exit": done.returncode,
        "pytest_tail": "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:]),
        "seconds": round(time.monotonic() - started, 1),
    }


def _round_json(r: RoundResult) -> dict[str, Any]:
    return {
        "kind": r.kind,
        "quiz_id": r.quiz_id,
        "acknowledged": r.acknowledged,
        "lost": r.lost,
        "double_counted": r.double_counted,
        "disagreements": r.disagreements,
        "notes": r.notes,
        "aborted": r.aborted,
        "caught_up_s": r.caught_up_s,
        "resumed_s": r.resumed_s,
        "closed_s": r.closed_s,
        "restore_s": r.restore_s,
        "duration_s": round(r.duration_s, 2),
    }


def write_report(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    t = data["totals"]
    fuzz = data.get("fuzz") or {}
    lines = [
        f"# Fault and fuzz suite — {data['started']}",
        "",
        f"Command: `{data['command']}`  ",
        f"Verdict: **{'PASS' if data['ok'] else 'FAIL'}** ({data['elapsed_s']:.0f} s; {data['players']} players per quiz, "
        f"faults held {data['hold_s']} s; own stack on loopback ports {data['ports']})",
        "",
        "## Totals",
        "",
        "| what | count |",
        "|---|---|",
        f"| faults injected | {t['faults']} |",
        f"| answers acknowledged | {t['acknowledged']} |",
        f"| lost acknowledged answers | {t['lost']} |",
        f"| double-counted answers | {t['double_counted']} |",
        f"| players whose board / GET / last frame never agreed with PostgreSQL (≤ {data['settle_s']:.0f} s) | {t['disagreements']} |",
        f"| rounds aborted (could not finish) | {t['aborted']} |",
        f"| HTTP 503 with Retry-After (allowed during an outage) | {t['http_503']} |",
        f"| WebSocket `service_unavailable` frames (allowed) | {t['ws_unavailable']} |",
        f"| requests that found the node down (refused / reset) | {t['unreachable']} |",
        f"| 5xx other than 503 (faults) | {t['server_errors']} |",
        f"| fuzzed inputs | {fuzz.get('inputs', 'not run')} |",
        f"| fuzzed inputs answered 5xx / untyped or internal_error frame | {fuzz.get('server_errors', 'not run')} |",
        "",
        "## Recovery times (seconds, from the fault undone)",
        "",
        "caught up: every player's board, GET leaderboard and last frame agree with PostgreSQL; resumed: every "
        "player had an answer acknowledged again; question closed: the question left open by the emulator restart closed. "
        "Each cell: min / median / max. Restart took: how long undoing the fault took (not included in the others).",
        "",
        "| fault | n | restart took | caught up | resumed | question closed |",
        "|---|---|---|---|---|---|",
    ]

    def cell(stats: dict[str, Any] | None) -> str:
        return f"{stats['min']:.2f} / {stats['median']:.2f} / {stats['max']:.2f}" if stats else "—"

    for kind, metrics in data["recovery"].items():
        n = sum(1 for r in data["rounds"] if r["kind"] == kind)
        lines.append(
            f"| {kind} | {n} | {cell(metrics.get('restore_s'))} | {cell(metrics.get('caught_up_s'))} | {cell(metrics.get('resumed_s'))} | {cell(metrics.get('closed_s'))} |"
        )
    http = ", ".join(f"{k}: {v}" for k, v in sorted(data["http_status"].items()))
    lines += ["", f"HTTP statuses seen by the players and host: {http}", ""]
    problems = [r for r in data["rounds"] if r["lost"] or r["double_counted"] or r["disagreements"] or r["notes"] or r["aborted"]]
    if problems or data["server_errors"]:
        lines += ["## Problems", ""]
        for r in problems:
            if r["aborted"]:
                lines.append(f"- {r['kind']} aborted: {r['aborted']}")
            for what in ("lost", "double_counted", "disagreements", "notes"):
                for item in r[what]:
                    lines.append(f"- {r['kind']} (quiz {r['quiz_id']}) {what}: {item}")
        for item in data["server_errors"][:50]:
            lines.append(f"- 5xx: {item}")
        lines.append("")
    if data.get("emulator_errors"):
        lines += ["## Emulator log: ERROR lines (first 40)", "", "```", *data["emulator_errors"], "```", ""]
    if fuzz:
        lines += ["## Fuzz", "", f"pytest exit {fuzz['pytest_exit']} in {fuzz['seconds']} s; per test: {fuzz['per_test']}", ""]
        lines += ["```", fuzz["pytest_tail"], "```", ""]
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__.splitlines()[0])
    ap.add_argument("--faults", type=int, default=100, help="faults to inject, round-robin over the kinds")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated fault kinds")
    ap.add_argument("--timeout", type=float, default=1800.0, help="stop injecting after this many seconds")
    ap.add_argument("--players", type=int, default=6, help="players per quiz (half HTTP, half WebSocket)")
    ap.add_argument("--hold", type=float, default=2.0, help="seconds a stopped or killed service stays down")
    ap.add_argument("--fuzz-examples", type=int, default=5000, help="fuzzed inputs per fuzz test (two tests); 0 skips the fuzz")
    ap.add_argument("--report", type=Path, default=REPO / "bench" / "results" / f"faults-{dt.date.today().isoformat()}.md")
    ap.add_argument("--keep", action="store_true", help="keep the stack's state directory (logs) for reading")
    a = ap.parse_args(argv)
    kinds = [k for k in a.kinds.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        ap.error(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")

    def interrupted(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)  # torn down like Ctrl+C
    started, t0 = dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), time.monotonic()
    print("starting the suite's own stack ...", flush=True)
    with FaultStack(keep=a.keep) as stack:
        print(f"stack up in {time.monotonic() - t0:.1f} s (state {stack.state}); emulator {stack.emulator.base_url}", flush=True)
        fuzz: dict[str, Any] = {}
        if a.fuzz_examples > 0:
            print(f"fuzzing every route and WebSocket action: {a.fuzz_examples} inputs per test ...", flush=True)
            fuzz = run_fuzz(stack, a.fuzz_examples, timeout_s=max(600.0, a.fuzz_examples * 0.2))
            print(f"  {fuzz['inputs']} inputs, {fuzz['server_errors']} 5xx, {fuzz['seconds']} s", flush=True)
        ordered = [kinds[i % len(kinds)] for i in range(a.faults)] if kinds != list(KINDS) else list(schedule(a.faults))
        with tqdm(total=len(ordered), unit="fault", dynamic_ncols=True) as bar:

            def progress(result: RoundResult) -> None:
                bar.set_postfix_str(f"{result.kind} {'ok' if result.ok else 'PROBLEM'} {result.duration_s:.0f}s")
                bar.update(1)

            summary, tally = run_rounds(stack, ordered, a.players, a.timeout, a.hold, progress)
        errors = [line for line in stack.emulator.log.read_text(errors="replace").splitlines() if " ERROR " in line][:40]
        ports = {
            name: port
            for name, port in (
                ("postgres", stack.stack.postgres.port),
                ("redis", stack.stack.redis.port),
                ("zookeeper", stack.stack.zookeeper.port),
                ("kafka", stack.stack.kafka.port),
                ("emulator", stack.stack.emulator.port),
            )
        }
    data = report_data(summary, tally, fuzz)
    ok = bool(
        data["totals"]["lost"] == 0
        and data["totals"]["double_counted"] == 0
        and data["totals"]["disagreements"] == 0
        and data["totals"]["aborted"] == 0
        and data["totals"]["server_errors"] == 0
        and (not fuzz or (fuzz["server_errors"] == 0 and fuzz["pytest_exit"] == 0))
    )
    data.update(
        ok=ok,
        started=started,
        elapsed_s=round(time.monotonic() - t0, 1),
        command=" ".join(["python -m tests.faults", *(argv if argv is not None else sys.argv[1:])]),
        players=a.players,
        hold_s=a.hold,
        ports=ports,
        emulator_errors=errors,
    )
    write_report(a.report, data)
    t = data["totals"]
    print(
        f"{'PASS' if ok else 'FAIL'}: {t['faults']} faults, {t['acknowledged']} answers acknowledged, {t['lost']} lost, "
        f"{t['double_counted']} double-counted, {t['disagreements']} disagreements, {t['aborted']} aborted, {t['server_errors']} non-503 5xx, "
        f"{t['http_503']} 503; fuzz {fuzz.get('inputs', 0)} inputs, {fuzz.get('server_errors', 0)} 5xx\nreport: {a.report} (+ .json)"
    )
    return 0 if ok else 1


def report_data(summary: Summary, tally: Any, fuzz: dict[str, Any]) -> dict[str, Any]:
    from tests.faults.runner import SETTLE_S

    rounds = [_round_json(r) for r in summary.rounds]
    return {
        "settle_s": SETTLE_S,
        "totals": {
            "faults": summary.faults,
            "acknowledged": sum(r["acknowledged"] for r in rounds),
            "lost": sum(len(r["lost"]) for r in rounds),
            "double_counted": sum(len(r["double_counted"]) for r in rounds),
            "disagreements": sum(len(r["disagreements"]) for r in rounds),
            "aborted": sum(1 for r in rounds if r["aborted"]),
            "http_503": tally.http_503,
            "ws_unavailable": tally.ws_unavailable,
            "unreachable": tally.unreachable,
            "server_errors": len(tally.server_errors),
        },
        "http_status": {str(k): v for k, v in tally.http.items()},
        "server_errors": tally.server_errors,
        "recovery": summary.recovery(),
        "rounds": rounds,
        "fuzz": fuzz,
    }


if __name__ == "__main__":
    sys.exit(main())
