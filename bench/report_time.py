"""How long does the host's report of a large quiz take to build?

    python -m bench.report_time [--players 5000] [--questions 10] [--runs 5]

Seeds a finished quiz straight into the test database with bulk SQL (`generate_series`): N players,
Q questions (choice and typed, alternately), nine answers in ten given, random times and choices. Then,
after one warm-up call, times `ReportService.report` (the quiz read, the rows read in one snapshot, the
pure computation) `--runs` times, and separately each part: the rows read (`PostgresReportReader.session`),
the computation (`build_report`), the JSON body (`body()` + `json.dumps`), two CSV tables (players;
answers, one row per answer, read whole) and one learner's `my_results`. Prints p50 and max per part with the load average (the machine may be
shared: read the figures with it), writes bench/results/report_time-<timestamp>.json, and deletes
everything it made.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from local.stack import load_stack
from quiz import db
from quiz.auth import Principal, Role
from quiz.leaderboard.domain import rank_key
from quiz.quizzes.adapters.postgres import PostgresQuizStore
from quiz.quizzes.adapters.postgres_report import PostgresReportReader
from quiz.quizzes.domain import PIN_ALPHABET
from quiz.quizzes.report import build_report
from quiz.quizzes.reporting import ReportService

RESULTS = Path(__file__).resolve().parent / "results"

_QUESTIONS = """
INSERT INTO questions (quiz_id, position, kind, prompt, choices, correct_choice, accepted_answers, typo_tolerance,
                       time_limit_ms, points, opened_at, deadline, closed_at)
SELECT %(quiz_id)s, i, CASE WHEN i %% 2 = 1 THEN 'multiple_choice' ELSE 'typed' END, 'Word ' || i,
       CASE WHEN i %% 2 = 1 THEN '["alpha", "beta", "gamma", "delta"]'::jsonb END, CASE WHEN i %% 2 = 1 THEN i %% 4 END,
       CASE WHEN i %% 2 = 0 THEN jsonb_build_array('word' || i) END, 1, 20000, 1000,
       now() - interval '1 hour' + i * interval '30 seconds', now() - interval '1 hour' + i * interval '30 seconds' + interval '20 seconds',
       now() - interval '1 hour' + i * interval '30 seconds' + interval '20 seconds'
  FROM generate_series(1, %(questions)s) i
"""

_USERS = """
INSERT INTO users (id, username, display_name, password_hash)
SELECT md5(%(tag)s || i)::uuid, 'bench-' || %(tag)s || '-' || i, 'Player ' || i, 'x' FROM generate_series(1, %(players)s) i
"""

_PARTICIPANTS = """
INSERT INTO participants (quiz_id, user_id, display_name, total, version, streak, reached_at, joined_at)
SELECT %(quiz_id)s, md5(%(tag)s || i)::uuid, 'Player ' || i, (random() * 9000)::int, 10, 0,
       now() - interval '1 hour' + (random() * 300000)::int * interval '1 millisecond', now() - interval '2 hours'
  FROM generate_series(1, %(players)s) i
"""

# Nine answers in ten; a choice answer picks any of the four choices, a typed one a right spelling or one
# of a few wrong ones; the streak is random (only its maximum is read).
_ANSWERS = """
INSERT INTO answers (quiz_id, position, user_id, idempotency_key, given, correct, points, elapsed_ms, total_after,
                     version_after, streak_after, answered_at)
SELECT %(quiz_id)s, q, md5(%(tag)s || i)::uuid, NULL,
       CASE WHEN q %% 2 = 1 THEN c::text ELSE to_jsonb(CASE WHEN c = 0 THEN 'word' || q ELSE (ARRAY['wurd', 'Word!', 'ward'])[c] END)::text END,
       c = CASE WHEN q %% 2 = 1 THEN q %% 4 ELSE 0 END, floor(random() * 1000)::int, floor(random() * 20000)::int, 0, q,
       floor(random() * 6)::int, now() - interval '1 hour'
  FROM (SELECT i, q, floor(random() * 4)::int AS c, random() AS r
          FROM generate_series(1, %(players)s) i CROSS JOIN generate_series(1, %(questions)s) q) pick
 WHERE r < 0.9
