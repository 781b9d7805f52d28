"""When a request reached the API: API Gateway's own stamp, set on receipt before any queueing.

Only ``requestContext`` is read: API Gateway writes it, a client cannot. Nothing from the body or the
headers is ever taken as a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# A plausible epoch in milliseconds: 2001-09-09 .. 2286-11-20. Anything else (seconds, garbage) is not
# a gateway stamp.
_EPOCH_MS = (1_000_000_000_000, 10_000_000_000_000)


def received_at(event: Mapping[str, Any]) -> datetime | None:
    """The request's arrival time from an API Gateway event, or None when it carries no usable stamp
    (the caller then falls back to the database's clock).

    HTTP API payload 2.0 sends ``requestContext.timeEpoch``; WebSocket and REST / payload 1.0 send
    ``requestContext.requestTimeEpoch``; both in milliseconds."""
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return None
    for name in ("timeEpoch", "requestTimeEpoch"):
        value = context.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and _EPOCH_MS[0] <= value < _EPOCH_MS[1]:
            seconds, ms = divmod(value, 1000)
            return datetime.fromtimestamp(seconds, UTC).replace(microsecond=ms * 1000)
    return None
