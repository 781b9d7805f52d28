"""The dashboard and the alert rules meet a real Prometheus: after a short quiz on the product, every PromQL
expression of the Grafana dashboard and of local/observability/alerts.yml returns data from Prometheus's
HTTP API. The Prometheus is this test's own (the Debian binary on a free port, scraping the test product
every second, the project's rule file loaded), so the check does not depend on `make run`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
import yaml

from clients.quiz_client import QuizClient
from local.stack import REPO
from tests.e2e.conftest import Product
from tests.prometheus_support import Prometheus, running_prometheus
from tests.support import dashboard_queries, one_live_answer

pytestmark = pytest.mark.e2e

RULES = REPO / "local" / "observability" / "alerts.yml"
# A comparison with a number at the end of an alert's expression: what is left is the quantity it watches.
THRESHOLD = re.compile(r"\s*(>|<|>=|<=|==|!=)\s*[0-9.]+\s*$")


@pytest.fixture(scope="module")
def prometheus(product: Product, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "quiz-emulator",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [product.base_url.removeprefix("http://")]}],
            }
        ],
    }
    with running_prometheus(config, tmp_path_factory.mktemp("prometheus")) as running:
        yield running


def rule_expressions() -> list[tuple[str, str]]:
    """(rule name, expression to check) for every rule; an alert is checked without its threshold, each
    side of an `and` on its own, since a healthy quiz must not fire it but must feed it."""
    found: list[tuple[str, str]] = []
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            if "record" in rule:
                found.append((name, rule["record"]))
                continue
            for side in str(rule["expr"]).split(" and "):
                found.append((name, THRESHOLD.sub("", side.strip())))
    return found


def test_threshold_stripping_keeps_the_watched_quantity() -> None:
    assert THRESHOLD.sub("", "quiz:leaderboard_delay_seconds:p99_5m > 0.25") == "quiz:leaderboard_delay_seconds:p99_5m"
    assert THRESHOLD.sub("", "(sum(x) or vector(0)) > 10") == "(sum(x) or vector(0))"
    names = {name for name, _ in rule_expressions()}
    assert {"LeaderboardPushSlow", "KafkaConsumerLagGrowing", "HttpServerErrors", "HandlerTimeouts", "quiz:answers:rate1m"} <= names


def test_every_dashboard_and_rule_expression_returns_data_after_a_short_quiz(
    product: Product, prometheus: Prometheus, player: Callable[[str], QuizClient]
) -> None:
    host = player("Host")
    quiz_id, live = one_live_answer(host, player("Ana"))
    host.call("GET", f"/quizzes/{quiz_id}/leaderboard")  # an HTTP request too
    live.close()  # and a player leaving

    expressions = [(f"dashboard: {q}", q) for q in dashboard_queries()] + [(f"rule {n}: {q}", q) for n, q in rule_expressions()]
    assert len(expressions) >= 30
    empty = [label for label, expr in expressions if not prometheus.eventually_has_data(expr)]
    assert not empty, "no data from the local Prometheus for:\n" + "\n".join(empty)