"""


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def seed(database_url: str, players: int, questions: int) -> tuple[str, str, str]:
    """A finished quiz of ``players`` and ``questions``; returns (quiz id, host id, seed tag)."""
    tag = uuid.uuid4().hex[:10]
    host = uuid.uuid4()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO users (id, username, display_name, password_hash) VALUES (%s, %s, 'Bench host', 'x')", (host, f"bench-host-{tag}")
        )
        while True:
            quiz_id = "".join(random.choice(PIN_ALPHABET) for _ in range(6))
            inserted = conn.execute(
                "INSERT INTO quizzes (id, host_id, title, status, current_position, question_count, started_at, ended_at)"
                " VALUES (%s, %s, 'Report benchmark', 'ended', %s, %s, now() - interval '1 hour', now()) ON CONFLICT DO NOTHING",
                (quiz_id, host, questions, questions),
            )
            if inserted.rowcount == 1:
                break
        params = {"quiz_id": quiz_id, "tag": tag, "players": players, "questions": questions}
        for statement in (_QUESTIONS, _USERS, _PARTICIPANTS, _ANSWERS):
            conn.execute(statement, params)
        conn.execute("ANALYZE participants")
        conn.execute("ANALYZE answers")
    return quiz_id, str(host), tag


def clean(database_url: str, quiz_id: str, host: str, tag: str) -> None:
    with psycopg.connect(database_url) as conn:
        # Children first, each by its own key: left to the cascade, every one of the 5,000 participant rows
        # would look for its answers by (quiz_id, user_id), which no index leads with (minutes, not seconds).
        for table in ("answers", "participants", "questions", "quizzes"):
            conn.execute(f"DELETE FROM {table} WHERE {'id' if table == 'quizzes' else 'quiz_id'} = %s", (quiz_id,))
        conn.execute("DELETE FROM users WHERE username LIKE %s OR id = %s", (f"bench-{tag}-%", host))


def timed(fn: Callable[[], Any], runs: int) -> dict[str, float]:
    fn()  # warm: the pool's connections, plans, imports
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": round(statistics.median(ms), 1), "max_ms": round(max(ms), 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report_time", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--players", type=int, default=5_000)
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not (1 <= args.players <= 100_000 and 1 <= args.questions <= 100 and 1 <= args.runs <= 100):
        parser.error("1-100,000 players, 1-100 questions, 1-100 runs: this is a bounded benchmark")
    random.seed(args.seed)
    stack = load_stack()
    database_url = stack.postgres.url(stack.postgres.test_database)
    pool = db.pool(database_url)
    reader = PostgresReportReader(pool)
    store = PostgresQuizStore(pool, "bench.report")
    service = ReportService(reader, store, rank_key=rank_key)

    load_before = load_average()
    t0 = time.perf_counter()
    quiz_id, host_id, tag = seed(database_url, args.players, args.questions)
    seed_s = time.perf_counter() - t0
    host = Principal(user_id=uuid.UUID(host_id), display_name="Bench host", role=Role.PLAYER)
    learner = Principal(user_id=uuid.UUID(hashlib.md5(f"{tag}1".encode()).hexdigest()), display_name="Player 1", role=Role.PLAYER)
    try:
        report = service.report(host, quiz_id)
        quiz, _ = store.get(quiz_id)
        rows = reader.session(quiz_id)
        parts = {
            "report (service call)": timed(lambda: service.report(host, quiz_id), args.runs),
            "rows read (3 statements)": timed(lambda: reader.session(quiz_id), args.runs),
            "build_report (pure)": timed(lambda: build_report(quiz, rows, rank_key=rank_key), args.runs),
            "JSON body + dumps": timed(lambda: json.dumps(report.body()), args.runs),
            "CSV players (service call)": timed(lambda: service.report_csv(host, quiz_id, "players"), args.runs),
            "CSV answers (service call)": timed(lambda: service.report_csv(host, quiz_id, "answers"), args.runs),
            "my_results (one learner)": timed(lambda: service.my_results(learner), args.runs),
        }
        answers = sum(p.answered for p in report.players)
    finally:
        clean(database_url, quiz_id, host_id, tag)
    load_after = load_average()

    print(f"report of a finished quiz: {args.players} players, {args.questions} questions, {answers} answers (seeded in {seed_s:.1f} s)")
    print(f"{'part':<28} {'p50 ms':>8} {'max ms':>8}   ({args.runs} runs after one warm-up)")
    for name, figures in parts.items():
        print(f"{name:<28} {figures['p50_ms']:>8.1f} {figures['max_ms']:>8.1f}")
    print(f"load average before {load_before}, after {load_after} ({os.cpu_count()} CPUs; the machine may be shared)")

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"report_time-{stamp}.json"
    doc = {
        "tool": "bench.report_time",
        "when": stamp,
        "parameters": {"players": args.players, "questions": args.questions, "runs": args.runs, "answers": answers},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": load_before, "load_after": load_after},
        "seed_s": round(seed_s, 2),
        "parts": parts,
    }
    path.write_text(json.dumps(doc, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
