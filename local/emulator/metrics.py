"""Prometheus metrics of one emulator node, served at GET /metrics.

What the node itself observes, in the roles it plays (Lambda, API Gateway, the Kafka event source mapping).
The functions run in separate worker processes and export nothing here; their spans are traces
(`quiz.observability`). Each `EmulatorMetrics` has its own registry, so several nodes in one process
(the tests) never collide.

    emulator_lambda_invocations_total{function,outcome}        outcome: ok | error | timeout
    emulator_lambda_invocation_duration_seconds{function}      as the caller waits: queueing for a worker
                                                               and a cold start's init included
    emulator_lambda_cold_starts_total{function}                workers started (read from the pools)
    emulator_lambda_warm_workers{function}                     idle workers
    emulator_http_requests_total{route,status}                 HTTP API; route is the template's route key,
                                                               "none" when no route matched (404)
    emulator_websocket_connections_open                        sockets this node holds
    emulator_websocket_connects_total{result}                  accepted, or the rejecting status (401, 403, 500)
    emulator_websocket_disconnects_total{code}                 close code reported to $disconnect
    emulator_websocket_messages_total{route}                   inbound frames by selected route ("none": no route)
    emulator_management_posts_total{api,outcome}               api: post_to_connection | batch; outcome:
                                                               delivered | gone, one per connection, counted
                                                               on the node that owns it (or decides it is gone)
    emulator_management_batch_connection_ids                   connection ids per batch-extension call (histogram)
    emulator_kafka_mapping_state{function,state}               1 for the mapping's current state
    emulator_kafka_*_total{function}                           the mapping's counters (batches, records, errors,
                                                               retries, commits, rebalances ...)
    emulator_kafka_lag_records{function}                       records behind the high watermark, last poll
    emulator_kafka_last_batch_size{function}                   records in the last batch
    emulator_kafka_assigned_partitions{function}
    emulator_kafka_batch_records{function}                     records per successful batch invocation (histogram)
    emulator_kafka_record_delay_seconds{function}              a record's Kafka timestamp (CREATE_TIME: when the
                                                               producer sent it) to the end of the invocation that
                                                               processed it successfully (histogram)

The functions' own metrics arrive as CloudWatch Embedded Metric Format lines in their log output (as on AWS,
where CloudWatch reads them; quiz/metrics.py writes them). The node turns each into Prometheus series:
a metric in Milliseconds becomes a histogram `<namespace>_<name>_seconds`, any other unit a counter
`<namespace>_<name>_total`, labelled by the line's dimensions in lower case:

    quiz_leaderboard_push_delay_seconds{function}  per quiz in a leaderboard batch: its oldest answer
                                                   (reached_at) -> its frames posted (histogram)
    quiz_scores_applied_total{function}            score events applied to the boards

For LeaderboardFunction the Kafka record delay is the leaderboard delay: the Quiz service sends the score event just
after the answer commits, and the leaderboard frames are posted to the management API before the
invocation returns, so it spans publish -> Kafka -> batching window -> apply -> push. It leaves out the
answer handler's own time before the publish and the final WebSocket write (queued, immediate), and a
record republished by the outbox relay is timed from the republish.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INVOCATION_OUTCOMES = ("ok", "error", "timeout")
DELAY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 10000)

MAPPING_STATES = ("created", "connecting", "running", "retrying", "stopped", "failed")
# KafkaEventSourceMapping.metrics() fields -> exported name (counters get _total) and help text.
KAFKA_COUNTERS = {
    "polls": "polls of the consumer",
    "batches_invoked": "batch invocations, retries included",
    "batches_succeeded": "batches the function processed",
    "records_processed": "records of successful batches",
    "invoke_errors": "failed batch invocations",
    "retries": "batch retries",
    "batches_to_destination": "batches sent to the on-failure destination",
    "records_to_destination": "records sent to the on-failure destination",
    "records_discarded": "records given up with no destination",
    "destination_errors": "failures to write to the on-failure destination",
    "commits": "offset commits",
    "commit_errors": "failed offset commits",
    "batches_abandoned": "failing batches left uncommitted on stop or rebalance",
    "rebalances": "partition revocations",
    "consumer_restarts": "consumers replaced after a join that never completed or a broker lost under a poll",
}
KAFKA_GAUGES = {
    "last_lag": ("lag_records", "records behind the high watermark over the assigned partitions, at the last poll"),
    "last_batch_size": ("last_batch_size", "records in the last batch invoked"),
    "assigned_partitions": ("assigned_partitions", "partitions assigned to the mapping's consumer"),
    "last_invoke_seconds": ("last_invoke_seconds", "duration of the last batch invocation"),
}

Invoke = Callable[[Any], Any]


class _RuntimeCollector(Collector):
    """Cold starts and warm workers, read from the runtime's pools at scrape time."""

    def __init__(self, pools: Callable[[], Iterable[tuple[str, Any]]]) -> None:
        self._pools = pools

    def collect(self) -> Iterator[Metric]:
        cold = CounterMetricFamily("emulator_lambda_cold_starts", "Workers started (Lambda cold starts)", labels=["function"])
        warm = GaugeMetricFamily("emulator_lambda_warm_workers", "Idle workers ready for an invocation", labels=["function"])
        for function_id, pool in self._pools():
            cold.add_metric([function_id], pool.cold_starts)
            warm.add_metric([function_id], pool.warm)
        yield cold
        yield warm


