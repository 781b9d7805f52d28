"""Leaderboard entry points: the Kafka-triggered recompute and GET /quizzes/{quiz_id}/leaderboard."""

from __future__ import annotations

import logging
from typing import Any

from quiz import metrics, payload
from quiz.auth import authenticate
from quiz.bootstrap import leaderboard_service, slice_sender
from quiz.events import HttpEvent, KafkaEvent
from quiz.http import Response, api_handler, json_response, path_param, query_param
from quiz.leaderboard.kafka_event import board_records
from quiz.observability import traced_handler
from quiz.quizzes.domain import normalise_quiz_id
from quiz.realtime.fanout import Slice

log = logging.getLogger("quiz.leaderboard")
MAX_LIMIT = 100


@traced_handler("LeaderboardFunction")
def handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """A batch from the scores topic. Raising makes the event source mapping retry the whole batch."""
    outcome = leaderboard_service().apply_batch(list(board_records(KafkaEvent(event))))
    log.info("batch applied: %s", outcome)
    metrics.emit({"LeaderboardPushDelay": ("Milliseconds", outcome.push_delays_ms), "ScoresApplied": ("Count", [outcome.applied])})
    return {"quizzes": outcome.quizzes, "applied": outcome.applied, "rebuilt": outcome.rebuilt, "frames": outcome.frames}


@traced_handler("FanoutFunction")
def fanout_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    """A slice of a large tick's frames, handed over by a pusher (asynchronous invoke): post it, prune the gone."""
    return slice_sender().send(Slice.parse(event))


@traced_handler("LeaderboardHttpFunction")
@api_handler
def http_handler(event: HttpEvent, context: Any) -> Response:
    principal = authenticate(event)
    limit = payload.integer_param(query_param(event, "limit") or "10", "limit", 1, MAX_LIMIT)
    quiz_id = normalise_quiz_id(path_param(event, "quiz_id"))
    return json_response(200, leaderboard_service().read(quiz_id, str(principal.user_id), limit, is_admin=principal.is_admin))
