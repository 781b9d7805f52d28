"""`python -m bench.leaderboard_batch` on real Redis and PostgreSQL, small: what it writes, and that it
cleans up after itself (it runs in the tests' Redis db and database)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import redis

from bench.leaderboard_batch import main


def test_each_batch_size_is_timed_in_every_room_and_nothing_is_left_behind(
    database_url: str, redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    r = redis.Redis.from_url(redis_url)
    keys_before = {k for k in r.scan_iter("*BENCH*")}

    assert main(["--players", "5", "40", "--batches", "3", "--events", "2", "10", "--results", str(tmp_path)]) == 0

    (written,) = tmp_path.glob("leaderboard_batch-*.json")
    doc = json.loads(written.read_text())
    rooms = {(x["players"], x["events_per_batch"]): x for x in doc["rooms"]}
    assert set(rooms) == {(5, 2), (5, 10), (40, 2), (40, 10)}
    # Distinct players per batch where the room has enough; a 5-player room repeats them in a batch of 10.
    assert rooms[(40, 10)]["distinct_players_per_batch"] == 10 and rooms[(40, 2)]["distinct_players_per_batch"] == 2
    assert rooms[(5, 10)]["distinct_players_per_batch"] <= 5
    assert all(x["batches"] == 3 and x["p50_ms"] > 0 and x["frames_per_batch"] > 0 for x in rooms.values())
    assert set(doc["p50_ratio_largest_to_smallest"]) == {"2", "10"}
    assert (tmp_path / written.name.replace(".json", ".png")).read_bytes()[:4] == b"\x89PNG"
    assert "batches of 10: p50 at 40 players / p50 at 5" in capsys.readouterr().out

    assert {k for k in r.scan_iter("*BENCH*")} == keys_before, "the board and registry keys it made are deleted"
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM leaderboard_standings WHERE quiz_id LIKE 'BENCH%'").fetchone()
    assert left == (0,)
