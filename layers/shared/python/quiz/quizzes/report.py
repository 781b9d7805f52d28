"""After the quiz: the host's report and a learner's missed words, computed from the rows PostgreSQL
recorded. Pure (no I/O): the adapter reads the rows, this module only counts.

The ranking is the leaderboard's one definition (`quiz.leaderboard.domain.rank_key`: score, then who
reached it first to the millisecond, then the user id). The quizzes package may not import the
leaderboard's (tests/unit/test_dependency_direction.py), so the composition root hands it in as a
`RankKey` and every ranking here goes through it.

Vocabulary: `score` is a player's points so far, `player_count` the number of players, durations are
milliseconds (`_ms`). Players the host removed are not in the report, nor are their answers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from quiz.quizzes.domain import Question, QuestionRound, Quiz
from quiz.quizzes.matching import normalise

RankKey = Callable[[str, int, int], tuple[int, str]]
"""(user id, score, reached_ms) -> a key; a higher key ranks higher (the leaderboard's `rank_key`)."""

WRONG_SPELLINGS = 5  # the most common wrong typed answers shown per question


# ------------------------------------------------------------------ rows, as the store recorded them


# A large quiz has thousands of players and tens of thousands of answers. PostgreSQL counts them (in C,
# next to the data) into a row per player and a row per distinct answer to a question; what is decided
# here (ranking, rounding, accuracy, the distribution, normalised spellings) is decided on those rows.


@dataclass(frozen=True)
class PlayerRow:
    """An active player's seat and the tally of their answers: how many, how many right, the sum of
    their answer times and the longest streak any answer reached."""

    user_id: str
    display_name: str
    score: int
    reached_ms: int  # when they reached their score, to the ms (the ranking's tie-break)
    answered: int = 0
    correct: int = 0
    elapsed_ms: int = 0
    longest_streak: int = 0


@dataclass(frozen=True)
class AnswerGroup:
    """The active players' answers to one question that gave the same answer (a choice index or the text
    as typed): whether it was judged right, and each one's answer time."""

    question_id: int
    given: str | int
    correct: bool
    elapsed_ms: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.elapsed_ms)


class AnswerRow(NamedTuple):
    """One recorded answer, as the CSV table of answers lists it (a named tuple: 50,000 of them are cheap)."""

    user_id: str
    question_id: int
    given: str | int
    correct: bool
    points: int
    elapsed_ms: int
    streak_after: int


@dataclass(frozen=True)
class SessionRows:
    """Everything a report needs beyond the quiz itself, read in one snapshot."""

    started_at: datetime | None
    ended_at: datetime | None
    players: tuple[PlayerRow, ...]
    answers: tuple[AnswerGroup, ...]


@dataclass(frozen=True)
class PlayedQuestion:
    """A question of a quiz the learner played, with their own answer (None: not answered)."""

    round: QuestionRound
    given: str | int | None
    correct: bool


@dataclass(frozen=True)
class PlayedQuiz:
    """A quiz the learner played: their seat, and what ranking them needs without reading the whole room:
    how many players have a higher score, and the (user id, reached_ms) of those on the same score."""

    quiz_id: str
    title: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    user_id: str
    score: int
    reached_ms: int
    joined_at: datetime | None
    player_count: int
    higher: int
    tied: tuple[tuple[str, int], ...]
    questions: tuple[PlayedQuestion, ...]


# ------------------------------------------------------------------ small rules


def median_ms(values: Iterable[int]) -> int | None:
    """The median (half-up to a whole ms for an even count); None for no values."""
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid] + 1) // 2


def mean_ms(total_ms: int, count: int) -> int | None:
    """The mean of ``count`` times adding up to ``total_ms``, half-up to a whole ms; None for no times."""
    return (2 * total_ms + count) // (2 * count) if count else None


def right_answer(question: Question) -> str:
    """The answer a learner should remember: the correct choice, or the first accepted spelling."""
    if question.kind == "multiple_choice":
        assert question.correct_choice is not None
        return question.choices[question.correct_choice]
    return question.accepted_answers[0]


