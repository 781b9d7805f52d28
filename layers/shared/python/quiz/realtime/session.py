"""A player's (or host's) WebSocket session: join a quiz, get a full snapshot, removed on disconnect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quiz.auth import Principal, is_host
from quiz.errors import QuizError, ValidationFailed
from quiz.leaderboard.service import LeaderboardService
from quiz.quizzes.domain import normalise_quiz_id
from quiz.quizzes.service import QuizService, question_opened
from quiz.realtime.ports import Connections, Membership

SNAPSHOT_TOP = 10


class QuizSessions:
    def __init__(self, quizzes: QuizService, leaderboard: LeaderboardService, registry: Connections) -> None:
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
        quiz, now = self._quizzes.state(quiz_id)
        hosting = is_host(principal, quiz.host_id)
        if not hosting:
            self._quizzes.seat(principal, quiz)
        self._registry.add(Membership(connection_id, quiz_id, str(principal.user_id)))
        # Read again after subscribing: a question opened in between is either in this snapshot or in a
        # question_opened frame this connection now receives.
        quiz, now = self._quizzes.state(quiz_id)
        board = self._leaderboard.snapshot(quiz_id, str(principal.user_id), SNAPSHOT_TOP)
        current = quiz.current
        return {
            "type": "joined",
            "quiz_id": quiz_id,
            "role": "host" if hosting else "player",
            # Without the question list, so the snapshot stays far below the 128 KB frame limit
            # whatever the quiz's size; GET /quizzes/{quiz_id} returns the questions.
            "quiz": {k: v for k, v in quiz.view(now, as_host=hosting).items() if k != "questions"},
            "open_question": question_opened(quiz, now) if current and current.is_open(now) else None,
            "leaderboard": {"player_count": board["player_count"], "top": board["top"]},
            "me": board["me"],
        }

    def ping(self, connection_id: str, raw_quiz_id: Any, caller: Callable[[], Principal]) -> dict[str, Any]:
        """Keep the connection alive and, when the client names the quiz it is in, check the registry still
        knows it. A registry Redis lost is restored here: the membership is written again (only for the
        quiz's host or an active participant) and the client is told to `join` again, because it may have
        missed frames while nobody could reach it. `caller` (the revocation check costs a read) is asked only
        when there is something to restore."""
        pong = {"type": "pong", "connectionId": connection_id}
        if not isinstance(raw_quiz_id, str) or not raw_quiz_id.strip():
            return pong
        try:
            quiz_id = normalise_quiz_id(raw_quiz_id)
            known = self._registry.membership(connection_id)
            if known is not None and known.quiz_id == quiz_id:
                return pong
            user_id = str(caller().user_id)
            if not self._quizzes.belongs(quiz_id, user_id):
                return pong  # never joined, or removed: nothing of theirs to restore
            self._registry.add(Membership(connection_id, quiz_id, user_id))
        except QuizError:
            return pong  # a ping never fails; the next one tries again
        return {"type": "rejoin", "quiz_id": quiz_id, "connectionId": connection_id}

    def remove(self, connection_id: str) -> None:
        """$disconnect: the connection is removed from the quiz it watched (the player stays a player)."""
        self._registry.remove(connection_id)
