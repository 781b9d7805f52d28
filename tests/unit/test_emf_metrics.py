"""Product metrics as CloudWatch Embedded Metric Format lines (quiz/metrics.py), and the emulator reading
them into Prometheus series (local/emulator/metrics.py), as CloudWatch reads them on AWS."""

from __future__ import annotations

import io
import json

from local.emulator.metrics import EmulatorMetrics
from quiz.metrics import MAX_VALUES, emf_line, emit


def scrape(m: EmulatorMetrics) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in m.exposition()[0].decode().splitlines():
        if line.startswith("quiz_"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_an_emf_line_follows_the_cloudwatch_specification() -> None:
    doc = json.loads(emf_line({"LeaderboardPushDelay": ("Milliseconds", [12, 40])}, {"Function": "F"}, timestamp_ms=1700000000000))
    assert doc["_aws"] == {
        "Timestamp": 1700000000000,
        "CloudWatchMetrics": [
            {"Namespace": "Quiz", "Dimensions": [["Function"]], "Metrics": [{"Name": "LeaderboardPushDelay", "Unit": "Milliseconds"}]}
        ],
    }
    assert doc["Function"] == "F" and doc["LeaderboardPushDelay"] == [12, 40]


def test_a_single_value_is_a_number_and_long_lists_keep_the_last_hundred() -> None:
    doc = json.loads(emf_line({"ScoresApplied": ("Count", [3]), "D": ("Milliseconds", list(range(250)))}, {"Function": "F"}))
    assert doc["ScoresApplied"] == 3
    assert doc["D"] == list(range(150, 250)) and len(doc["D"]) == MAX_VALUES


def test_emit_writes_one_line_and_nothing_when_there_is_nothing_to_say() -> None:
    out = io.StringIO()
    emit({"ScoresApplied": ("Count", [])}, out=out)
    assert out.getvalue() == ""
    emit({"ScoresApplied": ("Count", [2])}, out=out)
    assert out.getvalue().count("\n") == 1 and json.loads(out.getvalue())["ScoresApplied"] == 2


def test_the_emulator_turns_emf_into_a_histogram_and_a_counter() -> None:
    m = EmulatorMetrics()
    line = emf_line(
        {"LeaderboardPushDelay": ("Milliseconds", [40, 300]), "ScoresApplied": ("Count", [5])}, {"Function": "LeaderboardFunction"}
    )
    assert m.observe_emf(line.encode())
    assert m.observe_emf(emf_line({"ScoresApplied": ("Count", [2])}, {"Function": "LeaderboardFunction"}))
    seen = scrape(m)
    assert seen['quiz_scores_applied_total{function="LeaderboardFunction"}'] == 7
    assert seen['quiz_leaderboard_push_delay_seconds_count{function="LeaderboardFunction"}'] == 2
    assert seen['quiz_leaderboard_push_delay_seconds_bucket{function="LeaderboardFunction",le="0.05"}'] == 1
    assert seen['quiz_leaderboard_push_delay_seconds_bucket{function="LeaderboardFunction",le="0.5"}'] == 2
    assert abs(seen['quiz_leaderboard_push_delay_seconds_sum{function="LeaderboardFunction"}'] - 0.34) < 1e-9


def test_ordinary_and_broken_lines_are_not_metrics() -> None:
    m = EmulatorMetrics()
    assert not m.observe_emf(b"START RequestId: 1 Version: $LATEST")
    assert not m.observe_emf(b'{"_aws": {"CloudWatchMetrics": "nope"}}')
    assert not m.observe_emf(b'{"_aws": ')
    assert scrape(m) == {}