def answer_text(question: Question, given: str | int | None) -> str | None:
    """What the player answered, in words (the choice's text for a choice question)."""
    if given is None:
        return None
    if question.kind == "multiple_choice" and isinstance(given, int) and 0 <= given < len(question.choices):
        return question.choices[given]
    return str(given)


def rank_among(me: tuple[str, int, int], higher: int, tied: Iterable[tuple[str, int]], rank_key: RankKey) -> int:
    """A player's rank from the count of players with a higher score and the players on the same score."""
    user_id, score, reached_ms = me
    mine = rank_key(user_id, score, reached_ms)
    return 1 + higher + sum(1 for other, ms in tied if rank_key(other, score, ms) > mine)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


# ------------------------------------------------------------------ the host's report


@dataclass(frozen=True)
class ChoiceCount:
    choice: int
    text: str
    correct: bool
    count: int

    def body(self) -> dict[str, Any]:
        return {"choice": self.choice, "text": self.text, "correct": self.correct, "count": self.count}


@dataclass(frozen=True)
class Spelling:
    """A wrong typed answer, normalised as matching normalises it, and how many gave it."""

    answer: str
    count: int

    def body(self) -> dict[str, Any]:
        return {"answer": self.answer, "count": self.count}


@dataclass(frozen=True)
class QuestionReport:
    question: Question
    opened: bool
    answered: int
    correct: int
    median_answer_ms: int | None
    choices: tuple[ChoiceCount, ...]  # choice questions: every choice, the wrong ones too
    wrong_answers: tuple[Spelling, ...]  # typed questions: the most common wrong spellings

    @property
    def accuracy(self) -> float | None:
        """Correct answers among the answers given (None when nobody answered)."""
        return round(self.correct / self.answered, 4) if self.answered else None

    def body(self) -> dict[str, Any]:
        q = self.question
        out: dict[str, Any] = {
            **_what_was_asked(q),
            "correct_answer": right_answer(q),
            **q.solution(),
            "opened": self.opened,
            "answered": self.answered,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "median_answer_ms": self.median_answer_ms,
        }
        if q.kind == "multiple_choice":
            out["choices"] = [c.body() for c in self.choices]
        else:
            out["wrong_answers"] = [s.body() for s in self.wrong_answers]
        return out


@dataclass(frozen=True)
class PlayerReport:
    rank: int
    user_id: str
    display_name: str
    score: int
    answered: int
    correct: int
    average_answer_ms: int | None
    longest_streak: int

    def body(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "user_id": self.user_id,
            "display_name": self.display_name,
            "score": self.score,
            "answered": self.answered,
            "correct": self.correct,
            "average_answer_ms": self.average_answer_ms,
            "longest_streak": self.longest_streak,
        }


@dataclass(frozen=True)
class Report:
    """A quiz session's report, per question and per player."""

    quiz_id: str
    title: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    questions: tuple[QuestionReport, ...]
    players: tuple[PlayerReport, ...]

    @property
    def player_count(self) -> int:
        return len(self.players)

    def body(self) -> dict[str, Any]:
        return {
            "quiz_id": self.quiz_id,
            "title": self.title,
            "status": self.status,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "question_count": len(self.questions),
            "player_count": self.player_count,
            "questions": [q.body() for q in self.questions],
            "players": [p.body() for p in self.players],
        }


def _question_report(r: QuestionRound, groups: list[AnswerGroup]) -> QuestionReport:
    q = r.question
    choices: tuple[ChoiceCount, ...] = ()
    spellings: tuple[Spelling, ...] = ()
    if q.kind == "multiple_choice":
        picked: Counter[str | int] = Counter()
        for g in groups:
            picked[g.given] += g.count
        choices = tuple(ChoiceCount(i, text, i == q.correct_choice, picked[i]) for i, text in enumerate(q.choices))
    else:
        wrong: Counter[str] = Counter()
        for g in groups:
            if not g.correct:
                wrong[normalise(str(g.given))] += g.count
        # most given first; equal counts in alphabetical order, so the list is stable
        spellings = tuple(Spelling(text, n) for text, n in sorted(wrong.items(), key=lambda kv: (-kv[1], kv[0]))[:WRONG_SPELLINGS])
    return QuestionReport(
        question=q,
        opened=r.opened_at is not None,
        answered=sum(g.count for g in groups),
        correct=sum(g.count for g in groups if g.correct),
        median_answer_ms=median_ms(ms for g in groups for ms in g.elapsed_ms),
        choices=choices,
        wrong_answers=spellings,
    )


