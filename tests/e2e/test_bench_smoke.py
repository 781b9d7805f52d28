"""The leaderboard latency benchmark runs end to end against the emulator and writes its results.

No timing thresholds: figures are for people to read (bench/README.md); this only checks that the tool
measures what it says (every right answer shown to its player) and writes files with the promised fields."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.leaderboard_latency import run_player_count, write_results
from tests.e2e.conftest import Product

pytestmark = pytest.mark.e2e


def test_three_players_one_question(product: Product, redis_url: str, tmp_path: Path) -> None:
    result = run_player_count(
        product.base_url, 3, questions=1, spread_s=1.0, correct_rate=1.0, reflect_timeout_s=20, time_limit_s=120, seed=7,
        progress=False, log_path=product.log, redis_url=redis_url,
    )  # fmt: skip
    paths = write_results([result], {"players": [3], "questions": 1}, tmp_path)

    assert (result.answers, result.timed, result.missed, result.failed) == (3, 3, 0, 0)
    document = json.loads(paths["json"].read_text())
    (run,) = document["runs"]
    for key in ("players", "answers", "timed", "missed", "p50_ms", "p90_ms", "p99_ms", "max_ms", "frames_per_connection_per_s",
                "by_measure", "server", "answers_detail"):  # fmt: skip
        assert key in run, key
    assert run["players"] == 3 and run["missed"] == 0 and run["p50_ms"] is not None
    assert run["by_measure"]["leaderboard"] == 3, "with 3 players everyone is in the top 10 the frame shows"
    assert run["server"]["functions"]["LeaderboardFunction"]["invocations"] >= 1
    # the evidence is the difference of two /metrics scrapes: counts of this run only
    assert run["server"]["management_posts_per_connection"] + run["server"]["management_batch_posts"] >= 1, "frames went out"
    assert run["server"]["leaderboard_record_delay"]["count"] >= 1, "the Kafka record delay of the leaderboard batches"
    with paths["csv"].open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(row["measure"] == "leaderboard" and row["delay_ms"] for row in rows)
    assert paths["png"].stat().st_size > 0
