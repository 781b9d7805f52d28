"""The runtime-wide limit on Lambda workers initialising at once (local/emulator/runtime.py).

A reconnect storm that spawned every function's workers together would have each import take many
times longer on a small machine and pass Lambda's 10 s init limit; the gate queues cold starts instead,
first come, first served, invocations before background warming.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable

__all__ = ["InitGate", "InitTicket", "default_init_concurrency"]


def default_init_concurrency() -> int:
    """Workers that may import at once: one per CPU (imports are CPU-bound), at least 2."""
    return max(2, os.cpu_count() or 2)


class InitTicket:
    """One request for an init slot, queued until `InitGate` grants it."""

    __slots__ = ("granted", "urgent", "wake")

    def __init__(self, wake: Callable[[], None], urgent: bool) -> None:
        self.granted = False  # written under the gate's lock before `wake` runs; read under the waiter's own lock
        self.wake = wake
        self.urgent = urgent


class InitGate:
    """The runtime-wide limit on workers initialising at once, granted first come, first served.

    Invocations (urgent) go before background warming. A grant is handed to the next ticket directly and
    its `wake` is called with no lock of the gate held, so a pool may wait on its own condition: the gate
    never takes a pool's lock while holding its own."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = max(1, limit if limit is not None else default_init_concurrency())
        self._lock = threading.Lock()
        self._in_use = 0
        self._urgent: deque[InitTicket] = deque()
        self._background: deque[InitTicket] = deque()
        self.peak = 0  # the most slots ever held at once (never above `limit`)
        self.granted = 0
        self.queued = 0  # requests that had to wait

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._in_use

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._urgent) + len(self._background)

    def request(self, wake: Callable[[], None], *, urgent: bool = True) -> InitTicket:
        """A ticket, granted now if a slot is free and nobody queues before it; else `wake` runs at the grant."""
        ticket = InitTicket(wake, urgent)
        with self._lock:
            ahead = self._urgent if urgent else (self._urgent or self._background)
            if self._in_use < self.limit and not ahead:
                self._grant(ticket)
            else:
                (self._urgent if urgent else self._background).append(ticket)
                self.queued += 1
        return ticket

    def acquire(self, *, urgent: bool = False, cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Wait for a slot (for callers with no lock of their own to wait on); False if `cancelled()` turned true."""
        arrived = threading.Event()
        ticket = self.request(arrived.set, urgent=urgent)
        if ticket.granted:
            return True
        while not arrived.wait(0.2):
            if cancelled():
                self.withdraw(ticket)  # a grant that raced in is passed on
                return False
        return True

    def withdraw(self, ticket: InitTicket) -> None:
        """The ticket is not needed any more (an idle worker turned up); a slot it was granted meanwhile goes on.
        Never called with a pool's lock held: passing a slot on wakes another pool."""
        with self._lock:
            if not ticket.granted:
                for queue in (self._urgent, self._background):
                    with contextlib.suppress(ValueError):
                        queue.remove(ticket)
                return
        self.release()

    def release(self) -> None:
        """Give a slot back: the next queued ticket gets it."""
        with self._lock:
            self._in_use -= 1
            woken = []
            while self._in_use < self.limit and (self._urgent or self._background):
                ticket = (self._urgent or self._background).popleft()
                self._grant(ticket)
                woken.append(ticket)
        for ticket in woken:
            ticket.wake()

    def _grant(self, ticket: InitTicket) -> None:
        ticket.granted = True
        self._in_use += 1
        self.granted += 1
        self.peak = max(self.peak, self._in_use)
