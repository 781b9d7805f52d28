"""What the emulator says about a run: counters and histograms from its /metrics, taken before and after.

Every figure is the difference of two scrapes of the node's Prometheus text (local/emulator/metrics.py
documents the names), so an emulator that served other traffic before the run does not skew it:

    emulator_lambda_invocations_total{function,outcome}    invocations per function, errors apart
    emulator_lambda_invocation_duration_seconds{function}  as the caller waits (queueing included): mean, total
    emulator_management_posts_total{api="post_to_connection"}  PostToConnection calls, one per connection
    emulator_management_batch_connection_ids_count         calls of the batch extension
    emulator_kafka_record_delay_seconds{function}          score event produced -> leaderboard batch done
    quiz_leaderboard_push_delay_seconds{function}          a quiz's oldest answer -> its frames posted

The function's own execution time per invocation (the Duration of Lambda's REPORT line) has no
counterpart in /metrics, which keeps only histogram buckets; when the emulator's log is at hand, its
REPORT lines give those exact percentiles.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

# A sample's name and its labels, sorted; the value is what the node reported.
SampleKey = tuple[str, tuple[tuple[str, str], ...]]
Samples = dict[SampleKey, float]

LEADERBOARD = "LeaderboardFunction"
_REPORT = re.compile(r"emulator\.function\.(\w+): REPORT RequestId: \S+\s+Duration: ([\d.]+) ms")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 2)


def scrape(base_url: str, timeout_s: float = 10.0) -> Samples | None:
    """Every sample of the node's /metrics, or None when it cannot be read (the run is then reported without)."""
    try:
        text = httpx.get(f"{base_url}/metrics", timeout=timeout_s).text
    except httpx.HTTPError:
        return None
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return samples


def _total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a series over every label set that matches `labels`."""
    return sum(v for (n, have), v in samples.items() if n == name and all((k, want) in have for k, want in labels.items()))


def _delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return _total(after, name, **labels) - _total(before, name, **labels)


def _functions(before: Samples, after: Samples) -> list[str]:
    return sorted({dict(labels)["function"] for name, labels in after if name == "emulator_lambda_invocations_total"})


def histogram(before: Samples, after: Samples, name: str, **labels: str) -> dict[str, Any]:
    """Count and mean of a histogram over the run, with p50/p90 as the bucket bound they fall under
    (a histogram keeps no single values; "p50_le_ms": 250 means half were at most 250 ms)."""
    count = _delta(before, after, f"{name}_count", **labels)
    if count <= 0:
        return {"count": 0}
    total = _delta(before, after, f"{name}_sum", **labels)
    bounds = sorted(
        {dict(have)["le"] for n, have in after if n == f"{name}_bucket" and all((k, v) in have for k, v in labels.items())},
        key=float,
    )
    cumulative = [(float(le), _delta(before, after, f"{name}_bucket", **labels, le=le)) for le in bounds]

    def bound_ms(q: float) -> float | None:
        for le, seen in cumulative:
            if seen >= q * count:
                return None if math.isinf(le) else round(le * 1000, 1)
        return None

    return {"count": int(count), "mean_ms": round(total / count * 1000, 1), "p50_le_ms": bound_ms(0.5), "p90_le_ms": bound_ms(0.9)}


def report_durations(log_path: Path | None, offset: int) -> dict[str, list[float]]:
    """The Duration of each REPORT line the log gained since `offset`, per function (ms)."""
    if log_path is None or not log_path.exists():
        return {}
    with log_path.open("rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    durations: dict[str, list[float]] = {}
    for name, ms in _REPORT.findall(text):
        durations.setdefault(name, []).append(float(ms))
    return durations


def server_evidence(before: Samples | None, after: Samples | None, durations: Mapping[str, list[float]] | None = None) -> dict[str, Any]:
    """Leaderboard invocations, management API calls and the server-side delays of one run."""
    if before is None or after is None:
        return {}
    durations = durations or {}
    functions: dict[str, dict[str, Any]] = {}
    for name in _functions(before, after):
        invocations = int(_delta(before, after, "emulator_lambda_invocations_total", function=name))
        if invocations <= 0:
            continue
        waited = _delta(before, after, "emulator_lambda_invocation_duration_seconds_sum", function=name)
        entry: dict[str, Any] = {
            "invocations": invocations,
            "errors": int(invocations - _delta(before, after, "emulator_lambda_invocations_total", function=name, outcome="ok")),
            "wait_mean_ms": round(waited / invocations * 1000, 2),
            "wait_total_s": round(waited, 2),
        }
        own = durations.get(name)
        if own:
            entry |= {"p50_ms": percentile(own, 50), "p90_ms": percentile(own, 90), "max_ms": round(max(own), 2),
                      "total_s": round(sum(own) / 1000, 2)}  # fmt: skip
        functions[name] = entry
    batches = functions.get(LEADERBOARD, {}).get("invocations", 0)
    posts = int(_delta(before, after, "emulator_management_posts_total", api="post_to_connection"))
    return {
        "functions": functions,
        "management_posts_per_connection": posts,
        "management_batch_posts": int(_delta(before, after, "emulator_management_batch_connection_ids_count")),
        "management_posts_per_leaderboard_batch": round(posts / batches, 1) if batches else None,
        "leaderboard_record_delay": histogram(before, after, "emulator_kafka_record_delay_seconds", function=LEADERBOARD),
        "leaderboard_push_delay": histogram(before, after, "quiz_leaderboard_push_delay_seconds", function=LEADERBOARD),
    }


def delivery_probe(base_url: str, redis_url: str | None, quiz_id: str) -> dict[str, Any]:
    """Time the shapes of fan-out to this quiz's connections, with the product idle: a PostToConnection
    per connection on 16 threads (how the adapter sends the leaderboard frame), one after another (how
    it sends `your_rank` frames, one player at a time), and one call of the batch extension."""
    import boto3  # only needed for the probe
    import redis
    from botocore.config import Config

    r = redis.Redis.from_url(redis_url or "", decode_responses=True)
    try:
        ids = [str(k) for k in r.hkeys(f"quiz:{quiz_id}:connections")]
    finally:
        r.close()
    if not ids:
        return {}
    endpoint = f"{base_url}/test"
    client = boto3.client(
        "apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench",
        config=Config(max_pool_connections=16, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10),
    )  # fmt: skip
    data = json.dumps({"type": "bench_probe", "quiz_id": quiz_id}).encode()

    def post(cid: str) -> None:
        with contextlib.suppress(Exception):
            client.post_to_connection(ConnectionId=cid, Data=data)

    post(ids[0])  # warm the client
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(post, ids))
    parallel = time.monotonic() - started
    started = time.monotonic()
    for cid in ids:
        post(cid)
    sequential = time.monotonic() - started
    started = time.monotonic()
    reply = httpx.post(f"{endpoint}/@connections", json={"connectionIds": ids, "data": data.decode()}, timeout=10)
    batch = time.monotonic() - started
    client.close()
    return {
        "connections": len(ids),
        "per_connection_16_threads_ms": round(parallel * 1000, 1),
        "per_connection_sequential_ms": round(sequential * 1000, 1),
        "batch_extension_ms": round(batch * 1000, 1),
        "batch_extension_status": reply.status_code,
    }
