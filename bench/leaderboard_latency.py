"""How long after an answer is acknowledged does the player see it on the live leaderboard?

    python -m bench.leaderboard_latency --players 10 200 [--questions 3] [--base-url URL]

For each player count: sign up N players and a host, create a multiple-choice quiz, open a WebSocket
per player and join, start. For every question each player answers once at a random moment within
`--spread` seconds (about `--correct-rate` of them right), over the WebSocket or HTTP (`--answer-via`).
Per answer:

    t_ack    arrival of the acknowledgement at that player (the `answer_result` frame or the HTTP reply)
    t_board  arrival, at that same player, of the first frame that shows the player's new total:
               "leaderboard"  the quiz's `leaderboard` frame listing the player at the new score, or,
                              when the player is not in the top N it shows,
               "your_rank"    the player's own `your_rank` frame carrying the new score
    delay    t_board - t_ack

A wrong answer leaves the total unchanged, so no frame can show it: those are counted, not timed.
An answer whose new total is not shown within `--reflect-timeout` is "missed".

Everything is bounded: answers (`--max-answers`), each wait, and the whole run (`--time-limit`, after
which the tool interrupts itself and cleans up). By default it starts its own emulator (own Kafka topic,
stopped and deleted afterwards); `--base-url` targets one that is already running (loopback only).
Results go to bench/results/leaderboard_latency-<timestamp>.{json,csv,png}.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import platform
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from tqdm import tqdm

from bench.limits import time_limit
from clients.quiz_client import ApiError, Frame, LiveSession, QuizClient
from local.product import LocalProduct, local_product

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "correct horse battery staple"
CHOICES = ["right", "wrong one", "wrong two", "wrong three"]
AnswerVia = str  # "ws" | "http" | "mixed"


# ---------------------------------------------------------------------------------------------- records


@dataclass
class AnswerRecord:
    """One answer and when its effect reached the player who gave it (monotonic seconds)."""

    players: int
    player: int
    question: int
    via: str
    scheduled_s: float  # offset into the question at which the player meant to answer
    correct: bool = False
    points: int = 0
    total: int = 0
    t_sent: float = 0.0
    t_ack: float = 0.0
    error: str | None = None
    t_leaderboard: float | None = None  # first `leaderboard` frame listing the player at `total`
    t_your_rank: float | None = None  # first `your_rank` frame with score == `total`

    @property
    def changes_total(self) -> bool:
        return self.error is None and self.points > 0

    @property
    def measure(self) -> str | None:
        """Which frame showed the new total: the leaderboard when the player is in its top N, else your_rank."""
        if self.t_leaderboard is not None:
            return "leaderboard"
        if self.t_your_rank is not None:
            return "your_rank"
        return None

    @property
    def t_board(self) -> float | None:
        return self.t_leaderboard if self.t_leaderboard is not None else self.t_your_rank

    def delay_ms(self) -> float | None:
        return None if self.t_board is None else (self.t_board - self.t_ack) * 1000

    def row(self) -> dict[str, Any]:
        def ms(t: float | None) -> float | None:
            return None if t is None else round((t - self.t_ack) * 1000, 2)

        return {
            "players": self.players,
            "player": self.player,
            "question": self.question,
            "via": self.via,
            "correct": self.correct,
            "points": self.points,
            "total": self.total,
            "ack_ms": round((self.t_ack - self.t_sent) * 1000, 2) if self.error is None else None,
            "measure": self.measure if self.changes_total else None,
            "delay_ms": ms(self.t_board) if self.changes_total else None,
            "leaderboard_delay_ms": ms(self.t_leaderboard) if self.changes_total else None,
            "your_rank_delay_ms": ms(self.t_your_rank) if self.changes_total else None,
            "error": self.error,
        }


@dataclass
class Player:
    index: int
    client: QuizClient
    live: LiveSession | None = None
    via: str = "ws"

    @property
    def user_id(self) -> str:
        return self.client.user_id


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


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 2)


# ---------------------------------------------------------------------------------------------- reflection


def _board_score(frame: Frame, user_id: str) -> int | None:
    for row in frame.get("top", ()):
        if row.get("user_id") == user_id:
            return int(row["score"])
    return None


def find_reflection(record: AnswerRecord, frames: Sequence[tuple[float, Frame]], user_id: str) -> None:
    """Fill in t_leaderboard / t_your_rank from a player's frames (in arrival order).

    Frames that arrived before the answer was sent cannot show it. Totals only grow (one answer per
    question, questions one after another), so a frame carrying exactly the new total shows this answer."""
    for at, frame in frames:
        if at < record.t_sent:
            continue
        kind = frame.get("type")
        if kind == "leaderboard" and record.t_leaderboard is None and _board_score(frame, user_id) == record.total:
            record.t_leaderboard = at
        elif kind == "your_rank" and record.t_your_rank is None and frame.get("score") == record.total:
            record.t_your_rank = at
        if record.t_leaderboard is not None and record.t_your_rank is not None:
            return


def reflected(record: AnswerRecord, player: Player) -> bool:
    assert player.live is not None
    frames = list(player.live.frames)  # the reader thread appends; a copy is a consistent prefix
    find_reflection(record, frames, player.user_id)
    return record.t_board is not None


# ---------------------------------------------------------------------------------------------- the run


class Deadline:
    """The run's wall-clock budget; every wait takes the smaller of its own timeout and what is left."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self, cap: float) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the benchmark's time limit was reached")
        return min(cap, left)


