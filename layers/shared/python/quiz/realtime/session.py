"""A player's (or host's) WebSocket session: join a quiz, get a full snapshot, leave on disconnect."""

from __future__ import annotations

from typing import Any

from quiz.auth import Principal
from quiz.errors import ValidationFailed
from quiz.leaderboard.service import LeaderboardService
from quiz.quizzes.domain import normalise_quiz_id
from quiz.quizzes.service import QuizService, question_opened
from quiz.realtime.connections import ConnectionRegistry, Membership

SNAPSHOT_TOP = 10


class QuizSessions:
    def __init__(self, quizzes: QuizService, leaderboard: LeaderboardService, registry: ConnectionRegistry) -> None:
        self._quizzes = quizzes
        self._leaderboard = leaderboard
        self._registry = registry

    def join(self, principal: Principal, connection_id: str, raw_quiz_id: Any) -> dict[str, Any]:
        """Join (or rejoin) the quiz on this connection; the reply carries everything to render the game.

        The host watches without becoming a participant. A player who reconnects keeps their seat and score.
        """
        if not isinstance(raw_quiz_id, str) or not raw_quiz_id.strip():
            raise ValidationFailed('send {"action": "join", "quiz_id": "<PIN>"}', details={"field": "quiz_id"})
        quiz_id = normalise_quiz_id(raw_quiz_id)
        quiz, now = self._quizzes.store.get(quiz_id)
        is_host = str(principal.user_id) == quiz.host_id
        if not is_host:
            self._quizzes.seat(principal, quiz)
        self._registry.add(Membership(connection_id, quiz_id, str(principal.user_id)))
        # Read again after subscribing: a question opened in between is either in this snapshot or in a
        # question_opened frame this connection now receives.
        quiz, now = self._quizzes.store.get(quiz_id)
        board = self._leaderboard.snapshot(quiz_id, str(principal.user_id), SNAPSHOT_TOP)
        current = quiz.current
        return {
            "type": "joined",
            "quiz_id": quiz_id,
            "role": "host" if is_host else "player",
            # Without the question list, so the snapshot stays far below the 128 KB frame limit
            # whatever the quiz's size; GET /quizzes/{quiz_id} returns the questions.
            "quiz": {k: v for k, v in quiz.view(now, as_host=is_host).items() if k != "questions"},
            "open_question": question_opened(quiz, now) if current and current.is_open(now) else None,
            "leaderboard": {"participants": board["participants"], "top": board["top"]},
            "me": board["me"],
        }

    def leave(self, connection_id: str) -> None:
        self._registry.remove(connection_id)
