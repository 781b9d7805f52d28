"""The test template's layer: proves that a layer's python/ directory is on every function's path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

LAYER_MARK = "emu-shared-layer"


def record(kind: str, event: dict[str, Any]) -> None:
    """Write the event where the test can read it (EVENT_LOG_DIR, set by the test's env-vars file)."""
    directory = os.environ.get("EVENT_LOG_DIR")
    if not directory:
        return
    connection_id = event["requestContext"]["connectionId"]
    path = Path(directory) / f"{kind}-{connection_id}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(event))
    tmp.replace(path)


def context_facts(context: Any) -> dict[str, Any]:
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "log_group_name": context.log_group_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
