"""Product metrics as CloudWatch Embedded Metric Format (EMF) log lines.

A Lambda function's stdout goes to CloudWatch Logs, and CloudWatch turns a line in EMF into metrics with
no API call and no extra latency (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
CloudWatch_Embedded_Metric_Format_Specification.html). The emulator reads the same lines from its
workers' output and exports them at /metrics for Prometheus (local/emulator/metrics.py), so what the
leaderboard objective is watched with is the same in production and locally:

    Quiz / LeaderboardPushDelay   ms, per quiz in a batch: the oldest answer in it -> its frames pushed
    Quiz / ScoresApplied          count, score events a batch applied (answers reaching the board)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import IO

NAMESPACE = "Quiz"
MAX_VALUES = 100  # EMF's limit of values per metric in one line


def emf_line(
    metrics: Mapping[str, tuple[str, Sequence[float]]],
    dimensions: Mapping[str, str],
    *,
    namespace: str = NAMESPACE,
    timestamp_ms: int | None = None,
) -> str:
    """One EMF document: `metrics` maps a name to (CloudWatch unit, values); empty metrics are left out."""
    kept = {name: (unit, list(values)[-MAX_VALUES:]) for name, (unit, values) in metrics.items() if values}
    document: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [sorted(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (unit, _) in kept.items()],
                }
            ],
        },
        **dimensions,
    }
    for name, (_, values) in kept.items():
        document[name] = values[0] if len(values) == 1 else values
    return json.dumps(document, separators=(",", ":"))


def emit(metrics: Mapping[str, tuple[str, Sequence[float]]], *, out: IO[str] | None = None) -> None:
    """Write the metrics as one EMF line on stdout, with the function's name as the dimension."""
    if not any(values for _, values in metrics.values()):
        return
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    stream = out or sys.stdout
    stream.write(emf_line(metrics, {"Function": function}) + "\n")
    stream.flush()
