"""How long one invocation may wait for a dependency, from the time the Lambda runtime has left it.

Clients are built once per container, so a per-call budget applies only where a call takes a timeout:
the PostgreSQL pool's wait for a connection (`quiz.db`). Redis' socket timeouts are fixed and small
(`quiz.redis_client`). The handler wrappers open `invocation(context)`; the pool reads `wait_seconds()`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# The longest wait for a pooled connection: a dependency that has not answered by then is down for this
# request, and a prompt 503 with Retry-After serves the client better than holding the request.
MAX_WAIT_S = 2.0
# Never below this, or a nearly spent invocation could not even take an idle connection.
MIN_WAIT_S = 0.05
# Left to the invocation after the wait: the statement itself, the response, the span's flush.
RESERVE_MS = 1500

_ends_at: ContextVar[float | None] = ContextVar("quiz_invocation_ends_at", default=None)  # time.monotonic()


def wait_budget(remaining_ms: int | None, *, ceiling_s: float = MAX_WAIT_S, reserve_ms: int = RESERVE_MS) -> float:
    """Seconds to wait for a dependency given the invocation's remaining time (None: unknown, the ceiling)."""
    if remaining_ms is None:
        return ceiling_s
    return max(MIN_WAIT_S, min(ceiling_s, (remaining_ms - reserve_ms) / 1000))


def remaining_ms(context: Any) -> int | None:
    """`context.get_remaining_time_in_millis()`, or None for a context without it (a test's None)."""
    get = getattr(context, "get_remaining_time_in_millis", None)
    if get is None:
        return None
    try:
        return int(get())
    except (TypeError, ValueError):
        return None


@contextmanager
def invocation(context: Any) -> Iterator[None]:
    """Within this block, waits for dependencies end before the function's own timeout would."""
    left = remaining_ms(context)
    token = _ends_at.set(None if left is None else time.monotonic() + left / 1000)
    try:
        yield
    finally:
        _ends_at.reset(token)


def wait_seconds(ceiling_s: float = MAX_WAIT_S) -> float:
    """The wait allowed now: `wait_budget` of what is left of the current invocation (outside one: the ceiling)."""
    ends_at = _ends_at.get()
    left = None if ends_at is None else int((ends_at - time.monotonic()) * 1000)
    return wait_budget(left, ceiling_s=ceiling_s)
