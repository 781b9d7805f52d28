"""Test handler with Timeout: 1 -- sleeps as long as asked; reports its process so a cold start shows."""

from __future__ import annotations

import os
import time
from typing import Any

CALLS = 0


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global CALLS
    CALLS += 1
    time.sleep(float(event["pathParameters"]["seconds"]))
    return {"pid": os.getpid(), "calls": CALLS, "remaining_ms": context.get_remaining_time_in_millis()}
