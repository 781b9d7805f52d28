"""The outbox relay: republishes score events whose publish never happened (runs on a schedule).

The backstop, not the usual path: after a broker outage the first successful publish of any container
drains the backlog (`QuizService.drain_backlog`); the relay heals what no later publish reached (a
container that died, a quiz that went quiet). Scheduled every minute with `watch_s: 55`, one run keeps
looking every 2 s for most of its minute, so a backlog left by a broker outage is published within
seconds of the broker's return even when no new answer comes to drain it."""

from __future__ import annotations

from typing import Any

from quiz.bootstrap import quiz_service
from quiz.observability import traced_handler


@traced_handler("OutboxRelayFunction", trigger="timer")
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    budget_s = max(1.0, context.get_remaining_time_in_millis() / 1000 - 10)  # leave time for a last publish and the return
    relayed = quiz_service().relay(
        older_than_s=float(event.get("older_than_s", 5)), budget_s=budget_s, watch_s=float(event.get("watch_s", 0))
    )
    return {"republished": relayed}
