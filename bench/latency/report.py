"""The figures of a run: summary per player count, the table printed, and the result files."""

from __future__ import annotations

import csv
import json
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.latency.evidence import percentile
from bench.latency.records import AnswerRecord, Player

RESULTS = Path(__file__).resolve().parent.parent / "results"


@dataclass
class RunResult:
    """The figures of one player count."""

    players: int
    questions: int
    answer_via: str
    answers: int
    timed: int  # answers that changed the total (the ones a frame can show)
    unchanged: int  # wrong answers: total unchanged, nothing to see
    failed: int  # answer requests that errored or timed out
    missed: int  # timed answers never shown within the reflect timeout
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    by_measure: dict[str, int]
    by_measure_p50_ms: dict[str, float | None]
    frames_per_connection_per_s: float
    leaderboard_frames_per_connection_per_s: float
    your_rank_frames_per_connection_per_s: float
    window_s: float
    server: dict[str, Any] = field(default_factory=dict)
    delivery_probe: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "rows"}


def summarise(
    players: int,
    questions: int,
    answer_via: str,
    records: list[AnswerRecord],
    roster: list[Player],
    window_start: float,
    window_s: float,
    server: dict[str, Any],
    probe: dict[str, Any],
) -> RunResult:
    timed = [r for r in records if r.changes_total]
    shown = [r for r in timed if r.t_board is not None]
    delays = [d for r in shown if (d := r.delay_ms()) is not None]
    acks = [(r.t_ack - r.t_sent) * 1000 for r in records if r.error is None]
    by_measure: dict[str, list[float]] = {"leaderboard": [], "your_rank": []}
    for r in shown:
        d = r.delay_ms()
        if r.measure and d is not None:
            by_measure[r.measure].append(d)
    window_end = window_start + window_s
    counts = {"all": 0, "leaderboard": 0, "your_rank": 0}
    for p in roster:
        assert p.live is not None
        for at, f in list(p.live.frames):
            if window_start <= at <= window_end:
                counts["all"] += 1
                if f.get("type") in counts:
                    counts[str(f["type"])] += 1
    per_conn_s = max(1, len(roster)) * max(window_s, 1e-9)
    return RunResult(
        players=players,
        questions=questions,
        answer_via=answer_via,
        answers=len(records),
        timed=len(timed),
        unchanged=sum(1 for r in records if r.error is None and r.points == 0),
        failed=sum(1 for r in records if r.error is not None),
        missed=len(timed) - len(shown),
        p50_ms=percentile(delays, 50),
        p90_ms=percentile(delays, 90),
        p99_ms=percentile(delays, 99),
        max_ms=round(max(delays), 2) if delays else None,
        mean_ms=round(statistics.fmean(delays), 2) if delays else None,
        ack_p50_ms=percentile(acks, 50),
        ack_p99_ms=percentile(acks, 99),
        by_measure={k: len(v) for k, v in by_measure.items()},
        by_measure_p50_ms={k: percentile(v, 50) for k, v in by_measure.items()},
        frames_per_connection_per_s=round(counts["all"] / per_conn_s, 3),
        leaderboard_frames_per_connection_per_s=round(counts["leaderboard"] / per_conn_s, 3),
        your_rank_frames_per_connection_per_s=round(counts["your_rank"] / per_conn_s, 3),
        window_s=round(window_s, 2),
        server=server,
        delivery_probe=probe,
        rows=[r.row() for r in records],
    )


def table(results: Sequence[RunResult]) -> str:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    head = f"{'players':>7} {'answers':>7} {'timed':>5} {'p50':>6} {'p90':>6} {'p99':>6} {'max':>6} {'missed':>6} {'failed':>6} {'frames/conn/s':>13}  measure (leaderboard/your_rank)"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.players:>7} {r.answers:>7} {r.timed:>5} {f(r.p50_ms):>6} {f(r.p90_ms):>6} {f(r.p99_ms):>6} {f(r.max_ms):>6} "
            f"{r.missed:>6} {r.failed:>6} {r.frames_per_connection_per_s:>13.2f}  {r.by_measure['leaderboard']}/{r.by_measure['your_rank']}"
        )
    lines.append("delay = first frame showing the new score at the answering player − its acknowledgement, in ms")
    return "\n".join(lines)


def write_results(
    results: Sequence[RunResult], settings: dict[str, Any], directory: Path = RESULTS, *, plot: bool = True
) -> dict[str, Path]:
    """bench/results/leaderboard_latency-<timestamp>.json (figures + every answer), .csv (every answer), .png."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = directory / f"leaderboard_latency-{stamp}"
    paths = {"json": stem.with_suffix(".json"), "csv": stem.with_suffix(".csv")}
    document = {
        "tool": "bench.leaderboard_latency",
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": settings,
        "runs": [{**r.summary(), "answers_detail": r.rows} for r in results],
    }
    paths["json"].write_text(json.dumps(document, indent=1))
    rows = [row for r in results for row in r.rows]
    with paths["csv"].open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["players"])
        writer.writeheader()
        writer.writerows(rows)
    if plot:
        paths["png"] = stem.with_suffix(".png")
        _plot(results, paths["png"])
    return paths


def _plot(results: Sequence[RunResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cdf, hist) = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in results:
        for measure, style in (("leaderboard", "-"), ("your_rank", "--")):
            d = sorted(row["delay_ms"] for row in r.rows if row["measure"] == measure and row["delay_ms"] is not None)
            if d:
                cdf.step(
                    d, [(i + 1) / len(d) for i in range(len(d))], style, where="post", label=f"{r.players} players · {measure} (n={len(d)})"
                )
        all_d = [row["delay_ms"] for row in r.rows if row["delay_ms"] is not None]
        if all_d:
            # shares, not counts, so a 10-player run is visible beside a 200-player one
            hist.hist(
                all_d,
                bins=40,
                alpha=0.55,
                weights=[1 / len(all_d)] * len(all_d),
                label=f"{r.players} players (n={len(all_d)}, missed {r.missed})",
            )
    cdf.set(xlabel="answer acknowledged → new score on screen (ms)", ylabel="fraction of answers", title="Latency CDF by measure")
    cdf.grid(alpha=0.3)
    cdf.legend(fontsize=8)
    hist.set(xlabel="delay (ms)", ylabel="share of answers", title="Delay histogram (first frame showing the new score)")
    hist.grid(alpha=0.3)
    hist.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
