"""GET /metrics of a running emulator: what a Prometheus scrape sees after real HTTP and WebSocket traffic,
and every metric the Grafana dashboard queries is one the emulator exports."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.emulator.harness import RunningEmulator, start_emulator
from tests.support import Samples, dashboard_queries, exported_names, metric_names_in, samples, value
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with start_emulator(tmp_path_factory.mktemp("metrics")) as running:
        yield running


def scrape(emu: RunningEmulator) -> str:
    reply = httpx.get(emu.url + "/metrics", timeout=20)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return reply.text


def test_an_http_invocation_an_error_and_a_404_are_counted(emu: RunningEmulator) -> None:
    before = samples(scrape(emu))
    with httpx.Client(base_url=emu.url, timeout=20) as http:
        assert http.get("/echo/metrics").status_code == 200
        assert http.get("/shapes/raise").status_code == 500
        assert http.get("/no/such/route").status_code == 404
    after = samples(scrape(emu))

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("emulator_http_requests_total", route="GET /echo/{name}", status="200") == 1
    assert grew("emulator_http_requests_total", route="ANY /shapes/{kind}", status="500") == 1
    assert grew("emulator_http_requests_total", route="none", status="404") == 1
    assert grew("emulator_lambda_invocations_total", function="HttpFunction", outcome="ok") >= 1
    assert grew("emulator_lambda_invocations_total", function="HttpFunction", outcome="error") == 1
    assert grew("emulator_lambda_invocation_duration_seconds_count", function="HttpFunction") >= 2
    assert value(after, "emulator_lambda_cold_starts_total", function="HttpFunction") >= 1


def test_websocket_connects_messages_and_disconnects_are_counted(emu: RunningEmulator) -> None:
    before = samples(scrape(emu))
    with connect(emu.ws_url + "?token=allow:metrics") as ws:
        ws.send(json.dumps({"action": "echo"}))
        assert json.loads(ws.recv(timeout=20))["route"] == "echo"
        during = samples(scrape(emu))
    with pytest.raises(InvalidStatus):
        connect(emu.ws_url + "?token=deny").close()

    assert value(during, "emulator_websocket_connections_open") >= 1
    assert (
        value(during, "emulator_websocket_connects_total", result="accepted")
        - value(before, "emulator_websocket_connects_total", result="accepted")
        == 1
    )
    assert (
        value(during, "emulator_websocket_messages_total", route="echo") - value(before, "emulator_websocket_messages_total", route="echo")
        == 1
    )

    def disconnects(found: Samples) -> float:
        return sum(v for (name, _), v in found.items() if name == "emulator_websocket_disconnects_total")

    def counted() -> Samples | None:
        found = samples(scrape(emu))
        return found if disconnects(found) > disconnects(before) else None

    # $disconnect runs after the close; wait for it, never for a duration
    after = eventually(counted, 20, "the disconnect to be counted", interval=0.1)
    assert (
        value(after, "emulator_websocket_connects_total", result="403") - value(before, "emulator_websocket_connects_total", result="403")
        == 1
    )


def test_management_posts_count_delivered_and_gone_connections(emu: RunningEmulator) -> None:
    with connect(emu.ws_url + "?token=allow:pushed") as ws:
        ws.send(json.dumps({"action": "echo"}))
        cid = json.loads(ws.recv(timeout=20))["event"]["requestContext"]["connectionId"]
        before = samples(scrape(emu))
        with httpx.Client(base_url=emu.url, timeout=20) as http:
            assert http.post(f"/@connections/{cid}", content=b"one").status_code == 200
            assert http.post("/@connections/NoSuchConnection", content=b"x").status_code == 410
            batch = http.post("/@connections", json={"connectionIds": [cid, "Gone1", "Gone2"], "data": "many"})
            assert batch.json() == {"delivered": 1, "gone": ["Gone1", "Gone2"]}
        assert ws.recv(timeout=20) == "one" and ws.recv(timeout=20) == "many"
    after = samples(scrape(emu))

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("emulator_management_posts_total", api="post_to_connection", outcome="delivered") == 1
    assert grew("emulator_management_posts_total", api="post_to_connection", outcome="gone") == 1
    assert grew("emulator_management_posts_total", api="batch", outcome="delivered") == 1
    assert grew("emulator_management_posts_total", api="batch", outcome="gone") == 2
    assert grew("emulator_management_batch_connection_ids_count") == 1
    assert grew("emulator_management_batch_connection_ids_sum") == 3


# ---------------------------------------------------------------------------- the dashboard


def test_metric_name_extraction_sees_through_promql() -> None:
    expr = 'histogram_quantile(0.95, sum by (function, le) (rate(emulator_x_bucket{function="LeaderboardFunction"}[5m]))) / ignoring (a) foo_total'
    assert metric_names_in(expr) == {"emulator_x_bucket", "foo_total"}


def test_every_metric_the_dashboard_queries_is_exported(emu: RunningEmulator) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 10
    exported = exported_names(scrape(emu))
    referenced = set().union(*(metric_names_in(q) for q in queries))
    assert referenced, "the dashboard queries nothing"
    # Not the emulator's own: recording rules (`level:metric:op`, computed by Prometheus from
    # local/observability/alerts.yml) and the product's EMF metrics (`quiz_*`, test_product_metrics.py).
    missing = sorted(n for n in referenced - exported if ":" not in n and not n.startswith("quiz_"))
    assert not missing, f"the dashboard queries metrics the emulator does not export: {missing}"
    # what the dashboard is for: each of these is on it
    for name in (
        "emulator_lambda_invocations_total",
        "emulator_lambda_invocation_duration_seconds_bucket",
        "emulator_websocket_connections_open",
        "emulator_kafka_lag_records",
        "emulator_kafka_batch_records_bucket",
        "emulator_kafka_record_delay_seconds_bucket",
    ):
        assert name in referenced
