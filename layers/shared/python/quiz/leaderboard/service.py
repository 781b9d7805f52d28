"""The leaderboard service: apply a batch of score events, tell each player who answered where they
stand at once, and push the quiz's board frame at a pace the room can carry.

The work of one tick does not grow with the room: the board is read as its top N plus the players whose
score events are in the tick (their rank and the player above them), and only those players get a
`your_rank` frame, right away. Everyone else's rank is sent once per question, when the quiz service's
`question_closed` marker arrives behind that question's last score on the quiz's partition.

The board frame (top N, to every connection) is paced per quiz: at most one per interval, the interval
growing with the room so that its frames per second stay within what delivery carries. A batch of
scores that comes too soon never waits: it holds the frame back and puts a board tick on the quiz's
partition (unless one is on its way). The frame goes out with the first batch of that quiz after the
interval, or when the tick comes back alone: then it waits for the rest of the interval if that is
short (`max_wait_ms`), or else waits `max_wait_ms` and is held again with a new tick. A batch waits at
most `max_wait_ms`, and only when it carries nothing but ticks, because the partition's next batch
(other players' answers) waits behind it. So the last change is never left unsent, and a large room's
board does not hold up its players' own frames.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from quiz.errors import NotFound
from quiz.leaderboard.domain import (
    BoardRecord,
    BoardTick,
    BoardView,
    QuestionClosed,
    ScoreEvent,
    everyone_ranks,
    latest,
    leaderboard_frame,
    push_interval_ms,
    rank_frame,
    wait_before_push_ms,
)
from quiz.leaderboard.ports import Board, Notifier, Standings, Ticker
from quiz.ports import QuizPush

log = logging.getLogger("quiz.leaderboard")

TOP_N = 10


@dataclass(frozen=True)
class Pacing:
    """LEADERBOARD_MIN_INTERVAL_MS, LEADERBOARD_FANOUT_FRAMES_PER_S and LEADERBOARD_MAX_WAIT_MS (see quiz.config)."""

    min_interval_ms: int = 100
    fanout_frames_per_s: int = 5_000
    max_wait_ms: int = 100

    def interval_ms(self, audience: int) -> int:
        return push_interval_ms(audience, min_interval_ms=self.min_interval_ms, fanout_frames_per_s=self.fanout_frames_per_s)


@dataclass(frozen=True)
class BatchOutcome:
    quizzes: int
    applied: int
    rebuilt: int
    frames: int
    waited_ms: int = 0
    held: int = 0
    # Per quiz with answers in the batch: its oldest answer (reached_at) -> its players' frames posted.
    push_delays_ms: tuple[int, ...] = ()


class LeaderboardService:
    """Applies batches of score events to the live board and pushes what changed, at a pace the room carries."""

    def __init__(
        self,
        board: Board,
        standings: Standings,
        notifier: Notifier,
        *,
        ticker: Ticker | None = None,
        top_n: int = TOP_N,
        pacing: Pacing | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.board = board
        self._standings = standings
        self._notifier = notifier
        self._ticker = ticker
        self._top_n = top_n
        self._pacing = pacing or Pacing()
        self._sleep = sleep
        self._clock = clock

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

    def apply_batch(self, records: Sequence[BoardRecord]) -> BatchOutcome:
        """Idempotent: a replayed or reordered event is ignored (only higher versions apply)."""
        newest = latest([r for r in records if isinstance(r, ScoreEvent)])
        by_quiz: dict[str, list[ScoreEvent]] = defaultdict(list)
        for e in newest.values():
            by_quiz[e.quiz_id].append(e)
        closed = {r.quiz_id for r in records if isinstance(r, QuestionClosed)}
        ticked = {r.quiz_id for r in records if isinstance(r, BoardTick)}
        quiz_ids = list(dict.fromkeys([*by_quiz, *sorted(closed), *sorted(ticked)]))
        rebuilt = self.ensure(quiz_ids)
        changed = self.board.apply(by_quiz)
        self.board.ticks_arrived(sorted(ticked))
        frames, waited, held, pushed_ms = self._push(
            quiz_ids, {q: [e.user_id for e in by_quiz.get(q, [])] for q in quiz_ids}, closed, ticked
        )
        # After the push, so that PostgreSQL's round trip is not on the way to the screen; a crash
        # here retries the whole batch, and the upsert only ever moves to a higher version.
        self._standings.persist(list(newest.values()))
        return BatchOutcome(
            quizzes=len(quiz_ids),
            applied=sum(len(c) for c in changed.values()),
            rebuilt=len(rebuilt),
            frames=frames,
            waited_ms=waited,
            held=held,
            push_delays_ms=tuple(max(0, pushed_ms - min(e.reached_ms for e in events)) for events in by_quiz.values()),
        )

    def _push(self, quiz_ids: list[str], moved: dict[str, list[str]], closed: set[str], ticked: set[str]) -> tuple[int, int, int, int]:
        """Returns (frames sent, ms waited, quizzes whose board frame was held back, when the players who
        answered had their frames, in epoch ms)."""
        now_ms = self._now_ms()
        paces = self.board.pace_state(quiz_ids)
        board_now, board_later, hold = [], {}, []
        for q in quiz_ids:
            pace = paces[q]
            only_tick = q in ticked and not moved[q] and q not in closed
            if only_tick and not pace.held:
                continue  # a tick whose frame a later batch already sent
            wait = wait_before_push_ms(pace.last_push_ms, self._pacing.interval_ms(pace.audience), now_ms)
            if wait == 0 or q in closed:
                board_now.append(q)
            elif only_tick:
                board_later[q] = wait  # nothing else came for this quiz: wait here (max_wait_ms at most)
            else:
                hold.append(q)  # answers of this quiz keep coming: the first batch after the interval sends it
        wanted = [q for q in quiz_ids if q in board_now or q in board_later or moved[q] or q in closed]
        views = self.board.views({q: moved[q] for q in wanted}, self._top_n, frames=[*board_now, *board_later])
        server_time = datetime.now(UTC).isoformat(timespec="milliseconds")

        # Players who answered hear where they stand at once; boards that are due go with them.
        first = [self._quiz_push(views[q], q in board_now, q in closed, server_time) for q in wanted]
        sent = self._deliver([p for p in first if p.board is not None or p.personal], board_now)
        pushed_ms = self._now_ms()
        waited = 0
        if board_later:
            # Never longer than max_wait_ms: a tick that came back long before its frame is due waits that
            # long and is held again (a new tick), rather than keeping the partition's next batch waiting.
            waited = min(max(board_later.values()), self._pacing.max_wait_ms)
            self._sleep(waited / 1000)
            due = [q for q, wait in board_later.items() if wait <= waited]
            hold.extend(q for q in board_later if q not in due)
            server_time = datetime.now(UTC).isoformat(timespec="milliseconds")
            sent += self._deliver([QuizPush(q, leaderboard_frame(views[q], server_time), {}) for q in due], due)
        if hold:
            need_tick = self.board.hold(hold, tick_ttl_ms=2 * max(self._pacing.interval_ms(paces[q].audience) for q in hold) + 1_000)
            if need_tick and self._ticker is not None:
                self._ticker.tick(need_tick)
        return sent, waited, len(hold), pushed_ms

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _quiz_push(self, view: BoardView, with_board: bool, closed: bool, server_time: str) -> QuizPush:
        quiz_id = view.quiz_id
        personal: Mapping[str, Mapping[str, Any]]
        if closed:
            personal = everyone_ranks(quiz_id, self.board.ranked(quiz_id))
        else:
            personal = {
                c.standing.user_id: rank_frame(quiz_id, c.standing, c.above_score, c.above_name, view.player_count) for c in view.climbers
            }
        return QuizPush(quiz_id, leaderboard_frame(view, server_time) if with_board else None, personal)

    def _deliver(self, pushes: list[QuizPush], boards: list[str]) -> int:
        if not pushes:
            return 0
        started_ms = self._now_ms()
        audiences = self._notifier.deliver(pushes)
        # The pace runs from the start of one board push to the start of the next: the time a push itself
        # takes counts toward the interval instead of being added to it.
        self.board.record_pushes({q: audiences.get(q, 0) for q in boards}, at_ms=started_ms)
        return sum(audiences.get(p.quiz_id, 0) for p in pushes if p.board is not None) + sum(len(p.personal) for p in pushes)

    def snapshot(self, quiz_id: str, user_id: str, limit: int) -> dict[str, Any]:
        """The top `limit`, the board's size and the caller's own standing, in one Redis call (for a caller
        already known to be the quiz's host or player, e.g. right after joining)."""
        self.ensure([quiz_id])
        view = self.board.views({quiz_id: [user_id]}, limit)[quiz_id]
        me = next((c.standing for c in view.climbers), None)
        return {
            "quiz_id": quiz_id,
            "player_count": view.player_count,
            "top": [s.body() for s in view.top],
            "me": me.body() if me else None,
        }

    def read(self, quiz_id: str, user_id: str, limit: int, *, is_admin: bool = False) -> dict[str, Any]:
        """The board for its quiz's host and players (the same rule as the participant list)."""
        if self._standings.viewer_role(quiz_id, user_id) is None and not is_admin:
            raise NotFound(f"no quiz with id {quiz_id} that you joined", details={"quiz_id": quiz_id})
        return self.snapshot(quiz_id, user_id, limit)
