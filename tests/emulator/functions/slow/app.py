"""Test handler with Timeout: 1 -- sleeps as long as asked; reports its process so a cold start shows."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

CALLS = 0


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global CALLS
    CALLS += 1
    time.sleep(float(event["pathParameters"]["seconds"]))
    if event.get("routeKey", "").startswith("GET /hurried/") and os.environ.get("EVENT_LOG_DIR"):
        # Past the route's integration timeout: proof that the invocation ran to its end all the same.
        done = Path(os.environ["EVENT_LOG_DIR"]) / f"hurried-http-{event['requestContext']['requestId']}.json"
        done.write_text(json.dumps(event))
    return {"pid": os.getpid(), "calls": CALLS, "remaining_ms": context.get_remaining_time_in_millis()}
