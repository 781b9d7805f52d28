"""The quiz service: authoring, joining, host pacing, answers. Handlers call only this."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from quiz.auth import Principal, is_host, may_host, require_host
from quiz.errors import BadRequest, NotFound
from quiz.quizzes.domain import AnswerResult, Participant, Question, Quiz, normalise_quiz_id, parse_draft
from quiz.quizzes.errors import DeadlineNotReached, HostCannotPlay
from quiz.quizzes.outbox import OutboxEvent
from quiz.quizzes.ports import ClosedQuestion, Notifier, QuestionTimer, QuizStore, ScorePublisher

__all__ = ["DeadlineNotReached", "HostCannotPlay", "QuizService", "question_closed", "question_opened", "standings"]

log = logging.getLogger("quiz.service")

FINAL_STANDINGS = 100
# After a successful publish, the unpublished outbox rows drained with it: at most this many, oldest
# first, only rows older than DRAIN_OLDER_THAN_S (a younger row's own publish may still be in flight
# in another container); without a failure seen, at most once per DRAIN_EVERY_S.
DRAIN_LIMIT = 200
DRAIN_OLDER_THAN_S = 2.0
DRAIN_EVERY_S = 1.0
# How long after the deadline the clock's close runs, at least: every millisecond of it is one more
# before the players see `question_closed` (it was 10 ms).
CLOSE_MARGIN_S = 0.001


def _host_guard(principal: Principal) -> Any:
    def guard(quiz: Quiz) -> None:
        require_host(principal, quiz.host_id, allow_admin=True)

    return guard


def standings(participants: list[Participant], limit: int = FINAL_STANDINGS) -> list[dict[str, Any]]:
    """Ranked rows (ties share neither rank nor order: who reached the score first ranks higher)."""
    return [
        {"rank": i, "user_id": p.user_id, "display_name": p.display_name, "score": p.score} for i, p in enumerate(participants[:limit], 1)
    ]


class QuizService:
    """Everything a host and a player can do with a quiz. The server decides identity, time and points."""

    def __init__(
        self,
        store: QuizStore,
        publisher: ScorePublisher,
        notifier: Notifier,
        timer: QuestionTimer,
        *,
        drain_limit: int = DRAIN_LIMIT,
        drain_older_than_s: float = DRAIN_OLDER_THAN_S,
        drain_every_s: float = DRAIN_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._publisher = publisher
        self._notifier = notifier
        self._timer = timer
        self._drain_limit = drain_limit
        self._drain_older_than_s = drain_older_than_s
        self._drain_every_s = drain_every_s
        self._clock = clock
        # A new container does not know what the ones before it left unpublished: its first successful
        # publish looks. Then it looks again after any publish of its own failed, and now and then.
        self._backlog_suspected = True
        self._next_drain = 0.0

    # ------------------------------------------------------------------ authoring

    def create(self, host: Principal, body: dict[str, Any]) -> dict[str, Any]:
        draft = parse_draft(body)
        quiz_id = self.store.create(str(host.user_id), draft)
        quiz, now = self.store.get(quiz_id)
        return quiz.view(now, as_host=True)

    def get(self, viewer: Principal, raw_id: str) -> dict[str, Any]:
        quiz, now = self.store.get(normalise_quiz_id(raw_id))
        view = quiz.view(now, as_host=self._hosts(viewer, quiz))
        view["player_count"] = len(self.store.participants(quiz.id))
        return view

    def list_hosted(self, host: Principal) -> list[dict[str, Any]]:
        return self.store.list_hosted(str(host.user_id))

    def update(self, host: Principal, raw_id: str, body: dict[str, Any]) -> dict[str, Any]:
        quiz_id = normalise_quiz_id(raw_id)
        self.store.replace_draft(quiz_id, parse_draft(body), _host_guard(host))
        quiz, now = self.store.get(quiz_id)
        return quiz.view(now, as_host=True)

    def set_locked(self, host: Principal, raw_id: str, locked: bool) -> dict[str, Any]:
        quiz_id = normalise_quiz_id(raw_id)
        self.store.set_locked(quiz_id, locked, _host_guard(host))
        return {"quiz_id": quiz_id, "locked": locked}

    @staticmethod
    def _hosts(principal: Principal, quiz: Quiz) -> bool:
        return may_host(principal, quiz.host_id, allow_admin=True)

    # ------------------------------------------------------------------ players

    def join(self, player: Principal, raw_id: str) -> dict[str, Any]:
        quiz_id = normalise_quiz_id(raw_id)
        quiz, _ = self.store.get(quiz_id)
        participant, joined = self.seat(player, quiz)
        quiz, now = self.store.get(quiz_id)
        return {"quiz": quiz.view(now, as_host=self._hosts(player, quiz)), "player": participant.body(), "joined": joined}

    def seat(self, player: Principal, quiz: Quiz) -> tuple[Participant, bool]:
        """Give the player a seat in this quiz (or find theirs); True when the seat is new."""
        if is_host(player, quiz.host_id):
            raise HostCannotPlay()
        participant, event = self.store.join(quiz.id, str(player.user_id), player.display_name)
        if event is not None:
            self._publish([event], mark_later=True)  # a burst of joins: each marks the one before
        return participant, event is not None

    def state(self, quiz_id: str) -> tuple[Quiz, datetime]:
        """The quiz and the store's current time, read together (a WebSocket session's snapshot)."""
        return self.store.get(quiz_id)

    def belongs(self, quiz_id: str, user_id: str) -> bool:
        """True for the quiz's host and its active participants: the people whose connections may follow
        it. Raises NotFound for an unknown quiz (unless they hold a seat in it)."""
        seat = self.store.participant(quiz_id, user_id)
        if seat is not None and seat.status == "active":
            return True
        quiz, _ = self.store.get(quiz_id)
        return is_host(user_id, quiz.host_id)

    def players(self, viewer: Principal, raw_id: str) -> list[dict[str, Any]]:
        quiz_id = normalise_quiz_id(raw_id)
        quiz, _ = self.store.get(quiz_id)
        everyone = self.store.participants(quiz_id)
        if not self._hosts(viewer, quiz) and all(p.user_id != str(viewer.user_id) for p in everyone):
            raise NotFound(f"no quiz with id {quiz_id} that you joined")
        return [p.body() for p in everyone]

    def remove(self, host: Principal, raw_id: str, user_id: str) -> None:
        quiz_id = normalise_quiz_id(raw_id)
        try:
            UUID(user_id)
        except ValueError as exc:
            raise BadRequest("user_id must be a UUID") from exc
        self._publish([self.store.remove(quiz_id, user_id, _host_guard(host))])
        self._push(self._notifier.to_players, quiz_id, {user_id: {"type": "removed", "quiz_id": quiz_id}})
        self._push(self._notifier.unsubscribe, quiz_id, user_id)

    # ------------------------------------------------------------------ pacing

    def start(self, host: Principal, raw_id: str) -> dict[str, Any]:
        quiz, closed, _ = self.store.advance(normalise_quiz_id(raw_id), _host_guard(host), start=True)
        return self._after_advance(quiz, closed)

    def next(self, host: Principal, raw_id: str, *, from_question_id: Any = None) -> dict[str, Any]:
        """Close the current question (if open) and open the next. With ``from_question_id`` (the
        question the host is leaving) a retried or double-clicked `next` moves once, not twice."""
        if from_question_id is not None and (isinstance(from_question_id, bool) or not isinstance(from_question_id, int)):
            raise BadRequest("from_question_id must be an integer", details={"field": "from_question_id"})
        quiz, closed, moved = self.store.advance(normalise_quiz_id(raw_id), _host_guard(host), start=False, expected=from_question_id)
        if not moved:
            _, now = self.store.get(quiz.id)
            return quiz.view(now, as_host=True)
        return self._after_advance(quiz, closed)

    def end(self, host: Principal, raw_id: str) -> dict[str, Any]:
        quiz, closed = self.store.end(normalise_quiz_id(raw_id), _host_guard(host))
        if closed:
            self._close(quiz, closed)
        final = standings(self.store.participants(quiz.id))
        self._push(self._notifier.to_quiz, quiz.id, {"type": "quiz_ended", "quiz_id": quiz.id, "standings": final})
        _, now = self.store.get(quiz.id)
        return {**quiz.view(now, as_host=True), "standings": final}

    def close_due(self, raw_id: str, position: int, *, max_wait_s: float = 0.0, sleep: Callable[[float], None] = time.sleep) -> bool:
        """The timer fired: wait for the deadline if it is near (schedulers fire early or late), close
        the question unless someone already did, and tell every participant. True when this call closed it.

        Raises `DeadlineNotReached` when the deadline is further than ``max_wait_s``: the scheduler retries."""
        quiz_id = normalise_quiz_id(raw_id)
        for _ in range(5):
            closed = self.store.close_if_due(quiz_id, position)
            if closed:
                quiz, _ = self.store.get(quiz_id)
                self._close(quiz, closed)
                return True
            left = self.store.seconds_to_deadline(quiz_id, position)
            if left is None:
                return False  # closed already (next/end, or an earlier run), or never opened
            if left > max_wait_s:
                raise DeadlineNotReached(quiz_id, position, left)
            # `left` was read on PostgreSQL's clock before the reply came back, and a sleep never ends
            # early: waking `left` later is already past the deadline, the margin only absorbs rounding.
            sleep(max(left, 0.0) + CLOSE_MARGIN_S)
        return False

    def _after_advance(self, quiz: Quiz, closed: ClosedQuestion | None) -> dict[str, Any]:
        if closed:
            self._close(quiz, closed)
        current = quiz.current
        assert current is not None and current.deadline is not None and current.opened_at is not None
        _, now = self.store.get(quiz.id)
        self._timer.close_at(quiz.id, quiz.current_position, current.deadline)
        self._push(self._notifier.to_quiz, quiz.id, question_opened(quiz, now))
        return quiz.view(now, as_host=True)

    def _close(self, quiz: Quiz, closed: ClosedQuestion) -> None:
        """A question just closed (committed): tell the players first, then publish its marker (which
        sets off everyone's `your_rank`). The players' `question_closed` is what the deadline promises;
        the publish waits for the broker and may drain other containers' leftovers, so it goes second."""
        try:
            self._announce_closed(quiz, closed.position)
        finally:
            self._publish([closed.event])  # never raises: what it cannot send stays in the outbox

    def _announce_closed(self, quiz: Quiz, position: int) -> None:
        """question_closed to each player: the solution and their own result (no answer = 0 points)."""
        r = quiz.round(position)
        assert r is not None
        answers = self.store.answers_for(quiz.id, position)
        solution = r.question.solution()  # once for the room: every player's frame carries the same
        frames = {}
        for user_id, score in self.store.active_scores(quiz.id).items():
            mine = answers.get(user_id)
            frames[user_id] = question_closed(
                quiz.id, r.question, mine is not None, bool(mine and mine["correct"]), mine["points"] if mine else 0, score, solution
            )
        frames[quiz.host_id] = {"type": "question_closed", "quiz_id": quiz.id, "question_id": position, **solution, "answers": len(answers)}
        self._push(self._notifier.to_players, quiz.id, frames)

    @staticmethod
    def _push(send: Callable[..., Any], *args: Any) -> None:
        """Pushes follow a committed change: a failed push must not turn it into an error (a retry
        would then be refused). Players who miss a frame get the state back with their next `join`."""
        try:
            send(*args)
        except Exception:  # any failure of the push: the change is committed either way
            log.exception("push failed after a committed change; clients resync on their next join")

    # ------------------------------------------------------------------ answers

    def answer(
        self,
        player: Principal,
        raw_id: str,
        question_id: Any,
        answer: Any,
        idempotency_key: str | None,
        *,
        received_at: datetime | None = None,
    ) -> AnswerResult:
        """Judge, score and store an answer. ``received_at`` is when it reached the API (API Gateway's
        request time, see `quiz.events.received_at`), never a time the client sent; the answer is
        judged on it, so queueing for a worker neither refuses it nor costs it points. None: the
        database's clock when the answer is processed."""
        quiz_id = normalise_quiz_id(raw_id)
        if isinstance(question_id, bool) or not isinstance(question_id, int) or question_id < 1:
            raise BadRequest("question_id must be a positive integer", details={"field": "question_id"})
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 128:
            raise BadRequest("Idempotency-Key must be 1 to 128 characters", details={"field": "Idempotency-Key"})
        recorded = self.store.record_answer(quiz_id, question_id, str(player.user_id), answer, idempotency_key, received_at=received_at)
        result = recorded.result
        if recorded.event is not None:
            self._publish([recorded.event], mark_later=True)
        if recorded.closed_before is not None:
            # Received before the close, recorded after it: the question_closed frame this player got (or
            # is getting) may say "not answered". Send theirs again with the real result.
            frame = question_closed(quiz_id, recorded.closed_before, True, result.correct, result.points, result.score)
            self._push(self._notifier.to_players, quiz_id, {str(player.user_id): frame})
        return result

    # ------------------------------------------------------------------ outbox

    def _publish(self, events: list[OutboxEvent], *, mark_later: bool = False) -> None:
        """Publish right after the commit; what fails here stays in the outbox for the relay.

        The publisher returns once the broker has acknowledged these records, not before: a Lambda
        process is frozen as soon as the handler returns, so a record still in the producer's buffer
        could wait there until the next request thaws the process (or forever, if the container is
        reaped), and the relay would only heal that a minute later. One broker round trip buys a
        record that reaches Kafka now, at any traffic. Marking the row published is bookkeeping that
        only spares the relay a duplicate: the answer and join paths (``mark_later``) leave it to the
        container's next such transaction instead of paying a transaction of their own."""
        try:
            acked = self._publisher.publish(events)
            if mark_later:
                self.store.mark_published_later(acked)
            else:
                self.store.mark_published(acked)
        except Exception:  # the change is committed; never fail the request over the broker
            self._backlog_suspected = True
            log.exception("publishing %d event(s) failed; the outbox relay will republish them", len(events))
            return
        if len(acked) < len(events):
            self._backlog_suspected = True  # the publisher failed or skipped (its breaker is open)
        elif self._backlog_suspected or self._clock() >= self._next_drain:
            self.drain_backlog(exclude=[e.id for e in events])

    def drain_backlog(self, *, exclude: Sequence[int] = ()) -> int:
        """The broker just acknowledged a publish: send the oldest rows left unpublished (by this
        container while the broker was down, or by any other) now rather than at the relay's next run.
        Bounded to ``drain_limit`` rows a call; while a drain finds rows, the next publish drains again,
        so a backlog empties within a few requests of the broker's return. Replays are harmless:
        consumers apply score events by version and markers by id. Returns the rows acknowledged."""
        self._next_drain = self._clock() + self._drain_every_s
        try:
            claimed, acked = self.store.drain_outbox(
                self._publisher.publish, exclude=list(exclude), older_than_s=self._drain_older_than_s, limit=self._drain_limit
            )
        except Exception:  # bookkeeping on a committed change: the relay still has every row
            self._backlog_suspected = True
            log.exception("draining the outbox failed; the outbox relay will republish its rows")
            return 0
        self._backlog_suspected = claimed > 0  # rows were left: there may be more (or younger ones) behind them
        if claimed:
            log.info("drained %d of %d unpublished outbox row(s) after a successful publish", acked, claimed)
        return acked

    def relay(
        self,
        *,
        older_than_s: float = 5.0,
        limit: int = 500,
        budget_s: float = 30.0,
        watch_s: float = 0.0,
        poll_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> int:
        """Republish outbox rows left unpublished (a crash between commit and publish, a broker outage),
        batch after batch until none is left or the time budget is spent.

        With `watch_s`, keep looking every `poll_s` for that long even when nothing is pending or the
        broker does not acknowledge yet: a quiz that went quiet during a broker outage then reaches its
        board within seconds of the broker's return, not at the next scheduled run (the schedule's
        minute is the shortest EventBridge rate)."""
        started = time.monotonic()
        deadline = started + budget_s
        watch_until = min(deadline, started + watch_s)
        republished = 0
        while time.monotonic() < deadline:
            pending = self.store.pending_outbox(older_than_s=older_than_s, limit=limit)
            acked = self._publisher.publish(pending) if pending else []
            self.store.mark_published(acked)
            republished += len(acked)
            if pending and len(acked) == len(pending):
                continue  # maybe more behind this batch
            if time.monotonic() + poll_s >= watch_until:
                break  # nothing left (or the broker is struggling) and no time to watch: the next run takes over
            sleep(poll_s)
        self.store.prune_outbox()
        return republished


def question_closed(
    quiz_id: str, question: Question, answered: bool, correct: bool, points: int, score: int, solution: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A player's question_closed frame: the solution (``question.solution()`` unless given, as a close
    of the whole room gives it once) and their own result (no answer = 0 points)."""
    return {
        "type": "question_closed",
        "quiz_id": quiz_id,
        "question_id": question.position,
        **(question.solution() if solution is None else solution),
        "your_result": {"answered": answered, "correct": correct, "points": points, "score": score},
    }


def question_opened(quiz: Quiz, now: datetime) -> dict[str, Any]:
    current = quiz.current
    assert current is not None and current.deadline is not None and current.opened_at is not None
    return {
        "type": "question_opened",
        "quiz_id": quiz.id,
        "question": current.question.public(),
        "question_count": quiz.question_count,
        "opened_at": current.opened_at.isoformat(),
        "deadline": current.deadline.isoformat(),
        "remaining_ms": current.remaining_ms(now),
        "server_time": now.isoformat(),
    }
