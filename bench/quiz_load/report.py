"""Figures from a ScenarioRun, the summary table, and the result files (JSON with every figure and
answer, PNG of the ack→board delay distribution per scenario)."""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import subprocess
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.quiz_load.live import AnswerRecord
from bench.quiz_load.scenario import ScenarioRun
from local.emulator.websocket import ENDPOINT_TIMED_OUT


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1], 2)


def _ms(t: float | None, since: float | None) -> float | None:
    return None if t is None or since is None else round((t - since) * 1000, 2)


def answer_row(r: AnswerRecord) -> dict[str, Any]:
    return {
        "room": r.room, "player": r.player, "question": r.question, "via": r.via, "scheduled_s": r.scheduled_s,
        "sent_before_deadline_ms": round((r.deadline_wall - r.sent_wall) * 1000, 1) if r.sent_wall else None,
        "ack_ms": _ms(r.t_ack, r.t_sent), "correct": r.correct, "points": r.points, "score": r.score,
        "refused": r.refused, "error": r.error, "board_frame": r.board_frame,
        "ack_to_board_ms": _ms(r.t_board, r.t_ack) if r.changes_total else None,
    }  # fmt: skip


def answer_figures(records: Sequence[AnswerRecord], close_delays_ms: Sequence[float]) -> dict[str, Any]:
    """Answers, acknowledgements, ack → board delays and question closes of a set of answers."""
    acked = [r for r in records if r.t_ack is not None]
    timed = [r for r in records if r.changes_total]
    shown = [r for r in timed if r.t_board is not None]
    delays = [d for r in shown if (d := _ms(r.t_board, r.t_ack)) is not None]
    acks = [d for r in acked if (d := _ms(r.t_ack, r.t_sent)) is not None]
    refusals = Counter(str(r.error) for r in records if r.refused)
    return {
        "answers": len(records), "acknowledged": len(acked), "timed": len(timed),
        "unchanged": sum(1 for r in acked if not r.refused and r.points == 0),
        "failed": sum(1 for r in records if r.t_ack is None and (r.t_sent or r.error)),  # no reply, or no question_opened
        "not_sent": sum(1 for r in records if r.t_ack is None and not r.t_sent and not r.error),  # the run stopped first
        "refused": sum(refusals.values()), "refusals": dict(refusals),
        "refused_in_time": sum(1 for r in records if r.error == "question_closed" and r.sent_wall and r.sent_in_time),
        "sent_after_deadline": sum(1 for r in records if r.sent_wall and not r.sent_in_time),
        "missed": len(timed) - len(shown),
        "ack_p50_ms": percentile(acks, 50), "ack_p99_ms": percentile(acks, 99),
        "board_p50_ms": percentile(delays, 50), "board_p90_ms": percentile(delays, 90), "board_p99_ms": percentile(delays, 99),
        "board_max_ms": round(max(delays), 2) if delays else None,
        "board_within_250ms": round(sum(1 for d in delays if d <= 250) / len(timed), 4) if timed else None,
        "board_before_ack": sum(1 for d in delays if d < 0),
        "board_frame": dict(Counter(str(r.board_frame) for r in shown)),
        "close_p50_ms": percentile(close_delays_ms, 50), "close_p99_ms": percentile(close_delays_ms, 99),
        "close_max_ms": round(max(close_delays_ms), 1) if close_delays_ms else None,
    }  # fmt: skip


def summary(run: ScenarioRun) -> dict[str, Any]:
    """Every figure of one scenario (no per-answer rows)."""
    spec = run.spec
    per_conn_s = max(1, run.window_connections) * max(run.window_s, 1e-9)
    frames = run.window_frames
    joins_ms = [s * 1000 for s in run.join_latencies_s]
    questions = sorted({r.question for r in run.records})
    return {
        "scenario": spec.name, "rooms": spec.rooms, "players_per_room": spec.players, "connections": spec.connections,
        "completed": run.completed, "stopped_by": run.stopped_by, "started_at": run.started_at,
        "joined": len(run.join_latencies_s), "join_failed": sum(run.join_errors.values()), "join_errors": dict(run.join_errors),
        "join_phase_s": None if run.join_s is None else round(run.join_s, 2),
        "join_p50_ms": percentile(joins_ms, 50), "join_p99_ms": percentile(joins_ms, 99),
        **answer_figures(run.records, [d for ds in run.close_delays_ms.values() for d in ds]),
        "close_missing": run.close_missing,
        "by_question": [
            {"question": q, **answer_figures([r for r in run.records if r.question == q], run.close_delays_ms.get(q, []))}
            for q in questions
        ],
        "window_s": round(run.window_s, 2),
        "frames_per_connection_per_s": round(sum(frames.values()) / per_conn_s, 3),
        "leaderboard_frames_per_connection_per_s": round(frames["leaderboard"] / per_conn_s, 3),
        "your_rank_frames_per_connection_per_s": round(frames["your_rank"] / per_conn_s, 3),
        "frames_by_type": dict(frames),
        # API Gateway's frame for a request not answered within the 29 s integration timeout (it still ran)
        "gateway_timeouts": frames[ENDPOINT_TIMED_OUT],
        # the answers sent that got no reply; of those sent before the deadline (each must count), how many the
        # database held by the end, and how long after the quiz the last came
        "no_reply": sum(1 for r in run.records if r.t_ack is None and r.t_sent),
        "no_reply_in_time": sum(1 for r in run.records if r.t_ack is None and r.t_sent and r.sent_in_time),
        "no_reply_recorded": run.no_reply_recorded,
        "no_reply_settled_s": run.no_reply_settled_s,
        "dropped_responses": dict(run.dropped.most_common()) if run.dropped is not None else None,
        "board_frames_per_s_during_quiz": round((frames["leaderboard"] + frames["your_rank"]) / max(run.window_s, 1e-9), 1),
        "fanout": run.fanout,
        "cpu_ms": cpu_figures(run),
        "emulator_memory": memory_figures(run),
    }  # fmt: skip