def quiz_document(questions: int, time_limit_s: int) -> dict[str, Any]:
    return {
        "title": "Leaderboard latency benchmark",
        "questions": [
            {"kind": "multiple_choice", "prompt": f"Benchmark question {i + 1}?", "choices": CHOICES, "correct_choice": 0,
             "time_limit_s": time_limit_s, "points": 1000}
            for i in range(questions)
        ],
    }  # fmt: skip


def _signup(base_url: str, index: int, tag: str) -> QuizClient:
    client = QuizClient(base_url)
    try:
        client.signup(f"b{tag}{index:04d}{uuid.uuid4().hex[:6]}", PASSWORD, f"Bench {index}")
    except BaseException:
        client.close()
        raise
    return client


def _pool_map(fn: Callable[[int], Any], n: int, workers: int, desc: str, deadline: Deadline, progress: bool) -> list[Any]:
    """fn(0..n-1) on a thread pool with a progress bar; the first error cancels the rest and is raised."""
    out: list[Any] = [None] * n
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=desc.split()[0]) as pool:
        futures = {pool.submit(fn, i): i for i in range(n)}
        with tqdm(total=n, desc=desc, unit="", disable=not progress, leave=False, file=sys.stderr) as bar:
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, timeout=deadline.left(5.0), return_when="FIRST_COMPLETED")
                    for f in done:
                        out[futures[f]] = f.result()
                        bar.update(1)
            except BaseException:
                for f in pending:
                    f.cancel()
                raise
    return out


def _answer(player: Player, quiz_id: str, record: AnswerRecord, choice: int, timeout_s: float) -> None:
    """Send one answer and note when it was sent and when its acknowledgement arrived."""
    try:
        if player.via == "ws":
            assert player.live is not None
            request_id = str(uuid.uuid4())
            record.t_sent = time.monotonic()
            result = player.live.request(
                {"action": "answer", "quiz_id": quiz_id, "question_id": record.question, "answer": choice, "request_id": request_id},
                expect="answer_result",
                timeout=timeout_s,
            )
            # the reader thread stamped the frame on arrival; request() may have picked it up later
            record.t_ack = next(
                (at for at, f in reversed(player.live.frames) if f.get("type") == "answer_result" and f.get("request_id") == request_id),
                time.monotonic(),
            )
        else:
            record.t_sent = time.monotonic()
            result = player.client.answer(quiz_id, record.question, choice, str(uuid.uuid4()))
            record.t_ack = time.monotonic()
        record.correct, record.points, record.total = bool(result["correct"]), int(result["points"]), int(result["total"])
    except (ApiError, TimeoutError, ConnectionError, httpx.HTTPError, KeyError) as exc:
        record.error = f"{type(exc).__name__}: {exc}"[:200]


def _opens(question: int) -> Callable[[Frame], bool]:
    return lambda f: bool(f["question"]["question_id"] == question)


def _assign_via(index: int, answer_via: AnswerVia) -> str:
    if answer_via == "mixed":
        return "http" if index % 2 else "ws"
    return answer_via