def build_report(quiz: Quiz, rows: SessionRows, *, rank_key: RankKey) -> Report:
    """The report of one quiz session from its rows."""
    ranked = sorted(rows.players, key=lambda p: rank_key(p.user_id, p.score, p.reached_ms), reverse=True)
    by_question: dict[int, list[AnswerGroup]] = {}
    for g in rows.answers:
        by_question.setdefault(g.question_id, []).append(g)
    return Report(
        quiz_id=quiz.id,
        title=quiz.title,
        status=quiz.status,
        started_at=rows.started_at,
        ended_at=rows.ended_at,
        questions=tuple(_question_report(r, by_question.get(r.question.position, [])) for r in quiz.rounds),
        players=tuple(
            PlayerReport(
                rank=rank,
                user_id=p.user_id,
                display_name=p.display_name,
                score=p.score,
                answered=p.answered,
                correct=p.correct,
                average_answer_ms=mean_ms(p.elapsed_ms, p.answered),
                longest_streak=p.longest_streak,
            )
            for rank, p in enumerate(ranked, 1)
        ),
    )


# ------------------------------------------------------------------ the learner's review list


@dataclass(frozen=True)
class MissedWord:
    question: Question
    given: str | int | None

    def body(self) -> dict[str, Any]:
        q = self.question
        out: dict[str, Any] = {
            **_what_was_asked(q),
            "your_answer": answer_text(q, self.given),
            "correct_answer": right_answer(q),
        }
        if q.kind == "typed":
            out["accepted_answers"] = list(q.accepted_answers)
        return out


def revealed(r: QuestionRound, now: datetime) -> bool:
    """Whether the question's answer may be shown to players: it has closed (by the host or its deadline).
    A question still open never is: the review list must not become a way to cheat a running quiz."""
    if r.opened_at is None:
        return False
    return r.closed_at is not None or (r.deadline is not None and now >= r.deadline)


def missed_words(questions: Iterable[PlayedQuestion], now: datetime, joined_at: datetime | None = None) -> list[MissedWord]:
    """The words a player missed: each closed question they answered wrong or did not answer, unless it
    had closed before they joined (they never saw it)."""
    missed = []
    for pq in questions:
        r = pq.round
        if not revealed(r, now) or pq.correct:
            continue
        ended = r.closed_at or r.deadline
        if joined_at is not None and ended is not None and ended <= joined_at:
            continue
        missed.append(MissedWord(r.question, pq.given))
    return missed


@dataclass(frozen=True)
class QuizResult:
    """One quiz in a learner's results: where they finished and the words to practise."""

    played: PlayedQuiz
    rank: int
    missed: tuple[MissedWord, ...]

    def body(self) -> dict[str, Any]:
        p = self.played
        return {
            "quiz_id": p.quiz_id,
            "title": p.title,
            "status": p.status,
            "started_at": _iso(p.started_at),
            "ended_at": _iso(p.ended_at),
            "score": p.score,
            "rank": self.rank,
            "player_count": p.player_count,
            "missed_words": [m.body() for m in self.missed],
        }


def quiz_result(played: PlayedQuiz, now: datetime, *, rank_key: RankKey) -> QuizResult:
    rank = rank_among((played.user_id, played.score, played.reached_ms), played.higher, played.tied, rank_key)
    return QuizResult(played, rank, tuple(missed_words(played.questions, now, played.joined_at)))


def _what_was_asked(q: Question) -> dict[str, Any]:
    return {"question_id": q.position, "kind": q.kind, "prompt": q.prompt}
