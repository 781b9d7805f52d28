"""The outbox relay: republishes score events whose publish never happened (runs on a schedule)."""

from __future__ import annotations

from typing import Any

from quiz.quizzes.bootstrap import quiz_service


def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return {"republished": quiz_service().relay(older_than_s=float(event.get("older_than_s", 5)))}
