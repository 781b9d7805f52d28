"""The quiz the benchmark plays: players sign up, join over WebSockets, answer each question at a random
moment, and each answer is timed until its player sees the new score."""

from __future__ import annotations

import contextlib
import random
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from bench.latency.evidence import delivery_probe, report_durations, scrape, server_evidence
from bench.latency.records import AnswerRecord, AnswerVia, Player, reflected
from bench.latency.report import RunResult, summarise
from clients.quiz_client import ApiError, Frame, QuizClient

PASSWORD = "correct horse battery staple"
CHOICES = ["right", "wrong one", "wrong two", "wrong three"]


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
             "time_limit_ms": time_limit_s * 1000, "points": 1000}
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
        record.correct, record.points, record.score = bool(result["correct"]), int(result["points"]), int(result["score"])
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
    before = scrape(base_url)
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
        # read before the probe adds calls of its own
        server = server_evidence(before, scrape(base_url), report_durations(log_path, log_offset))
        probe = delivery_probe(base_url, redis_url, quiz_id) if probe_delivery and redis_url else {}
        with contextlib.suppress(ApiError, httpx.HTTPError):
            host.host(quiz_id, "end")
        return summarise(players, questions, answer_via, records, roster, window_start, window_s, server, probe)
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
