"""The clients' reconnection schedule: a first try almost at once, jittered, and long enough to outlast a node's restart."""

from __future__ import annotations

from clients.quiz_client import RECONNECT_JITTER, RECONNECT_SCHEDULE_S, reconnect_delays


def test_the_first_retry_comes_within_half_a_second_and_the_tries_last_two_minutes() -> None:
    slowest = list(reconnect_delays(rand=lambda: 1.0))
    fastest = list(reconnect_delays(rand=lambda: 0.0))
    assert slowest[0] <= 0.5 and fastest[0] > 0
    assert sum(slowest[:3]) < 3.0, "three tries within 3 s, well inside the 5 s a player may be away"
    assert sum(fastest) >= 60.0, "still trying a minute later, however the jitter falls"
    assert len(slowest) == len(RECONNECT_SCHEDULE_S)


def test_each_delay_is_spread_around_its_base() -> None:
    for base, delay in zip(RECONNECT_SCHEDULE_S, reconnect_delays(), strict=True):
        assert base * (1 - RECONNECT_JITTER) <= delay <= base * (1 + RECONNECT_JITTER)
