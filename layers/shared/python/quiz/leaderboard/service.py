"""The leaderboard service: apply a batch of score events, then push one paced frame per quiz.

The work of one tick does not grow with the room: the board is read as its top N plus the players whose
score events are in the tick (their rank and the player above them), and only those players get a
`your_rank` frame. Everyone else's rank is sent once per question, when the quiz service's
`question_closed` marker arrives behind that question's last score on the quiz's partition. Frames of
one quiz are paced: at most one per interval, the interval growing with the room so that the frames per
second stay within what delivery carries; a tick that comes too soon waits out the rest of the interval
and then pushes, so the last change is never left unsent.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from quiz.errors import NotFound
from quiz.leaderboard.domain import (
    QuestionClosed,
    QuizPush,
    ScoreEvent,
    everyone_ranks,
    latest,
    leaderboard_frame,
    push_interval_ms,
    rank_frame,
    wait_before_push_ms,
)
from quiz.leaderboard.postgres import PostgresStandings
from quiz.leaderboard.redis_store import RedisLeaderboard

log = logging.getLogger("quiz.leaderboard")

TOP_N = 10


class Notifier(Protocol):
    def deliver(self, pushes: Sequence[QuizPush]) -> dict[str, int]:
        """Every quiz's board frame to all its connections and each personal frame to its player, in as few
        calls as the gateway allows; returns, per quiz, how many connections the board frame reached."""
        ...


@dataclass(frozen=True)
class Pacing:
    """LEADERBOARD_MIN_INTERVAL_MS and LEADERBOARD_FANOUT_FRAMES_PER_S (see quiz.config)."""

    min_interval_ms: int = 100
    fanout_frames_per_s: int = 50_000

    def interval_ms(self, audience: int) -> int:
        return push_interval_ms(audience, min_interval_ms=self.min_interval_ms, fanout_frames_per_s=self.fanout_frames_per_s)


@dataclass(frozen=True)
class BatchOutcome:
    quizzes: int
    applied: int
    rebuilt: int
    frames: int
    waited_ms: int = 0


class LeaderboardService:
    def __init__(
        self,
        board: RedisLeaderboard,
        standings: PostgresStandings,
        notifier: Notifier,
        *,
        top_n: int = TOP_N,
        pacing: Pacing | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.board = board
        self._standings = standings
        self._notifier = notifier
        self._top_n = top_n
        self._pacing = pacing or Pacing()
        self._sleep = sleep

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

    def apply_batch(self, records: Sequence[ScoreEvent | QuestionClosed]) -> BatchOutcome:
        """Idempotent: a replayed or reordered event is ignored (only higher versions apply)."""
        newest = latest([r for r in records if isinstance(r, ScoreEvent)])
        by_quiz: dict[str, list[ScoreEvent]] = defaultdict(list)
        for e in newest.values():
            by_quiz[e.quiz_id].append(e)
        closed = {r.quiz_id for r in records if isinstance(r, QuestionClosed)}
        quiz_ids = list(dict.fromkeys([*by_quiz, *sorted(closed)]))
        rebuilt = self.ensure(quiz_ids)
        changed = self.board.apply(by_quiz)
        waited = self._wait_for_pace(quiz_ids)
        # Every quiz of the batch gets its frame, changed or not: a retried batch (the first attempt
        # died after Redis, before or during the push) finds nothing new to apply but must still push.
        frames = self._push(quiz_ids, {q: [e.user_id for e in by_quiz.get(q, [])] for q in quiz_ids}, closed)
        # After the push, so that PostgreSQL's round trip is not on the way to the screen; a crash
        # here retries the whole batch, and the upsert only ever moves to a higher version.
        self._standings.persist(list(newest.values()))
        return BatchOutcome(
            quizzes=len(quiz_ids), applied=sum(len(c) for c in changed.values()), rebuilt=len(rebuilt), frames=frames, waited_ms=waited
        )

    def _wait_for_pace(self, quiz_ids: list[str]) -> int:
        """Wait until every quiz of the tick may have its next frame; returns the milliseconds waited.

        One wait for the whole tick (not one per quiz), at most one interval of the largest room."""
        now_ms = int(time.time() * 1000)
        last = self.board.last_pushes(quiz_ids)
        wait_ms = max((wait_before_push_ms(at, self._pacing.interval_ms(audience), now_ms) for at, audience in last.values()), default=0)
        if wait_ms > 0:
            self._sleep(wait_ms / 1000)
        return wait_ms

    def _push(self, quiz_ids: list[str], moved: dict[str, list[str]], closed: set[str]) -> int:
        views = self.board.views(moved, self._top_n)
        server_time = datetime.now(UTC).isoformat(timespec="milliseconds")
        pushes = []
        for quiz_id in quiz_ids:
            view = views[quiz_id]
            personal: Mapping[str, Mapping[str, Any]]
            if quiz_id in closed:
                personal = everyone_ranks(quiz_id, self.board.ranked(quiz_id))
            else:
                personal = {
                    c.standing.user_id: rank_frame(quiz_id, c.standing, c.above_score, c.above_name, view.participants)
                    for c in view.climbers
                }
            pushes.append(QuizPush(quiz_id, leaderboard_frame(view, server_time), personal))
        started_ms = int(time.time() * 1000)
        audiences = self._notifier.deliver(pushes)
        # The pace runs from the start of one push to the start of the next: the time a push itself takes
        # counts toward the interval instead of being added to it.
        self.board.record_pushes({q: audiences.get(q, 0) for q in quiz_ids}, at_ms=started_ms)
        return sum(audiences.values()) + sum(len(p.personal) for p in pushes)

    def snapshot(self, quiz_id: str, user_id: str, limit: int) -> dict[str, Any]:
        """The top `limit`, the board's size and the caller's own standing, in one Redis call (for a caller
        already known to be the quiz's host or player, e.g. right after joining)."""
        self.ensure([quiz_id])
        view = self.board.views({quiz_id: [user_id]}, limit, new_seq=False)[quiz_id]
        me = next((c.standing for c in view.climbers), None)
        return {
            "quiz_id": quiz_id,
            "participants": view.participants,
            "top": [s.body() for s in view.top],
            "me": me.body() if me else None,
        }

    def read(self, quiz_id: str, user_id: str, limit: int, *, is_admin: bool = False) -> dict[str, Any]:
        """The board for its quiz's host and players (the same rule as the participant list)."""
        if self._standings.viewer_role(quiz_id, user_id) is None and not is_admin:
            raise NotFound(f"no quiz with id {quiz_id} that you joined", details={"quiz_id": quiz_id})
        return self.snapshot(quiz_id, user_id, limit)
