"""The emulator runtime's init gate: how many workers may initialise at once, and who goes next."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from local.emulator.init_gate import InitGate, default_init_concurrency


def _until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_default_limit_is_the_cpu_count_and_at_least_two() -> None:
    assert default_init_concurrency() >= 2
    assert InitGate().limit == default_init_concurrency()
    assert InitGate(0).limit == 1, "a gate always lets one through"


def test_slots_are_granted_up_to_the_limit_then_queued_in_order() -> None:
    gate = InitGate(2)
    woken: list[str] = []
    tickets = {name: gate.request(lambda n=name: woken.append(n)) for name in "abcde"}  # type: ignore[misc]
    assert [n for n, t in tickets.items() if t.granted] == ["a", "b"]
    assert gate.in_use == 2 and gate.waiting == 3 and gate.queued == 3
    gate.release()
    assert woken == ["c"] and tickets["c"].granted and not tickets["d"].granted
    gate.release()
    gate.release()
    assert woken == ["c", "d", "e"]
    assert gate.in_use == 2 and gate.peak == 2, "never more than the limit at once"
    for _ in range(2):
        gate.release()
    assert gate.in_use == 0 and gate.granted == 5


def test_invocations_go_before_background_warming() -> None:
    gate = InitGate(1)
    woken: list[str] = []
    first = gate.request(lambda: woken.append("first"))
    assert first.granted
    gate.request(lambda: woken.append("warm"), urgent=False)
    gate.request(lambda: woken.append("invoke"), urgent=True)
    gate.release()
    assert woken == ["invoke"]
    gate.release()
    assert woken == ["invoke", "warm"]


def test_background_warming_does_not_overtake_a_queued_invocation() -> None:
    gate = InitGate(1)
    gate.request(lambda: None)
    gate.request(lambda: None, urgent=True)  # queued
    gate.release()  # the invocation gets the slot
    late = gate.request(lambda: None, urgent=False)
    assert not late.granted


def test_a_withdrawn_ticket_leaves_the_queue_and_a_grant_it_got_meanwhile_passes_on() -> None:
    gate = InitGate(1)
    woken: list[str] = []
    gate.request(lambda: woken.append("holder"))
    waiting = gate.request(lambda: woken.append("waiting"))
    after = gate.request(lambda: woken.append("after"))
    gate.withdraw(waiting)  # an idle worker turned up: it leaves the queue
    gate.release()
    assert woken == ["after"] and after.granted and not waiting.granted

    raced = gate.request(lambda: woken.append("raced"))
    gate.release()  # granted to `raced`...
    assert raced.granted
    last = gate.request(lambda: woken.append("last"))
    gate.withdraw(raced)  # ...which no longer needs it: the slot goes on
    assert last.granted and woken[-1] == "last" and gate.in_use == 1


def test_acquire_waits_for_a_slot_and_can_be_cancelled() -> None:
    gate = InitGate(1)
    holder = gate.request(lambda: None)
    assert holder.granted
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(gate.acquire()))
    waiter.start()
    _until(lambda: gate.waiting == 1)  # queued first, so the release goes to it
    cancelled = threading.Event()
    loser = threading.Thread(target=lambda: got.append(gate.acquire(cancelled=cancelled.is_set)))
    loser.start()
    _until(lambda: gate.waiting == 2)
    gate.release()
    waiter.join(10)
    assert got == [True]
    cancelled.set()
    loser.join(10)
    assert got == [True, False]
    assert gate.waiting == 0 and gate.in_use == 1
