"""The one way a test waits: for a condition, with a bound, and saying what it waited for.

A fixed sleep either wastes time or flakes on a busy machine; a hand-written deadline loop repeats the
same few lines with a different failure message each time. ``eventually`` polls a predicate until it
returns something truthy (which it returns, so a wait can also fetch what it waited for) and fails the
test naming ``what`` when the timeout passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 30.0


def eventually(
    predicate: Callable[[], T | None],
    timeout: float = DEFAULT_TIMEOUT_S,
    what: str = "the condition",
    *,
    interval: float = 0.05,
    ignoring: tuple[type[BaseException], ...] = (),
    details: Callable[[], str] | None = None,
) -> T:
    """Call ``predicate`` until it returns a truthy value, and return that value.

    ``ignoring``: exceptions that mean "not yet" (a server still starting refuses connections), retried like
    a falsy result; the last one is shown if the wait times out. ``details`` adds context to the failure
    (a log tail, the last value seen). The predicate is always tried once more after the deadline, so a
    slow first call cannot make a wait fail without a last look.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        expired = time.monotonic() >= deadline
        try:
            result = predicate()
        except ignoring as exc:
            last_error = exc
        else:
            if result:
                return result
        if expired:
            message = f"timed out after {timeout:g} s waiting for {what}"
            if last_error is not None:
                message += f" (last error: {last_error!r})"
            if details is not None:
                message += f":\n{details()}"
            raise AssertionError(message)
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