class _ValueCollector(Collector):
    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name, self._doc, self._read = name, documentation, read

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(self._name, self._doc, value=self._read())


class _KafkaCollector(Collector):
    """Each Kafka event source mapping's own counters (`KafkaEventSourceMapping.metrics()`), at scrape time."""

    def __init__(self, mappings: Callable[[], Iterable[Any]]) -> None:
        self._mappings = mappings

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("emulator_kafka_mapping_state", "1 for the mapping's current state", labels=["function", "state"])
        counters = {
            key: CounterMetricFamily(f"emulator_kafka_{key}", f"Kafka event source mapping: {doc}", labels=["function"])
            for key, doc in KAFKA_COUNTERS.items()
        }
        gauges = {
            key: GaugeMetricFamily(f"emulator_kafka_{name}", f"Kafka event source mapping: {doc}", labels=["function"])
            for key, (name, doc) in KAFKA_GAUGES.items()
        }
        for mapping in self._mappings():
            function_id = str(mapping.function_name)
            snapshot: Mapping[str, Any] = mapping.metrics()
            for name in MAPPING_STATES:
                state.add_metric([function_id, name], 1.0 if snapshot.get("state") == name else 0.0)
            for key, family in counters.items():
                family.add_metric([function_id], float(snapshot.get(key, 0)))
            for key, gauge in gauges.items():
                gauge.add_metric([function_id], float(snapshot.get(key, 0)))
        yield state
        yield from counters.values()
        yield from gauges.values()


