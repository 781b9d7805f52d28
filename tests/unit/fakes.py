"""In-memory fakes of the quiz service's and the leaderboard's ports, for unit tests (never shipped in the layer).

They keep the adapters' contracts where the services rely on them: the store runs the service's guard on
the quiz it changes, writes an outbox event with every change others must hear about, judges answers with
the real `judge` and replays them by idempotency key; the board applies only newer versions and ranks with
the domain's ordering. Time is the store's own (`now`), moved by the test.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from quiz.errors import Conflict, NotFound
from quiz.leaderboard.domain import BoardView, Climber, Pace, ScoreEvent, Standing, ranked_order
from quiz.ports import Frame, QuizPush
from quiz.quizzes.domain import (
    AnswerResult,
    Participant,
    QuestionRound,
    Quiz,
    QuizDraft,
    question_closed_event,
    score_event,
)
from quiz.quizzes.errors import IdempotencyKeyReused, NoMoreQuestions, NotAParticipant, QuizEnded, QuizLocked, RemovedFromQuiz
from quiz.quizzes.judging import QuestionTimes, StreakSoFar, judge
from quiz.quizzes.outbox import OutboxEvent, new_event_id
from quiz.quizzes.ports import ClosedQuestion, Guard, RecordedAnswer

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TOPIC = "quiz.scores"

# ------------------------------------------------------------------ the quiz service's ports


@dataclass
class _Seat:
    participant: Participant
    streak: int = 0
    last_correct_position: int = 0


@dataclass
class _Answer:
    position: int
    user_id: str
    key: str | None
    given: Any
    result: AnswerResult


@dataclass
class FakeQuizStore:
    """`QuizStore` in memory. Quiz ids are handed out in order (Q00001, ...)."""

    now: datetime = START
    quizzes: dict[str, Quiz] = field(default_factory=dict)
    seats: dict[str, dict[str, _Seat]] = field(default_factory=dict)
    answers: dict[str, list[_Answer]] = field(default_factory=dict)
    outbox: dict[int, OutboxEvent] = field(default_factory=dict)
    published: set[int] = field(default_factory=set)
    to_mark_later: list[int] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    # ---------------------------------------------------------------- reading

    def _quiz(self, quiz_id: str) -> Quiz:
        if quiz_id not in self.quizzes:
            raise NotFound(f"no quiz with id {quiz_id}")
        return self.quizzes[quiz_id]

    def get(self, quiz_id: str) -> tuple[Quiz, datetime]:
        return self._quiz(quiz_id), self.now

    def list_hosted(self, host_id: str) -> list[dict[str, Any]]:
        return [{"quiz_id": q.id, "title": q.title, "status": q.status} for q in self.quizzes.values() if q.host_id == host_id]

    def participant(self, quiz_id: str, user_id: str) -> Participant | None:
        seat = self.seats.get(quiz_id, {}).get(user_id)
        return seat.participant if seat else None

    def participants(self, quiz_id: str) -> list[Participant]:
        active = [s.participant for s in self.seats.get(quiz_id, {}).values() if s.participant.status == "active"]
        order = ranked_order([(p.user_id, p.score, int(p.reached_at.timestamp() * 1000)) for p in active])
        by_user = {p.user_id: p for p in active}
        return [by_user[u] for u in order]

    def active_scores(self, quiz_id: str) -> Mapping[str, int]:
        return {
            s.participant.user_id: s.participant.score for s in self.seats.get(quiz_id, {}).values() if s.participant.status == "active"
        }

    def answers_for(self, quiz_id: str, position: int) -> Mapping[str, Mapping[str, Any]]:
        return {
            a.user_id: {"correct": a.result.correct, "points": a.result.points, "total_after": a.result.score, "given": a.given}
            for a in self.answers.get(quiz_id, [])
            if a.position == position
        }

    # ---------------------------------------------------------------- authoring

    def create(self, host_id: str, draft: QuizDraft) -> str:
        quiz_id = f"Q{len(self.quizzes) + 1:05d}"
        rounds = tuple(QuestionRound(q, None, None, None) for q in draft.questions)
        self.quizzes[quiz_id] = Quiz(quiz_id, host_id, draft.title, "open", False, draft.streak_bonus, 0, rounds, self.now)
        return quiz_id

    def replace_draft(self, quiz_id: str, draft: QuizDraft, guard: Guard) -> None:
        quiz = self._quiz(quiz_id)
        guard(quiz)
        quiz.require_editable()
        rounds = tuple(QuestionRound(q, None, None, None) for q in draft.questions)
        self.quizzes[quiz_id] = replace(quiz, title=draft.title, streak_bonus=draft.streak_bonus, rounds=rounds)

    def set_locked(self, quiz_id: str, locked: bool, guard: Guard) -> None:
        quiz = self._quiz(quiz_id)
        guard(quiz)
        self.quizzes[quiz_id] = replace(quiz, locked=locked)

    # ---------------------------------------------------------------- players

    def _enqueue(self, quiz_id: str, payload: dict[str, Any]) -> OutboxEvent:
        event = OutboxEvent(next(self._ids), payload["event_id"], TOPIC, quiz_id, payload, {})
        self.outbox[event.id] = event
        return event

    def _score(self, quiz_id: str, p: Participant, reason: str, **extra: Any) -> OutboxEvent:
        payload = score_event(
            event_id=new_event_id(),
            quiz_id=quiz_id,
            user_id=p.user_id,
            display_name=p.display_name,
            total=p.score,
            version=p.version,
            reached_at=p.reached_at,
            reason=reason,
            **extra,
        )
        return self._enqueue(quiz_id, payload)

    def join(self, quiz_id: str, user_id: str, display_name: str) -> tuple[Participant, OutboxEvent | None]:
        quiz = self._quiz(quiz_id)
        seats = self.seats.setdefault(quiz_id, {})
        if user_id in seats:
            if seats[user_id].participant.status == "removed":
                raise RemovedFromQuiz()
            self.mark_published([])  # rows left to mark ride along with the join's transaction
            return seats[user_id].participant, None
        if quiz.status == "ended":
            raise QuizEnded()
        if quiz.locked:
            raise QuizLocked()
        p = Participant(user_id, display_name, "active", 0, 1, self.now, self.now)
        seats[user_id] = _Seat(p)
        self.mark_published([])
        return p, self._score(quiz_id, p, "joined")

    def remove(self, quiz_id: str, user_id: str, guard: Guard) -> OutboxEvent:
        guard(self._quiz(quiz_id))
        seat = self.seats.get(quiz_id, {}).get(user_id)
        if seat is None or seat.participant.status != "active":
            raise NotFound("that player is not in this quiz")
        seat.participant = replace(seat.participant, status="removed", version=seat.participant.version + 1)
        return self._score(quiz_id, seat.participant, "removed", removed=True)

    # ---------------------------------------------------------------- pacing

    def _close_current(self, quiz: Quiz, at: datetime) -> tuple[Quiz, ClosedQuestion | None]:
        r = quiz.current
        if r is None or r.opened_at is None or r.closed_at is not None:
            return quiz, None
        assert r.deadline is not None
        closed_at = min(at, r.deadline)
        quiz = _with_round(quiz, quiz.current_position, replace(r, closed_at=closed_at))
        marker = question_closed_event(event_id=new_event_id(), quiz_id=quiz.id, question_id=quiz.current_position, closed_at=closed_at)
        return quiz, ClosedQuestion(quiz.current_position, self._enqueue(quiz.id, marker))

    def advance(self, quiz_id: str, guard: Guard, *, start: bool, expected: int | None = None) -> tuple[Quiz, ClosedQuestion | None, bool]:
        quiz = self._quiz(quiz_id)
        guard(quiz)
        if expected is not None and quiz.current_position > expected and quiz.status != "open":
            return quiz, None, False
        if start and quiz.status != "open":
            raise Conflict("the quiz has already started")
        if not start and quiz.status != "running":
            raise Conflict("the quiz is not running")
        if quiz.current_position >= quiz.question_count:
            raise NoMoreQuestions()
        quiz, closed = self._close_current(quiz, self.now)
        position = quiz.current_position + 1
        nxt = quiz.round(position)
        assert nxt is not None
        opened = replace(nxt, opened_at=self.now, deadline=self.now + timedelta(milliseconds=nxt.question.time_limit_ms))
        quiz = replace(_with_round(quiz, position, opened), status="running", current_position=position)
        self.quizzes[quiz_id] = quiz
        return quiz, closed, True

    def end(self, quiz_id: str, guard: Guard) -> tuple[Quiz, ClosedQuestion | None]:
        quiz = self._quiz(quiz_id)
        guard(quiz)
        if quiz.status == "ended":
            raise Conflict("the quiz has already ended")
        quiz, closed = self._close_current(quiz, self.now)
        self.quizzes[quiz_id] = quiz = replace(quiz, status="ended")
        return quiz, closed

    def seconds_to_deadline(self, quiz_id: str, position: int) -> float | None:
        r = self._quiz(quiz_id).round(position)
        if r is None or r.closed_at is not None or r.deadline is None:
            return None
        return (r.deadline - self.now).total_seconds()

    def close_if_due(self, quiz_id: str, position: int) -> ClosedQuestion | None:
        quiz = self._quiz(quiz_id)
        r = quiz.round(position)
        if r is None or r.closed_at is not None or r.deadline is None or r.deadline > self.now or position != quiz.current_position:
            return None
        quiz, closed = self._close_current(quiz, r.deadline)
        self.quizzes[quiz_id] = quiz
        return closed

    # ---------------------------------------------------------------- answers

    def record_answer(
        self, quiz_id: str, position: int, user_id: str, given: Any, idempotency_key: str | None, *, received_at: datetime | None = None
    ) -> RecordedAnswer:
        quiz = self._quiz(quiz_id)
        answers = self.answers.setdefault(quiz_id, [])
        prior = next((a for a in answers if a.user_id == user_id and idempotency_key is not None and a.key == idempotency_key), None)
        if prior is not None:
            if prior.position != position or json.dumps(prior.given) != json.dumps(given):
                raise IdempotencyKeyReused()
            return RecordedAnswer(replace(prior.result, replayed=True), None)
        seat = self.seats.get(quiz_id, {}).get(user_id)
        if seat is None or seat.participant.status != "active":
            raise NotAParticipant()
        r = quiz.round(position)
        if r is None:
            raise NotFound(f"this quiz has no question {position}")
        verdict = judge(
            r.question,
            given,
            QuestionTimes(r.opened_at, r.deadline, r.closed_at),
            received_at=received_at,
            now=self.now,
            already_answered=any(a.user_id == user_id and a.position == position for a in answers),
            before=StreakSoFar(seat.streak, seat.last_correct_position),
            streak_bonus=quiz.streak_bonus,
        )
        p = seat.participant
        p = replace(
            p, score=p.score + verdict.points, version=p.version + 1, reached_at=verdict.answered_at if verdict.points else p.reached_at
        )
        seat.participant, seat.streak = p, verdict.streak
        if verdict.correct:
            seat.last_correct_position = position
        result = AnswerResult(quiz_id, position, verdict.correct, verdict.points, p.score, verdict.elapsed_ms, verdict.streak)
        answers.append(_Answer(position, user_id, idempotency_key, verdict.given, result))
        event = self._score(quiz_id, p, "answer", question_id=position, points=verdict.points, correct=verdict.correct)
        return RecordedAnswer(result, event, r.question if verdict.after_close else None)

    # ---------------------------------------------------------------- outbox

    def pending_outbox(self, *, older_than_s: float, limit: int = 500) -> list[OutboxEvent]:
        return [e for i, e in sorted(self.outbox.items()) if i not in self.published][:limit]

    def drain_outbox(
        self, publish: Callable[[list[OutboxEvent]], list[int]], *, exclude: list[int], older_than_s: float, limit: int = 200
    ) -> tuple[int, int]:
        rows = [e for e in self.pending_outbox(older_than_s=older_than_s) if e.id not in exclude and e.id not in self.to_mark_later]
        rows = rows[:limit]
        if not rows:
            return 0, 0
        acked = publish(rows)
        self.published.update(acked)
        return len(rows), len(acked)

    def prune_outbox(self, *, older_than_days: int = 7, limit: int = 10_000) -> int:
        return 0

    def mark_published(self, ids: list[int]) -> None:
        self.published.update([*ids, *self.to_mark_later])
        self.to_mark_later.clear()

    def mark_published_later(self, ids: list[int]) -> None:
        self.to_mark_later.extend(ids)


def _with_round(quiz: Quiz, position: int, new: QuestionRound) -> Quiz:
    rounds = list(quiz.rounds)
    rounds[position - 1] = new
    return replace(quiz, rounds=tuple(rounds))


@dataclass
class FakePublisher:
    """`ScorePublisher`: acknowledges everything unless `down`."""

    down: bool = False
    sent: list[OutboxEvent] = field(default_factory=list)

    def publish(self, events: list[OutboxEvent]) -> list[int]:
        if self.down:
            return []
        self.sent.extend(events)
        return [e.id for e in events]


@dataclass
class FakeTimer:
    """`QuestionTimer`: remembers what it was asked to close, and when."""

    scheduled: list[tuple[str, int, datetime]] = field(default_factory=list)

    def close_at(self, quiz_id: str, position: int, deadline: datetime) -> None:
        self.scheduled.append((quiz_id, position, deadline))


# ------------------------------------------------------------------ the one notifier


@dataclass
class FakeNotifier:
    """`Notifier`: every frame, by quiz and by player, as the connections would have received it."""

    to_everyone: list[tuple[str, Frame]] = field(default_factory=list)
    personal: list[tuple[str, str, Frame]] = field(default_factory=list)  # (quiz, user, frame)
    pushes: list[QuizPush] = field(default_factory=list)
    unsubscribed: list[tuple[str, str]] = field(default_factory=list)
    audience: int = 3  # connections each quiz has, as `deliver` reports them
    broken: bool = False

    def to_quiz(self, quiz_id: str, frame: Frame) -> int:
        if self.broken:
            raise ConnectionError("the gateway is down")
        self.to_everyone.append((quiz_id, frame))
        return self.audience

    def to_players(self, quiz_id: str, frames: Mapping[str, Frame]) -> int:
        if self.broken:
            raise ConnectionError("the gateway is down")
        self.personal.extend((quiz_id, user, frame) for user, frame in frames.items())
        return len(frames)

    def deliver(self, pushes: Sequence[QuizPush]) -> dict[str, int]:
        self.pushes.extend(pushes)
        for p in pushes:
            self.personal.extend((p.quiz_id, user, frame) for user, frame in p.personal.items())
        return {p.quiz_id: self.audience for p in pushes}

    def unsubscribe(self, quiz_id: str, user_id: str) -> None:
        self.unsubscribed.append((quiz_id, user_id))

    def frames_of(self, user_id: str, kind: str) -> list[Frame]:
        return [f for _, u, f in self.personal if u == user_id and f.get("type") == kind]

    def boards(self) -> list[Frame]:
        return [p.board for p in self.pushes if p.board is not None]


# ------------------------------------------------------------------ the leaderboard's ports


@dataclass
class _Entry:
    version: int
    total: int
    reached_ms: int
    name: str
    removed: bool


@dataclass
class FakeBoard:
    """`Board` in memory: per quiz, each player's newest version; ranks with the domain's ordering."""

    entries: dict[str, dict[str, _Entry]] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)
    seqs: dict[str, int] = field(default_factory=dict)
    pushed: dict[str, tuple[int, int]] = field(default_factory=dict)  # quiz -> (at ms, audience)
    held: set[str] = field(default_factory=set)
    ticks: set[str] = field(default_factory=set)

    def missing(self, quiz_ids: Iterable[str]) -> list[str]:
        return [q for q in quiz_ids if q not in self.ready]

    def apply(self, by_quiz: dict[str, list[ScoreEvent]]) -> dict[str, list[str]]:
        changed: dict[str, list[str]] = {}
        for quiz_id, events in by_quiz.items():
            board = self.entries.setdefault(quiz_id, {})
            for e in events:
                cur = board.get(e.user_id)
                if cur is None or cur.version < e.version:
                    board[e.user_id] = _Entry(e.version, e.score, e.reached_ms, e.display_name, e.removed)
                    changed.setdefault(quiz_id, []).append(e.user_id)
        return changed

    def mark_ready(self, quiz_id: str) -> None:
        self.ready.add(quiz_id)

    def ranked(self, quiz_id: str, limit: int | None = None) -> list[Standing]:
        live = {u: e for u, e in self.entries.get(quiz_id, {}).items() if not e.removed}
        order = ranked_order([(u, e.total, e.reached_ms) for u, e in live.items()])
        out = [Standing(i, u, live[u].name, live[u].total) for i, u in enumerate(order, 1)]
        return out if limit is None else out[:limit]

    def views(self, moved: dict[str, list[str]], top_n: int, *, frames: Iterable[str] = ()) -> dict[str, BoardView]:
        numbered = set(frames)
        views = {}
        for quiz_id, users in moved.items():
            seq = 0
            if quiz_id in numbered:
                seq = self.seqs[quiz_id] = self.seqs.get(quiz_id, 0) + 1
            ranked = self.ranked(quiz_id)
            by_user = {s.user_id: s for s in ranked}
            climbers = []
            for u in users:
                if u in by_user:
                    me = by_user[u]
                    above = ranked[me.rank - 2] if me.rank > 1 else None
                    climbers.append(Climber(me, above.score if above else None, above.display_name if above else None))
            views[quiz_id] = BoardView(quiz_id, seq, len(ranked), ranked[:top_n], climbers)
        return views

    def pace_state(self, quiz_ids: list[str]) -> dict[str, Pace]:
        out = {}
        for q in quiz_ids:
            at, audience = self.pushed.get(q, (None, 0))
            out[q] = Pace(at, audience, q in self.held)
        return out

    def hold(self, quiz_ids: list[str], tick_ttl_ms: int) -> list[str]:
        self.held.update(quiz_ids)
        new = [q for q in quiz_ids if q not in self.ticks]
        self.ticks.update(new)
        return new

    def ticks_arrived(self, quiz_ids: list[str]) -> None:
        self.ticks.difference_update(quiz_ids)

    def record_pushes(self, pushed: dict[str, int], *, at_ms: int) -> None:
        for q, audience in pushed.items():
            self.pushed[q] = (at_ms, audience)
            self.held.discard(q)


@dataclass
class FakeStandings:
    """`Standings`: the committed totals a lost board is rebuilt from, and what was persisted."""

    truth: dict[str, list[ScoreEvent]] = field(default_factory=dict)
    roles: dict[tuple[str, str], str] = field(default_factory=dict)  # (quiz, user) -> "host" | "player"
    persisted: dict[tuple[str, str], ScoreEvent] = field(default_factory=dict)

    def persist(self, events: list[ScoreEvent]) -> None:
        for e in events:
            cur = self.persisted.get((e.quiz_id, e.user_id))
            if cur is None or cur.version < e.version:
                self.persisted[(e.quiz_id, e.user_id)] = e

    def viewer_role(self, quiz_id: str, user_id: str) -> str | None:
        if not any(q == quiz_id for q, _ in self.roles):
            raise NotFound(f"no quiz with id {quiz_id}")
        return self.roles.get((quiz_id, user_id))

    def source_of_truth(self, quiz_id: str) -> list[ScoreEvent]:
        return list(self.truth.get(quiz_id, []))


@dataclass
class FakeTicker:
    ticked: list[str] = field(default_factory=list)

    def tick(self, quiz_ids: list[str]) -> None:
        self.ticked.extend(quiz_ids)
