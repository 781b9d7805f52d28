"""The leaderboard handler SIGKILLed at random points of a batch, then the batch retried whole (what the
event source mapping does after a crashed invocation): every score still equals the sum in PostgreSQL.

The handler runs in its own process, as in Lambda, with the real functions/leaderboard/app.py over the
real Redis and PostgreSQL; the parent kills it a few milliseconds into the batch.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from local.stack import REPO
from quiz.leaderboard.adapters.redis_store import RedisLeaderboard
from quiz.leaderboard.domain import ScoreEvent
from tests.integration.leaderboard_support import kafka_event, play, scores_in_redis, sums_in_postgres

pytestmark = pytest.mark.integration

RUNNER = """
import json, sys
sys.path[:0] = [{code!r}, {layer!r}]
from app import handler            # imported (cold start) before the parent says go
event = json.load(open({event!r}))
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps(handler(event, None)), flush=True)
"""


def run_handler(event_file: Path, env: dict[str, str], kill_after_s: float | None) -> str | None:
    """Run the leaderboard handler on the batch; SIGKILL it `kill_after_s` after it starts the batch."""
    code = RUNNER.format(code=str(REPO / "functions/leaderboard"), layer=str(REPO / "layers/shared/python"), event=str(event_file))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout and proc.stdin
    assert proc.stdout.readline().strip() == "ready"
    proc.stdin.write("go\n")
    proc.stdin.flush()
    if kill_after_s is not None:
        time.sleep(kill_after_s)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)  # reaps it and closes the pipes
        return None
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return out.strip()


def test_a_batch_killed_at_random_points_and_retried_counts_each_answer_once(
    world: dict[str, Any],
    database_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    quiz_id, _ = play(world, database_url)
    events = world["captured"].events
    scores = [e for e in events if e.payload["type"] == "score"]  # not the question_closed markers
    joins = [e for e in scores if e.payload["reason"] == "joined"]
    answers = [e for e in scores if e.payload["reason"] != "joined"]
    env = {
        **os.environ,
        "STAGE": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "CONNECTIONS_ENDPOINT": "http://127.0.0.1:9/dev",  # no connection watches this quiz: nothing is pushed
    }
    second = tmp_path / "answers.json"
    second.write_text(json.dumps(kafka_event(answers)))
    # The board was live before the answers' batch: it holds the joins only.
    board = world["board"]
    board.board.apply({quiz_id: [ScoreEvent.parse(json.dumps(e.payload)) for e in joins]})
    board.board.mark_ready(quiz_id)
    expected = sums_in_postgres(database_url, quiz_id)
    assert scores_in_redis(board, quiz_id) != expected, "the answers are not on the board yet"

    # The answers' batch is killed at points spread over a whole invocation (~0.5 s from a cold
    # process: connecting, the Lua apply, PostgreSQL, the push), then retried whole, as the ESM does.
    # Later and later kills, until a few have landed after the Redis apply (however slow the machine).
    rng = random.Random(7)
    attempts, died_after_redis = 0, 0
    while died_after_redis < 3 and attempts < 40:
        run_handler(second, env, kill_after_s=attempts * 0.05 + rng.uniform(0.0, 0.05))
        attempts += 1
        died_after_redis += scores_in_redis(board, quiz_id) == expected
    assert died_after_redis >= 1, "some attempts died after their Redis apply, so the retries re-applied it"
    # The handler's stdout also carries its EMF metrics line (quiz.metrics): the result is the last line.
    result = json.loads((run_handler(second, env, kill_after_s=None) or "{}").splitlines()[-1])
    assert result["quizzes"] == 1 and result["rebuilt"] == 0

    assert scores_in_redis(board, quiz_id) == expected
    with psycopg.connect(database_url) as conn:
        persisted = dict(
            conn.execute("SELECT user_id::text, score FROM leaderboard_standings WHERE quiz_id = %s AND NOT removed", (quiz_id,)).fetchall()
        )
    answered = {e.payload["user_id"] for e in answers}  # the setup put the joins on the board directly
    assert persisted == {user: score for user, score in expected.items() if user in answered}
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.zcard(RedisLeaderboard.keys(quiz_id)["z"]) == len(expected), "no player twice on the board"
    finally:
        client.close()
