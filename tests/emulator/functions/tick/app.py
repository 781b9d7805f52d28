"""Test scheduled handler: records each invocation's event under EVENT_LOG_DIR as tick-<name>.json."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    name = event.get("name") or event.get("detail-type", "event").replace(" ", "-")
    record = {"event": event, "received_at": time.time()}
    Path(os.environ["EVENT_LOG_DIR"], f"tick-{name}.json").write_text(json.dumps(record))
    return {"ok": True}
