"""Test handler for cold-start storms: its import is slow and leaves a trace, so a test can count how many
workers of all functions were initialising at the same moment.

At import it appends "+ <pid>" to INIT_LOG, sleeps INIT_SLEEP_S (an import that costs CPU time, in effect),
waits while INIT_HOLD_FILE names a file that does not exist yet (a test keeps an init slot taken), then
appends "- <pid>". Each line is one O_APPEND write, so the file's order is the order the events happened.
The handler waits for `event["wait_for"]` (a path) when given, then returns its pid and call count."""

from __future__ import annotations

import os
import time
from typing import Any


def _trace(mark: str) -> None:
    path = os.environ.get("INIT_LOG")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{mark} {os.getpid()} {os.environ['AWS_LAMBDA_FUNCTION_NAME']}\n".encode())
        finally:
            os.close(fd)


def _wait_for(path: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)


_trace("+")
time.sleep(float(os.environ.get("INIT_SLEEP_S") or 0))
if os.environ.get("INIT_HOLD_FILE"):
    _wait_for(os.environ["INIT_HOLD_FILE"])
_trace("-")

CALLS = 0


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global CALLS
    CALLS += 1
    if event.get("wait_for"):
        _wait_for(str(event["wait_for"]))
    return {"pid": os.getpid(), "calls": CALLS, "function": context.function_name}
