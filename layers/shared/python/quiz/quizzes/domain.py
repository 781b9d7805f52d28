"""The quiz's own words: quizzes, questions, participants, answers, score events. Pure (no I/O)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from quiz.errors import Conflict, ValidationFailed
from quiz.payload import check_text
from quiz.quizzes.matching import MAX_TYPO_TOLERANCE, matches

QuestionKind = Literal["multiple_choice", "typed"]
QuizStatus = Literal["open", "running", "ended"]

# Quiz ids are game PINs: six characters a player can read aloud and type, without 0/O, 1/I/L.
PIN_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
PIN_LENGTH = 6

TITLE_MAX = 120
PROMPT_MAX = 500
CHOICE_MAX = 200
MIN_CHOICES, MAX_CHOICES = 2, 6
MAX_ACCEPTED = 10
MAX_QUESTIONS = 100
TIME_LIMIT_MS = (5_000, 300_000)
POINTS_RANGE = (0, 10_000)
DEFAULT_TIME_LIMIT_MS = 20_000
DEFAULT_POINTS = 1000
MAX_STREAK_BONUS = 500
ANSWER_MAX = 200


def new_quiz_id() -> str:
    return "".join(secrets.choice(PIN_ALPHABET) for _ in range(PIN_LENGTH))


def normalise_quiz_id(raw: str) -> str:
    """Players type PINs in any case and with stray spaces or dashes."""
    return "".join(ch for ch in raw.upper() if ch.isascii() and ch.isalnum())


@dataclass(frozen=True)
class Question:
    position: int
    kind: QuestionKind
    prompt: str
    time_limit_ms: int
    points: int
    choices: tuple[str, ...] = ()
    correct_choice: int | None = None
    accepted_answers: tuple[str, ...] = ()
    typo_tolerance: int = 0

    def is_correct(self, given: str | int) -> bool:
        if self.kind == "multiple_choice":
            return isinstance(given, int) and not isinstance(given, bool) and given == self.correct_choice
        return isinstance(given, str) and matches(given, self.accepted_answers, self.typo_tolerance)

    def check_answer_shape(self, given: Any) -> str | int:
        """The answer as the question expects it, or a 400 that says what was expected."""
        if self.kind == "multiple_choice":
            if isinstance(given, bool) or not isinstance(given, int) or not 0 <= given < len(self.choices):
                raise ValidationFailed(f"answer must be the index of a choice, 0 to {len(self.choices) - 1}", details={"field": "answer"})
            return given
        if not isinstance(given, str) or not given.strip() or len(given) > ANSWER_MAX:
            raise ValidationFailed(f"answer must be a non-empty string of at most {ANSWER_MAX} characters", details={"field": "answer"})
        return given

    def public(self) -> dict[str, Any]:
        """What a player may see while the question is open: never the answer."""
        out: dict[str, Any] = {
            "question_id": self.position,
            "kind": self.kind,
            "prompt": self.prompt,
            "time_limit_ms": self.time_limit_ms,
            "points": self.points,
        }
        if self.kind == "multiple_choice":
            out["choices"] = list(self.choices)
        return out

    def solution(self) -> dict[str, Any]:
        if self.kind == "multiple_choice":
            assert self.correct_choice is not None
            return {"correct_choice": self.correct_choice, "correct_answer": self.choices[self.correct_choice]}
        return {"accepted_answers": list(self.accepted_answers)}

    def full(self) -> dict[str, Any]:
        out = self.public()
        out.update(self.solution())
        if self.kind == "typed":
            out["typo_tolerance"] = self.typo_tolerance
        return out


@dataclass(frozen=True)
class QuizDraft:
    """A validated quiz definition, as the host wrote it."""

    title: str
    questions: tuple[Question, ...]
    streak_bonus: int = 0


def _text(obj: dict[str, Any], name: str, limit: int, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{where}{name} is required and must be a non-empty string", details={"field": f"{where}{name}"})
    value = " ".join(check_text(value, f"{where}{name}").split())
    if len(value) > limit:
        raise ValidationFailed(f"{where}{name} must be at most {limit} characters", details={"field": f"{where}{name}"})
    return value


def _int(obj: dict[str, Any], name: str, default: int, lo: int, hi: int, where: str, unit: str = "") -> int:
    value = obj.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        what = f"an integer number of {unit}" if unit else "an integer"
        raise ValidationFailed(f"{where}{name} must be {what} from {lo} to {hi}", details={"field": f"{where}{name}"})
    return value


def parse_question(raw: Any, position: int) -> Question:
    where = f"questions[{position - 1}]."
    if not isinstance(raw, dict):
        raise ValidationFailed(f"{where[:-1]} must be an object", details={"field": where[:-1]})
    kind = raw.get("kind")
    prompt = _text(raw, "prompt", PROMPT_MAX, where)
    time_limit_ms = _int(raw, "time_limit_ms", DEFAULT_TIME_LIMIT_MS, *TIME_LIMIT_MS, where, unit="milliseconds")
    points = _int(raw, "points", DEFAULT_POINTS, *POINTS_RANGE, where)
    common = {"position": position, "prompt": prompt, "time_limit_ms": time_limit_ms, "points": points}
    if kind == "multiple_choice":
        choices = raw.get("choices")
        if not isinstance(choices, list) or not MIN_CHOICES <= len(choices) <= MAX_CHOICES:
            raise ValidationFailed(
                f"{where}choices must be a list of {MIN_CHOICES} to {MAX_CHOICES} strings", details={"field": f"{where}choices"}
            )
        texts = tuple(_text({"choice": c}, "choice", CHOICE_MAX, f"{where}choices[{i}].") for i, c in enumerate(choices))
        if len({t.casefold() for t in texts}) != len(texts):
            raise ValidationFailed(f"{where}choices must be distinct", details={"field": f"{where}choices"})
        correct = _int(raw, "correct_choice", -1, 0, len(texts) - 1, where)
        return Question(kind="multiple_choice", choices=texts, correct_choice=correct, **common)  # type: ignore[arg-type]
    if kind == "typed":
        accepted = raw.get("accepted_answers")
        if not isinstance(accepted, list) or not 1 <= len(accepted) <= MAX_ACCEPTED:
            raise ValidationFailed(
                f"{where}accepted_answers must be a list of 1 to {MAX_ACCEPTED} strings", details={"field": f"{where}accepted_answers"}
            )
        answers = tuple(_text({"a": a}, "a", ANSWER_MAX, f"{where}accepted_answers[{i}].") for i, a in enumerate(accepted))
        tolerance = _int(raw, "typo_tolerance", 1, 0, MAX_TYPO_TOLERANCE, where)
        return Question(kind="typed", accepted_answers=answers, typo_tolerance=tolerance, **common)  # type: ignore[arg-type]
    raise ValidationFailed(f"{where}kind must be 'multiple_choice' or 'typed'", details={"field": f"{where}kind"})


def parse_draft(body: dict[str, Any]) -> QuizDraft:
    """Validate a quiz definition from a request body; every problem is a 400 naming the field."""
    title = _text(body, "title", TITLE_MAX, "")
    raw_questions = body.get("questions")
    if not isinstance(raw_questions, list) or not 1 <= len(raw_questions) <= MAX_QUESTIONS:
        raise ValidationFailed(f"questions must be a list of 1 to {MAX_QUESTIONS} questions", details={"field": "questions"})
    questions = tuple(parse_question(q, i) for i, q in enumerate(raw_questions, 1))
    streak_bonus = _int(body, "streak_bonus", 0, 0, MAX_STREAK_BONUS, "")
    return QuizDraft(title=title, questions=questions, streak_bonus=streak_bonus)


@dataclass(frozen=True)
class QuestionRound:
    """A question as it is played: when it opened, its deadline, whether it closed."""

    question: Question
    opened_at: datetime | None
    deadline: datetime | None
    closed_at: datetime | None

    def is_open(self, now: datetime) -> bool:
        return self.opened_at is not None and self.closed_at is None and self.deadline is not None and now < self.deadline

    def remaining_ms(self, now: datetime) -> int:
        if not self.is_open(now):
            return 0
        assert self.deadline is not None
        return max(0, int((self.deadline - now).total_seconds() * 1000))


@dataclass(frozen=True)
class Quiz:
    id: str
    host_id: str
    title: str
    status: QuizStatus
    locked: bool
    streak_bonus: int
    current_position: int
    rounds: tuple[QuestionRound, ...] = field(default=())
    created_at: datetime | None = None

    @property
    def question_count(self) -> int:
        return len(self.rounds)

    def round(self, position: int) -> QuestionRound | None:
        return self.rounds[position - 1] if 1 <= position <= len(self.rounds) else None

    @property
    def current(self) -> QuestionRound | None:
        return self.round(self.current_position)

    def require_editable(self) -> None:
        if self.status != "open":
            raise Conflict("a quiz can be edited only before it starts", details={"status": self.status})

    def view(self, now: datetime, *, as_host: bool) -> dict[str, Any]:
        """The quiz as its viewer may see it: the host sees everything; players see closed answers only."""
        questions = []
        for r in self.rounds:
            revealed = as_host or r.closed_at is not None or (r.deadline is not None and now >= r.deadline)
            if not as_host and r.opened_at is None:
                continue  # players do not see questions before they open
            q = r.question.full() if revealed else r.question.public()
            q["state"] = "open" if r.is_open(now) else ("closed" if r.opened_at else "pending")
            if r.opened_at is not None:
                q["opened_at"] = r.opened_at.isoformat()
                q["deadline"] = r.deadline.isoformat() if r.deadline else None
            questions.append(q)
        current = self.current
        return {
            "quiz_id": self.id,
            "title": self.title,
            "host_id": self.host_id,
            "status": self.status,
            "locked": self.locked,
            "streak_bonus": self.streak_bonus,
            "question_count": self.question_count,
            "current_question_id": self.current_position or None,
            "current_question_open": bool(current and current.is_open(now)),
            "remaining_ms": current.remaining_ms(now) if current else 0,
            "questions": questions,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


@dataclass(frozen=True)
class AnswerResult:
    """What the player learns at once: right or wrong, the answer's points, the player's new score."""

    quiz_id: str
    question_id: int
    correct: bool
    points: int
    score: int
    elapsed_ms: int
    streak: int
    replayed: bool = False  # True when an Idempotency-Key retry returned the stored result

    def body(self) -> dict[str, Any]:
        return {
            "quiz_id": self.quiz_id,
            "question_id": self.question_id,
            "correct": self.correct,
            "points": self.points,
            "score": self.score,
            "elapsed_ms": self.elapsed_ms,
            "streak": self.streak,
        }


@dataclass(frozen=True)
class Participant:
    """A player's seat in a quiz: their score so far, its version (one per change) and when they reached it."""

    user_id: str
    display_name: str
    status: str  # "active" or "removed"
    score: int
    version: int
    reached_at: datetime
    joined_at: datetime

    def body(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "display_name": self.display_name, "score": self.score, "joined_at": self.joined_at.isoformat()}


