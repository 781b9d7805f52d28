"""Test handler deployed twice (EnvAFunction, EnvBFunction) from one CodeUri with different environments."""

from __future__ import annotations

import os
import sys
from typing import Any

STARTED_AS = os.environ.get("PROBE_NAME")
CALLS = 0


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global CALLS
    CALLS += 1
    return {
        "probe": os.environ.get("PROBE_NAME"),
        "started_as": STARTED_AS,
        "only_a": os.environ.get("ONLY_A"),
        "probe_extra": os.environ.get("PROBE_EXTRA"),
        "shared_extra": os.environ.get("SHARED_EXTRA"),
        "greeting": os.environ.get("GREETING"),
        "pid": os.getpid(),
        "calls": CALLS,
        "path0": sys.path[0],
        "function_name": context.function_name,
    }