def memory_figures(run: ScenarioRun) -> dict[str, Any] | None:
    """The node's resident memory before and after everyone joined, and the growth per joined connection
    (the sockets and everything the node keeps for each: what an idle connection costs it)."""
    if run.emulator_rss_kib is None or not run.join_latencies_s:
        return None
    before, after = run.emulator_rss_kib
    return {"rss_before_kib": before, "rss_after_kib": after, "kib_per_connection": round((after - before) / len(run.join_latencies_s), 1)}


def cpu_figures(run: ScenarioRun) -> dict[str, dict[str, float]]:
    """CPU milliseconds per join (join phase) and per answer (the quiz: answers, pushes, closes), by component."""
    units = {"join": len(run.join_latencies_s), "quiz": sum(1 for r in run.records if r.t_ack is not None)}
    return {
        f"per_{'join' if phase == 'join' else 'answer'}": {k: round(v * 1000 / units[phase], 2) for k, v in spent.items()}
        for phase, spent in run.cpu.items()
        if units.get(phase)
    }


def table(summaries: Sequence[dict[str, Any]]) -> str:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.0f}" if isinstance(v, float) else str(v)

    cols = [("scenario", "scenario", 9), ("joined", "joined", 6), ("join s", "join_phase_s", 6), ("answers", "answers", 7),
            ("ack50", "ack_p50_ms", 6), ("ack99", "ack_p99_ms", 6), ("brd50", "board_p50_ms", 6), ("brd90", "board_p90_ms", 6),
            ("brd99", "board_p99_ms", 6), ("brdmax", "board_max_ms", 6), ("missed", "missed", 6), ("failed", "failed", 6),
            ("refInT", "refused_in_time", 6), ("fr/c/s", "frames_per_connection_per_s", 6), ("cls50", "close_p50_ms", 6),
            ("cls99", "close_p99_ms", 6)]  # fmt: skip
    head = " ".join(f"{name:>{w}}" for name, _, w in cols) + "  fan-out product/ceiling frames/s"
    lines = [head, "-" * len(head)]
    for s in summaries:
        fan = s.get("fanout") or {}
        ratio = fan.get("ratio")
        fanout = f"{f(fan.get('product', {}).get('frames_per_s'))}/{f(fan.get('ceiling', {}).get('frames_per_s'))}" + (
            f" = {ratio:.2f}" if ratio is not None else ""
        )
        row = " ".join(f"{(f'{s[k]:.2f}' if k == 'frames_per_connection_per_s' else f(s[k])):>{w}}" for _, k, w in cols)
        lines.append(f"{row}  {fanout}" + ("" if s["completed"] else f"  (incomplete: {s['stopped_by']})"))
        for q in s["by_question"] if len(s["by_question"]) > 1 else ():
            lines.append(
                f"{'':>9} question {q['question']}: ack p50/p99 {f(q['ack_p50_ms'])}/{f(q['ack_p99_ms'])}, board p50/p90/p99/max "
                f"{f(q['board_p50_ms'])}/{f(q['board_p90_ms'])}/{f(q['board_p99_ms'])}/{f(q['board_max_ms'])}, "
                f"{q['board_within_250ms']} within 250 ms, missed {q['missed']}, close p50/p99 {f(q['close_p50_ms'])}/{f(q['close_p99_ms'])}"
            )
        for unit, parts in (s.get("cpu_ms") or {}).items():
            named = ", ".join(f"{k} {v:.1f}" for k, v in parts.items() if k != "machine" and v >= 0.05)
            lines.append(f"{'':>9} CPU ms {unit.replace('_', ' ')}: {parts.get('machine', 0):.1f} in all ({named})")
        if s.get("gateway_timeouts"):
            lines.append(
                f"{'':>9} {s['gateway_timeouts']} request(s) got API Gateway's 'Endpoint request timed out' (29 s); each still ran"
            )
        if s.get("no_reply"):
            recorded, in_time = s.get("no_reply_recorded"), s["no_reply_in_time"]
            late = s["no_reply"] - in_time
            lines.append(
                f"{'':>9} {s['no_reply']} answer(s) got no reply; of the {in_time} sent before the deadline "
                + ("none was looked up (the run stopped first)" if recorded is None else
                   f"{recorded} found recorded in the database (the last {s['no_reply_settled_s']} s after the quiz), {in_time - recorded} not")
                + (f"; {late} sent after the deadline (refused, as they should be)" if late else "")
            )  # fmt: skip
        dropped = s.get("dropped_responses")
        if dropped:
            told = "; ".join(f"{n} {what}" for what, n in dropped.items())
            lines.append(f"{'':>9} responses the node dropped after API Gateway's timeout, as the functions gave them: {told}")
        memory = s.get("emulator_memory")
        if memory:
            lines.append(
                f"{'':>9} emulator memory: {memory['rss_before_kib'] / 1024:.0f} MiB before the joins, "
                f"{memory['rss_after_kib'] / 1024:.0f} MiB after: {memory['kib_per_connection']:.1f} KiB per connection"
            )
        quiet = (s.get("fanout") or {}).get("quiet")
        if quiet and quiet.get("quiet") is not None:
            lines.append(
                f"{'':>9} fan-out probe started {quiet['waited_s']} s after the quiz, "
                + ("once the functions and PostgreSQL were idle" if quiet["quiet"] else
                   f"NOT idle: they still kept {quiet['busy_cores']} cores busy (the product figure includes their work)")
            )  # fmt: skip
        for side in ("product", "ceiling"):
            parts = (s.get("fanout") or {}).get(side, {}).get("cpu_us_per_frame") or {}
            if parts:
                named = ", ".join(f"{k} {v:.0f}" for k, v in parts.items() if k != "machine" and v >= 0.5)
                lines.append(f"{'':>9} CPU µs per frame fanned out, {side}: {parts.get('machine', 0):.0f} in all ({named})")
    lines.append(
        "ms; ack = answer sent → answer_result; brd = answer_result → first frame showing the new score (leaderboard or your_rank);"
        " refInT = sent before the deadline yet refused question_closed; cls = deadline → question_closed at the players"
    )
    return "\n".join(lines)