def run_player_count(
    base_url: str,
    players: int,
    *,
    questions: int = 3,
    spread_s: float = 4.0,
    correct_rate: float = 0.7,
    answer_via: AnswerVia = "ws",
    reflect_timeout_s: float = 30.0,
    request_timeout_s: float = 30.0,
    time_limit_s: float = 600.0,
    seed: int | None = None,
    progress: bool = True,
    log_path: Path | None = None,
    redis_url: str | None = None,
    probe_delivery: bool = True,
) -> RunResult:
    """One quiz with `players` players; returns its figures. Closes every socket and client it opened."""
    deadline = Deadline(time_limit_s)
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:4]
    log_offset = log_path.stat().st_size if log_path and log_path.exists() else 0
    clients: list[QuizClient] = []
    roster: list[Player] = []
    records: list[AnswerRecord] = []
    try:
        host = _signup(base_url, 9999, tag)
        clients.append(host)
        signup_workers = min(8, players)
        for i, c in enumerate(
            _pool_map(lambda i: _signup(base_url, i, tag), players, signup_workers, f"sign up {players}", deadline, progress)
        ):
            clients.append(c)
            roster.append(Player(i, c, via=_assign_via(i, answer_via)))
        quiz_id = host.create_quiz(
            quiz_document(questions, time_limit_s=min(300, max(60, int(spread_s + request_timeout_s + reflect_timeout_s) + 30)))
        )["quiz_id"]

        def connect(i: int) -> None:
            p = roster[i]
            p.live = p.client.live()
            p.live.request({"action": "join", "quiz_id": quiz_id}, expect="joined", timeout=deadline.left(request_timeout_s))

        _pool_map(connect, players, min(16, players), f"join {players}", deadline, progress)

        window_start = time.monotonic()
        with ThreadPoolExecutor(max_workers=min(players, 32), thread_name_prefix="answer") as pool:
            for q in range(1, questions + 1):
                host.host(quiz_id, "start" if q == 1 else "next")
                opens_question = _opens(q)
                for p in roster:
                    assert p.live is not None
                    p.live.wait_for("question_opened", opens_question, timeout=deadline.left(request_timeout_s))
                plan = sorted(
                    (AnswerRecord(players, p.index, q, p.via, rng.uniform(0, spread_s)) for p in roster), key=lambda r: r.scheduled_s
                )
                opened = time.monotonic()
                futures = []
                with tqdm(
                    total=len(plan), desc=f"{players} players, question {q}/{questions}", disable=not progress, leave=False, file=sys.stderr
                ) as bar:
                    for r in plan:
                        pause = opened + r.scheduled_s - time.monotonic()
                        if pause > 0:
                            time.sleep(deadline.left(pause))
                        choice = 0 if rng.random() < correct_rate else rng.randint(1, len(CHOICES) - 1)
                        futures.append(pool.submit(_answer, roster[r.player], quiz_id, r, choice, request_timeout_s))
                        futures[-1].add_done_callback(lambda _: bar.update(1))
                    wait(futures, timeout=deadline.left(request_timeout_s + 5))
                for r in plan:
                    if r.error is None and not r.t_ack:
                        r.error = "TimeoutError: no acknowledgement in time"
                records.extend(plan)
                _drain(plan, roster, reflect_timeout_s, deadline)
        window_s = time.monotonic() - window_start
        server = server_evidence(log_path, log_offset)  # read before the probe adds calls of its own
        probe = _probe_delivery(base_url, redis_url, quiz_id) if probe_delivery and redis_url else {}
        with contextlib.suppress(ApiError, httpx.HTTPError):
            host.host(quiz_id, "end")
        return _summarise(players, questions, answer_via, records, roster, window_start, window_s, server, probe)
    finally:
        for p in roster:
            if p.live is not None:
                with contextlib.suppress(Exception):
                    p.live.close()
        for c in clients:
            c.close()


def _drain(plan: list[AnswerRecord], roster: list[Player], reflect_timeout_s: float, deadline: Deadline) -> None:
    """Wait until every score-changing answer of the question is shown to its player, or the timeout."""
    waiting = [r for r in plan if r.changes_total]
    until = time.monotonic() + reflect_timeout_s
    while waiting and time.monotonic() < until:
        waiting = [r for r in waiting if not reflected(r, roster[r.player])]
        if waiting:
            time.sleep(deadline.left(0.1))
    # one more look for the your_rank frame of answers first shown by the leaderboard, so both are known
    time.sleep(min(0.5, max(0.0, until - time.monotonic())))
    for r in plan:
        if r.changes_total:
            reflected(r, roster[r.player])


