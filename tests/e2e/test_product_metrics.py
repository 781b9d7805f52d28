"""The product's /metrics after a live answer: the Kafka mapping and the leaderboard delay are measured,
and the dashboard's queries all name series this real scrape has."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from clients.quiz_client import QuizClient
from tests.e2e.conftest import Product
from tests.support import Samples, dashboard_queries, exported_names, metric_names_in, one_live_answer, samples, value
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


def test_a_live_answer_shows_up_in_the_kafka_and_leaderboard_delay_metrics(product: Product, player: Callable[[str], QuizClient]) -> None:
    _, live = one_live_answer(player("Host"), player("Ana"))

    def delay_observed() -> tuple[str, Samples] | None:
        text = httpx.get(product.base_url + "/metrics", timeout=20).text
        found = samples(text)
        return (text, found) if value(found, "emulator_kafka_record_delay_seconds_count", function="LeaderboardFunction") > 0 else None

    # the frame is pushed before the invocation ends; wait for its end, never for a duration
    text, found = eventually(delay_observed, 20, "a leaderboard delay to be observed", interval=0.2)

    assert value(found, "emulator_websocket_connections_open") >= 1
    assert value(found, "emulator_lambda_invocations_total", function="WsAnswerFunction", outcome="ok") >= 1
    assert value(found, "emulator_lambda_invocations_total", function="LeaderboardFunction", outcome="ok") >= 1
    assert value(found, "emulator_kafka_batches_succeeded_total", function="LeaderboardFunction") >= 1
    assert value(found, "emulator_kafka_records_processed_total", function="LeaderboardFunction") >= 2  # the join and the answer
    assert value(found, "emulator_kafka_mapping_state", function="LeaderboardFunction", state="running") == 1
    assert value(found, "emulator_kafka_batch_records_count", function="LeaderboardFunction") >= 1
    assert value(found, "emulator_management_posts_total", api="batch", outcome="delivered") >= 1, "the batch extension delivered frames"
    live.close()

    assert value(found, "quiz_scores_applied_total", function="LeaderboardFunction") >= 1, "the function's EMF metrics reach /metrics"
    assert value(found, "quiz_leaderboard_push_delay_seconds_count", function="LeaderboardFunction") >= 1

    # Recording rules (`level:metric:operation`) are Prometheus's own series, from local/observability/alerts.yml.
    queried = set().union(*(metric_names_in(q) for q in dashboard_queries()))
    missing = {name for name in queried if ":" not in name} - exported_names(text)
    assert not missing, f"the dashboard queries series the product does not export: {sorted(missing)}"
