"""The leaderboard service: apply a batch of score events, then push one frame per quiz."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from quiz.errors import NotFound
from quiz.leaderboard.domain import ScoreEvent, Standing, latest, personal_frame
from quiz.leaderboard.postgres import PostgresStandings
from quiz.leaderboard.redis_store import RedisLeaderboard

log = logging.getLogger("quiz.leaderboard")

TOP_N = 10


class Notifier(Protocol):
    def to_quiz(self, quiz_id: str, frame: Mapping[str, Any]) -> int: ...

    def to_players(self, quiz_id: str, frames: Mapping[str, Mapping[str, Any]]) -> int: ...


@dataclass(frozen=True)
class BatchOutcome:
    quizzes: int
    applied: int
    rebuilt: int
    frames: int


class LeaderboardService:
    def __init__(self, board: RedisLeaderboard, standings: PostgresStandings, notifier: Notifier, *, top_n: int = TOP_N) -> None:
        self.board = board
        self._standings = standings
        self._notifier = notifier
        self._top_n = top_n

    def ensure(self, quiz_ids: Iterable[str]) -> list[str]:
        """Rebuild from PostgreSQL any board Redis lost (flushed, restarted empty, expired). Returns those rebuilt."""
        rebuilt = []
        for quiz_id in self.board.missing(quiz_ids):
            truth = self._standings.source_of_truth(quiz_id)
            self.board.apply({quiz_id: truth})
            self.board.mark_ready(quiz_id)
            rebuilt.append(quiz_id)
            log.info("rebuilt the leaderboard of %s from PostgreSQL (%d players)", quiz_id, len(truth))
        return rebuilt

    def apply_batch(self, events: list[ScoreEvent]) -> BatchOutcome:
        """Idempotent: a replayed or reordered event is ignored (only higher versions apply)."""
        newest = latest(events)
        by_quiz: dict[str, list[ScoreEvent]] = defaultdict(list)
        for e in newest.values():
            by_quiz[e.quiz_id].append(e)
        rebuilt = self.ensure(by_quiz)
        changed = self.board.apply(by_quiz)
        self._standings.persist(list(newest.values()))
        # Every quiz of the batch gets its frame, changed or not: a retried batch (the first attempt
        # died after Redis, before or during the push) finds nothing new to apply but must still push.
        frames = 0
        for quiz_id in by_quiz:
            frames += self.push(quiz_id)
        return BatchOutcome(quizzes=len(by_quiz), applied=sum(len(c) for c in changed.values()), rebuilt=len(rebuilt), frames=frames)

    def push(self, quiz_id: str) -> int:
        """One leaderboard frame for the whole quiz, plus a frame for each player whose rank or score moved."""
        ranked = self.board.ranked(quiz_id)
        participants = len(ranked)
        frame = {
            "type": "leaderboard",
            "quiz_id": quiz_id,
            "seq": self.board.next_seq(quiz_id),
            "participants": participants,
            "top": [s.body() for s in ranked[: self._top_n]],
            "server_time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        sent = self._notifier.to_quiz(quiz_id, frame)
        before = self.board.sent_state(quiz_id)
        personal: dict[str, dict[str, Any]] = {}
        now_state: dict[str, str] = {}
        for i, s in enumerate(ranked):
            state = f"{s.rank}|{s.score}"
            if before.get(s.user_id) != state:
                personal[s.user_id] = personal_frame(quiz_id, ranked, i, participants)
                now_state[s.user_id] = state
        if personal:
            sent += self._notifier.to_players(quiz_id, personal)
            self.board.remember_sent(quiz_id, now_state)
        return sent

    def read(self, quiz_id: str, user_id: str, limit: int, *, is_admin: bool = False) -> dict[str, Any]:
        """The board for its quiz's host and players (the same rule as the participant list)."""
        if self._standings.viewer_role(quiz_id, user_id) is None and not is_admin:
            raise NotFound(f"no quiz with id {quiz_id} that you joined", details={"quiz_id": quiz_id})
        self.ensure([quiz_id])
        top = self.board.ranked(quiz_id, limit)
        me = self.board.rank_of(quiz_id, user_id)
        return {
            "quiz_id": quiz_id,
            "participants": self.board.count(quiz_id),
            "top": [s.body() for s in top],
            "me": me.body() if me else None,
        }

    def standing(self, quiz_id: str, user_id: str) -> Standing | None:
        self.ensure([quiz_id])
        return self.board.rank_of(quiz_id, user_id)
