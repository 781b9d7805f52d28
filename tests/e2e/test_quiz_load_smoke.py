"""The asyncio quiz load generator runs a tiny scenario end to end and writes what it promises.

No timing thresholds (figures are for people: bench/README.md). What is checked is what a player would
see: every answer acknowledged, every new score shown on the answering player's socket, the question's
close reaching every player, every fan-out frame delivered; and that the result files hold the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.answer_cost import measure as answer_cost
from bench.answer_cost import parse_args as answer_cost_args
from bench.quiz_load.cli import measure, parse_args
from bench.quiz_load.live import run_loop
from bench.quiz_load.report import machine, summary, table, write_results
from bench.quiz_load.scenario import ScenarioRun, Target
from bench.quiz_load.seeding import BenchSeeder
from tests.e2e.conftest import Product

pytestmark = pytest.mark.e2e

SCENARIO_FIELDS = (
    "joined", "join_phase_s", "answers", "timed", "unchanged", "failed", "missed", "refused_in_time", "ack_p50_ms", "ack_p99_ms",
    "board_p50_ms", "board_p90_ms", "board_p99_ms", "board_max_ms", "close_p50_ms", "close_p99_ms", "frames_per_connection_per_s",
    "by_question", "fanout", "answers_detail",
)  # fmt: skip


def test_five_players_one_question(product: Product, tmp_path: Path) -> None:
    args = parse_args(["--players", "5", "--questions", "1", "--spread", "1", "--seed", "7", "--fanout-frames", "5", "--warmup", "2",
                       "--results", str(tmp_path), "--no-progress", "--time-limit", "240", "--quiet-wait", "60"])  # fmt: skip
    runs: list[ScenarioRun] = []
    document: dict[str, Any] = {"settings": {"players": [5]}, "machine": machine()}
    measure(args, Target(product.base_url, product.pid, product.log), product.database_url, product.keys, runs, document)
    (run,) = runs
    figures = summary(run)

    assert run.completed, figures["stopped_by"]
    assert (figures["joined"], figures["answers"], figures["failed"]) == (5, 5, 0)
    assert (figures["no_reply"], figures["no_reply_in_time"], figures["no_reply_recorded"]) == (0, 0, 0), "every answer got its reply"
    assert figures["timed"] >= 1 and figures["timed"] + figures["unchanged"] == 5, "each answer was either right (timed) or wrong"
    assert figures["missed"] == 0, "every new score showed on the answering player's socket"
    assert all(r.t_board is not None for r in run.records if r.points > 0)
    assert (figures["close_missing"], len(run.close_delays_ms[1])) == (0, 5), "question_closed reached every player"
    for probe in ("ceiling", "product"):
        fan = figures["fanout"][probe]
        assert fan["received"] == fan["expected"] == 5 * 5, probe
        assert "machine" in fan["cpu_us_per_frame"], "CPU per frame delivered, read from /proc, beside the rate"
    sent = figures["fanout"]["product"]
    assert (sent["gone"], sent["send_s"] is not None) == (0, True), "the product's adapter, in a process of its own, posted every frame"

    paths = write_results(runs, document, tmp_path)
    written = json.loads(paths["json"].read_text())
    (scenario,) = written["scenarios"]
    for key in SCENARIO_FIELDS:
        assert key in scenario, key
    assert scenario["missed"] == 0 and scenario["board_p50_ms"] is not None and scenario["ack_p50_ms"] is not None
    assert scenario["fanout"]["ceiling"]["frames_per_s"] > 0 and scenario["fanout"]["product"]["frames_per_s"] > 0
    assert scenario["fanout"]["ratio"] is not None
    assert scenario["dropped_responses"] == {}, "the node's log was read: no response came after API Gateway's timeout"
    # The probe first waited for the quiz's answers to finish running; a 5-player quiz leaves none (the
    # whole machine's PostgreSQL counts, so another client of the server could delay it, up to --quiet-wait).
    quiet = scenario["fanout"]["quiet"]
    assert quiet["quiet"] is True and quiet["busy_cores"] < 0.1, quiet
    assert "once the functions and PostgreSQL were idle" in table([figures])
    assert written["seeding"]["accounts"] == 6 + 3, "5 players and a host, after a warm-up of 2 players and a host"
    assert written["warmup"]["completed"] and written["warmup"]["missed"] == 0
    assert written["machine"]["cpus"] and all(
        written[k]["uptime"] and len(written[k]["loadavg"]) == 3 for k in ("load_before", "load_after")
    )
    assert len(scenario["answers_detail"]) == 5
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "scenario" in table([figures])
    # Where the CPU went, read from /proc: the node under test and its functions' workers are told apart.
    per_answer, per_join = scenario["cpu_ms"]["per_answer"], scenario["cpu_ms"]["per_join"]
    assert per_answer["fn:answers"] > 0 and per_answer["emulator"] > 0 and per_answer["machine"] > 0
    assert per_join["fn:ws_connect"] > 0 and "CPU ms per answer" in table([figures])
    memory = scenario["emulator_memory"]  # the node's resident memory around the joins, read from /proc
    assert memory["rss_before_kib"] > 0 and memory["rss_after_kib"] > 0 and "emulator memory" in table([figures])


def test_the_lookup_of_answers_without_a_reply_reads_the_answers_table(product: Product) -> None:
    """What bench.quiz_load asks the database after a quiz about the answers that got no reply (the answers
    of the scenario above, whatever their quiz: here the lookup's own shape is what is checked)."""
    seeder = BenchSeeder(product.database_url, product.keys)
    try:
        (row,) = seeder._select("SELECT quiz_id, position, user_id::text AS user_id FROM answers ORDER BY answered_at DESC LIMIT %s", 1)
        recorded = seeder.recorded_answers([row["quiz_id"]])
    finally:
        seeder.close()
    assert (row["quiz_id"], row["position"], row["user_id"]) in recorded
    assert all(isinstance(q, str) and isinstance(n, int) and isinstance(u, str) for q, n, u in recorded)
    assert {q for q, _, _ in recorded} == {row["quiz_id"]}


def test_answer_cost_breaks_one_answer_down_by_component(product: Product) -> None:
    args = answer_cost_args(["--players", "6", "--room-size", "3", "--warmup", "2"])
    seeder = BenchSeeder(product.database_url, product.keys)
    try:
        figures = run_loop(answer_cost(args, Target(product.base_url, product.pid), seeder))
    finally:
        seeder.close()
    assert (figures["answers"], figures["quizzes"]) == (6, 3)
    assert figures["frames_pushed_per_answer"] > 0, "each answer reached its room"
    cpu = figures["cpu_ms_per_answer"]
    assert cpu["fn:answers"] > 0 and cpu["emulator"] > 0 and cpu["machine"] >= cpu["fn:answers"]
    ceiling = figures["ceiling"]  # the same path with no work in the function: documented pings
    assert ceiling["action"] == "ping" and ceiling["pings"] == 6 and ceiling["pings_per_s"] > 0
    assert "machine" in ceiling["cpu_ms_per_ping"] and ceiling["answers_per_s_over_pings_per_s"] > 0