def load_average() -> dict[str, Any]:
    out = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    return {"uptime": out, "loadavg": [round(x, 2) for x in os.getloadavg()]}


def machine() -> dict[str, Any]:
    import websockets

    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), None)
    return {
        "cpus": os.cpu_count(), "memory_kib": int(mem) if mem else None, "python": platform.python_version(),
        "platform": platform.platform(), "websockets": websockets.version.version,
        "rlimit_nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE)),
    }  # fmt: skip


def write_results(runs: Sequence[ScenarioRun], document: dict[str, Any], directory: Path, *, stamp: str | None = None) -> dict[str, Path]:
    """quiz_load-<UTC timestamp>.json (figures, settings, machine, load, every answer) and .png."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"quiz_load-{stamp or datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    paths = {"json": stem.with_suffix(".json"), "png": stem.with_suffix(".png")}
    document = {
        **document,
        "scenarios": [{**summary(run), "answers_detail": [answer_row(r) for r in run.records]} for run in runs],
    }
    paths["json"].write_text(json.dumps(document, indent=1, default=str))
    plot(runs, paths["png"])
    return paths


def plot(runs: Sequence[ScenarioRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cdf, hist) = plt.subplots(1, 2, figsize=(12, 4.5))
    for run in runs:
        timed = [r for r in run.records if r.changes_total]
        delays = sorted(d for r in timed if (d := _ms(r.t_board, r.t_ack)) is not None)
        label = f"{run.spec.name} players (n={len(delays)}, missed {len(timed) - len(delays)})"
        if delays:
            cdf.step(delays, [(i + 1) / len(delays) for i in range(len(delays))], where="post", label=label)
            hist.hist(delays, bins=50, alpha=0.5, weights=[1 / len(delays)] * len(delays), label=label)
    for ax in (cdf, hist):
        ax.axvline(250, color="grey", linestyle=":", linewidth=1)
        ax.grid(alpha=0.3)
    cdf.set(xlabel="answer_result → first frame showing the new score (ms)", ylabel="fraction of answers", title="ack → board, CDF")
    hist.set(xlabel="delay (ms)", ylabel="share of answers", title="ack → board, histogram (dotted: 250 ms)")
    if any(run.records for run in runs):
        cdf.legend(fontsize=8)
        hist.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