# ---------------------------------------------------------------------------------------------- evidence


_REPORT = re.compile(r"emulator\.function\.(\w+): REPORT RequestId: \S+\s+Duration: ([\d.]+) ms")
# uvicorn's access log shows the path as sent: botocore and urllib3 percent-encode the "@"
_POST_ONE = re.compile(r'"POST /(?:[\w-]+/)?(?:@|%40)connections/[^ /"]+ HTTP')
_POST_BATCH = re.compile(r'"POST /(?:[\w-]+/)?(?:@|%40)connections HTTP')


def server_evidence(log_path: Path | None, offset: int) -> dict[str, Any]:
    """What the emulator's log says about this run: leaderboard invocations and management API calls."""
    if log_path is None or not log_path.exists():
        return {}
    with log_path.open("rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    durations: dict[str, list[float]] = {}
    for name, ms in _REPORT.findall(text):
        durations.setdefault(name, []).append(float(ms))
    functions = {
        name: {"invocations": len(v), "p50_ms": percentile(v, 50), "p90_ms": percentile(v, 90), "max_ms": round(max(v), 2),
               "total_s": round(sum(v) / 1000, 2)}
        for name, v in sorted(durations.items())
    }  # fmt: skip
    batches = len(durations.get("LeaderboardFunction", []))
    posts = len(_POST_ONE.findall(text))
    return {
        "functions": functions,
        "management_posts_per_connection": posts,
        "management_batch_posts": len(_POST_BATCH.findall(text)),
        "management_posts_per_leaderboard_batch": round(posts / batches, 1) if batches else None,
    }


def _probe_delivery(base_url: str, redis_url: str | None, quiz_id: str) -> dict[str, Any]:
    """Time the shapes of fan-out to this quiz's connections, with the product idle: a PostToConnection
    per connection on 16 threads (how the adapter sends the leaderboard frame), one after another (how
    it sends `your_rank` frames, one player at a time), and one call of the batch extension."""
    import boto3  # only needed for the probe
    import redis
    from botocore.config import Config

    r = redis.Redis.from_url(redis_url or "", decode_responses=True)
    try:
        ids = [str(k) for k in r.hkeys(f"quiz:{quiz_id}:connections")]
    finally:
        r.close()
    if not ids:
        return {}
    endpoint = f"{base_url}/test"
    client = boto3.client(
        "apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench",
        config=Config(max_pool_connections=16, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )  # fmt: skip
    data = json.dumps({"type": "bench_probe", "quiz_id": quiz_id}).encode()

    def post(cid: str) -> None:
        with contextlib.suppress(Exception):
            client.post_to_connection(ConnectionId=cid, Data=data)

    post(ids[0])  # warm the client
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(post, ids))
    parallel = time.monotonic() - started
    started = time.monotonic()
    for cid in ids:
        post(cid)
    sequential = time.monotonic() - started
    started = time.monotonic()
    reply = httpx.post(f"{endpoint}/@connections", json={"connectionIds": ids, "data": data.decode()}, timeout=10)
    batch = time.monotonic() - started
    client.close()
    return {
        "connections": len(ids),
        "per_connection_16_threads_ms": round(parallel * 1000, 1),
        "per_connection_sequential_ms": round(sequential * 1000, 1),
        "batch_extension_ms": round(batch * 1000, 1),
        "batch_extension_status": reply.status_code,
    }


# ---------------------------------------------------------------------------------------------- figures


def _summarise(
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
    lines.append("delay = first frame showing the new total at the answering player − its acknowledgement, in ms")
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
    cdf.set(xlabel="answer acknowledged → new total on screen (ms)", ylabel="fraction of answers", title="Latency CDF by measure")
    cdf.grid(alpha=0.3)
    cdf.legend(fontsize=8)
    hist.set(xlabel="delay (ms)", ylabel="share of answers", title="Delay histogram (first frame showing the new total)")
    hist.grid(alpha=0.3)
    hist.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
            print(
                f"{r.players} players: {lb['invocations']} leaderboard batches, p50 {lb['p50_ms']} ms, max {lb['max_ms']} ms per batch; "
                f"{s['management_posts_per_connection']} PostToConnection calls ({s['management_posts_per_leaderboard_batch']} per batch), "
                f"{s['management_batch_posts']} batch calls"
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