class EmulatorMetrics:
    """The node's metrics; the components call the recording methods, the collectors read the rest."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.invocations = Counter("emulator_lambda_invocations", "Lambda invocations by outcome", ["function", "outcome"], registry=r)
        self.duration = Histogram(
            "emulator_lambda_invocation_duration_seconds",
            "Invocation duration as the caller waits (a cold start's init included)",
            ["function"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.http_requests = Counter("emulator_http_requests", "HTTP API requests by route key and status", ["route", "status"], registry=r)
        self.ws_connects = Counter(
            "emulator_websocket_connects", "WebSocket upgrades: accepted or the rejecting status", ["result"], registry=r
        )
        self.ws_disconnects = Counter("emulator_websocket_disconnects", "WebSocket disconnects by close code", ["code"], registry=r)
        self.ws_messages = Counter("emulator_websocket_messages", "Inbound WebSocket frames by selected route", ["route"], registry=r)
        self.management_posts = Counter(
            "emulator_management_posts", "Management API posts per connection: delivered or gone", ["api", "outcome"], registry=r
        )
        self.batch_ids = Histogram(
            "emulator_management_batch_connection_ids", "Connection ids per batch-extension call", buckets=BATCH_BUCKETS, registry=r
        )
        self.kafka_batch_records = Histogram(
            "emulator_kafka_batch_records", "Records per successful Kafka batch invocation", ["function"], buckets=BATCH_BUCKETS, registry=r
        )
        self.kafka_record_delay = Histogram(
            "emulator_kafka_record_delay_seconds",
            "From a record's Kafka timestamp to the end of the invocation that processed it",
            ["function"],
            buckets=DELAY_BUCKETS,
            registry=r,
        )

        self._emf: dict[tuple[object, str, tuple[str, ...]], Any] = {}
        # Label values -> child, so that a hot path (every invocation, every batch) skips labels()'s lock and checks.
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}

    def _child(self, metric: Counter | Histogram, *values: str) -> Any:
        key = (metric, values)
        child = self._children.get(key)
        if child is None:  # two threads may both get here: labels() returns the same child to both
            child = self._children[key] = metric.labels(*values)
        return child

    # ---- wiring (the composition root calls these once)

    def watch_runtime(self, pools: Callable[[], Iterable[tuple[str, Any]]]) -> None:
        self.registry.register(_RuntimeCollector(pools))
        # Every outcome of every function exported from the start at 0, so that an error ratio or an alert
        # reads 0 rather than "no data" until the first error (Prometheus's own advice).
        for function_id, _ in pools():
            for outcome in INVOCATION_OUTCOMES:
                self._child(self.invocations, function_id, outcome)

    def watch_connections(self, count: Callable[[], int]) -> None:
        self.registry.register(_ValueCollector("emulator_websocket_connections_open", "WebSocket connections this node holds", count))

    def watch_kafka(self, mappings: Callable[[], Iterable[Any]]) -> None:
        self.registry.register(_KafkaCollector(mappings))

    def timed_kafka_invoke(self, function_id: str, invoke: Invoke) -> Invoke:
        """Wrap a mapping's invoke: on success, observe the batch size and each record's delay."""

        def invoke_and_observe(event: Any) -> Any:
            result = invoke(event)
            now_ms = time.time() * 1000
            timestamps = [
                r["timestamp"]
                for records in (event.get("records") or {}).values()
                for r in records
                if isinstance(r.get("timestamp"), int | float) and r["timestamp"] > 0
            ]
            self.kafka_batch_records.labels(function_id).observe(sum(len(rs) for rs in (event.get("records") or {}).values()))
            delay = self.kafka_record_delay.labels(function_id)
            for ts in timestamps:
                delay.observe(max(0.0, (now_ms - ts) / 1000))
            return result

        return invoke_and_observe

    # ---- recording

    def invocation(self, function_id: str, outcome: str, seconds: float) -> None:
        self._child(self.invocations, function_id, outcome).inc()
        self._child(self.duration, function_id).observe(seconds)

    def http_request(self, route: str, status: int) -> None:
        self._child(self.http_requests, route, str(status)).inc()

    def ws_connect(self, result: str) -> None:
        self.ws_connects.labels(result).inc()

    def ws_disconnect(self, code: int) -> None:
        self.ws_disconnects.labels(str(code)).inc()

    def ws_message(self, route: str) -> None:
        self._child(self.ws_messages, route).inc()

    def posted(self, api: str, delivered: int = 0, gone: int = 0) -> None:
        if delivered:
            self._child(self.management_posts, api, "delivered").inc(delivered)
        if gone:
            self._child(self.management_posts, api, "gone").inc(gone)

    def batch_call(self, connection_ids: int) -> None:
        self.batch_ids.observe(connection_ids)

    def observe_emf(self, line: bytes | str) -> bool:
        """Record an Embedded Metric Format log line of a function; False when the line is not EMF."""
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        if not text.startswith('{"_aws"'):
            return False
        try:
            document = json.loads(text)
            directives = document["_aws"]["CloudWatchMetrics"]
            for directive in directives:
                namespace = _snake(str(directive["Namespace"]))
                dimensions = sorted({str(d) for group in directive.get("Dimensions", []) for d in group})
                labels = [d.lower() for d in dimensions]
                values = [str(document.get(d, "")) for d in dimensions]
                for metric in directive["Metrics"]:
                    name, unit = str(metric["Name"]), str(metric.get("Unit", "None"))
                    raw = document.get(name)
                    observed = [float(v) for v in (raw if isinstance(raw, list) else [raw])]
                    if unit == "Milliseconds":
                        histogram = self._emf_metric(Histogram, f"{namespace}_{_snake(name)}_seconds", labels)
                        child = self._child(histogram, *values) if labels else histogram
                        for v in observed:
                            child.observe(v / 1000)
                    else:
                        counter = self._emf_metric(Counter, f"{namespace}_{_snake(name)}", labels)
                        (self._child(counter, *values) if labels else counter).inc(sum(observed))
        except (ValueError, KeyError, TypeError):
            return False  # not a metric we can read: it stays an ordinary log line
        return True

    def _emf_metric(self, kind: type[Counter] | type[Histogram], name: str, labels: list[str]) -> Any:
        key = (kind, name, tuple(labels))
        found = self._emf.get(key)
        if found is None:
            extra: dict[str, Any] = {"buckets": DELAY_BUCKETS} if kind is Histogram else {}
            found = self._emf[key] = kind(
                name, f"{name} (Embedded Metric Format from the functions)", labels, registry=self.registry, **extra
            )
        return found

    # ---- exposition

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _snake(name: str) -> str:
    """LeaderboardPushDelay -> leaderboard_push_delay (a Prometheus name from a CloudWatch one)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).replace("-", "_").replace(".", "_").lower()
