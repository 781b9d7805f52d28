"""The report as CSV, for an operator's spreadsheet. Pure.

One response holds one table (RFC 4180, UTF-8, CRLF line ends, a header row), chosen by the query
parameter ``table``: ``players`` (the default: the standings with each player's figures), ``questions``
(one row per question, its answer distribution in one column) or ``answers`` (one row per recorded
answer). One plain table opens as it is in any spreadsheet; a zip would need unpacking first.

A client asks for CSV with ``Accept: text/csv`` (`wants_csv`); JSON stays the default.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from quiz.errors import ValidationFailed
from quiz.quizzes.report import AnswerRow, QuestionReport, Report, answer_text, right_answer

CsvTableName = Literal["players", "questions", "answers"]
TABLES: tuple[CsvTableName, ...] = ("players", "questions", "answers")
DEFAULT_TABLE: CsvTableName = "players"
CONTENT_TYPE = "text/csv; charset=utf-8"

# A spreadsheet runs a cell that starts with one of these as a formula: a display name or a typed answer
# is the player's text, so it is written with a leading apostrophe (OWASP's advice for CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvTable:
    """One table of a report, ready to send: the file name the download should get, and its text."""

    filename: str
    text: str

    @property
    def headers(self) -> dict[str, str]:
        # Vary: the same URL answers JSON or CSV by the Accept header, and a cache must keep them apart.
        return {"content-type": CONTENT_TYPE, "content-disposition": f'attachment; filename="{self.filename}"', "vary": "Accept"}


def table_name(raw: str | None) -> CsvTableName:
    """The table a request asked for (``?table=``), or a 400 naming the ones there are."""
    if raw is None or raw == "":
        return DEFAULT_TABLE
    for name in TABLES:
        if raw == name:
            return name
    raise ValidationFailed(f"table must be one of {', '.join(TABLES)}", details={"field": "table", "allowed": list(TABLES)})


def wants_csv(accept: str | None) -> bool:
    """Whether an Accept header prefers CSV: it names ``text/csv`` with a q-value above that of
    ``application/json`` (absent: 0). Anything else, wildcards included, gets the default, JSON."""
    if not accept:
        return False
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (s.strip() for s in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[media.lower()] = max(q, weights.get(media.lower(), 0.0))
    return weights.get("text/csv", 0.0) > weights.get("application/json", 0.0)


def _text(value: str | None) -> str:
    """A cell of text someone typed (a name, an answer): never a formula."""
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _render(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)  # None is written as an empty cell
    return out.getvalue()


def _distribution(q: QuestionReport) -> str:
    """The answers given, in one cell: ``joyful: 3 | glum: 1`` (typed questions: the wrong spellings)."""
    if q.question.kind == "multiple_choice":
        return " | ".join(f"{c.text}: {c.count}" for c in q.choices)
    return " | ".join(f"{s.answer}: {s.count}" for s in q.wrong_answers)


def csv_table(report: Report, table: CsvTableName, answers: Iterable[AnswerRow] = ()) -> CsvTable:
    """One table of the report as CSV; the table of answers lists ``answers`` (of the report's players)."""
    filename = f"quiz-{report.quiz_id}-{table}.csv"
    if table == "players":
        header = ["rank", "user_id", "display_name", "score", "answered", "correct", "average_answer_ms", "longest_streak"]
        body: list[list[Any]] = [
            [p.rank, p.user_id, _text(p.display_name), p.score, p.answered, p.correct, p.average_answer_ms, p.longest_streak]
            for p in report.players
        ]
    elif table == "questions":
        header = ["question_id", "kind", "prompt", "correct_answer", "answered", "correct", "accuracy", "median_answer_ms", "distribution"]
        body = [
            [
                q.question.position,
                q.question.kind,
                _text(q.question.prompt),
                _text(right_answer(q.question)),
                q.answered,
                q.correct,
                q.accuracy,
                q.median_answer_ms,
                _text(_distribution(q)),
            ]
            for q in report.questions
        ]
    else:
        # A large quiz has 50,000 answers but a few thousand names and a few distinct answers per question:
        # each is put in words and escaped once.
        rank = {p.user_id: p.rank for p in report.players}
        name = {p.user_id: _text(p.display_name) for p in report.players}
        questions = {q.question.position: q.question for q in report.questions}
        kept = sorted((a for a in answers if a.user_id in rank), key=lambda a: (a.question_id, rank[a.user_id]))
        words = {(q, g): _text(answer_text(questions[q], g)) for q, g in {(a.question_id, a.given) for a in kept}}
        header = ["question_id", "user_id", "display_name", "answer", "correct", "points", "elapsed_ms", "streak_after"]
        body = [
            [
                a.question_id,
                a.user_id,
                name[a.user_id],
                words[a.question_id, a.given],
                "true" if a.correct else "false",
                a.points,
                a.elapsed_ms,
                a.streak_after,
            ]
            for a in kept  # by question, then in rank order
        ]
    return CsvTable(filename, _render(header, body))