def score_event(
    *,
    event_id: str,
    quiz_id: str,
    user_id: str,
    display_name: str,
    total: int,
    version: int,
    reached_at: datetime,
    reason: str,
    question_id: int | None = None,
    points: int = 0,
    correct: bool | None = None,
    removed: bool = False,
) -> dict[str, Any]:
    """The Kafka score event: the player's ABSOLUTE score (`total` here: the sum of their points) and a per-player version.

    A consumer keeps, per (quiz, player), the event with the highest version, so a replay or a
    reorder can never double-count or lower a score.
    """
    return {
        "type": "score",
        "schema": 1,
        "event_id": event_id,
        "quiz_id": quiz_id,
        "user_id": user_id,
        "display_name": display_name,
        "score": total,
        "version": version,
        "reached_at": reached_at.isoformat(),
        "reason": reason,
        "question_id": question_id,
        "points": points,
        "correct": correct,
        "removed": removed,
    }


def question_closed_event(*, event_id: str, quiz_id: str, question_id: int, closed_at: datetime) -> dict[str, Any]:
    """The marker written to the scores topic (same key, the quiz id) in the transaction that closes a
    question: consumers learn the moment a question closed in order with the quiz's score events."""
    return {
        "type": "question_closed",
        "event_id": event_id,
        "quiz_id": quiz_id,
        "question_id": question_id,
        "closed_at": closed_at.isoformat(),
    }
