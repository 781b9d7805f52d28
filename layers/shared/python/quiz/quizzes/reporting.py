"""After the quiz: the host's report, a learner's results, and playing a finished quiz again. Handlers
call only this (the quiz service keeps authoring, pacing and answers).

Who may see a report is decided as the other host views decide it (`quiz.auth.may_host`, an admin
included). Everyone else is told as little as the other quiz routes tell them: an unknown quiz and one
the caller has nothing to do with are the same 404 `not_found`, so a PIN cannot be probed through this
route; a player of the quiz, who knows it exists, gets 403 `not_quiz_host` like every host-only action.
"""

from __future__ import annotations

from typing import Any

from quiz.auth import Principal, may_host, require_host
from quiz.errors import NotFound
from quiz.quizzes.domain import Quiz, QuizDraft, normalise_quiz_id
from quiz.quizzes.errors import QuizNotEnded
from quiz.quizzes.ports import QuizStore, ReportReader
from quiz.quizzes.report import RankKey, Report, build_report, quiz_result
from quiz.quizzes.report_csv import CsvTable, csv_table, table_name

RESULTS_LIMIT = 50  # the most recent quizzes a learner's results list


class ReportService:
    """The report of a quiz session, a learner's results, and a new session of a finished quiz.

    ``rank_key`` is the leaderboard's ranking (`quiz.leaderboard.domain.rank_key`), given by the
    composition root: the quizzes package does not import the leaderboard's."""

    def __init__(self, reader: ReportReader, quizzes: QuizStore, *, rank_key: RankKey) -> None:
        self._reader = reader
        self._quizzes = quizzes
        self._rank_key = rank_key

    def _hosted(self, principal: Principal, raw_id: str) -> Quiz:
        """The quiz, if the caller hosts it (or is an admin); otherwise the refusal the module describes."""
        quiz_id = normalise_quiz_id(raw_id)
        unknown = NotFound(f"no quiz with id {quiz_id}", details={"quiz_id": quiz_id})
        try:
            quiz, _ = self._quizzes.get(quiz_id)
        except NotFound:
            raise unknown from None
        if not may_host(principal, quiz.host_id, allow_admin=True):
            if self._quizzes.participant(quiz_id, str(principal.user_id)) is None:
                raise unknown
            require_host(principal, quiz.host_id, allow_admin=True)  # a player of this quiz: 403 not_quiz_host
        return quiz

    def report(self, principal: Principal, raw_id: str) -> Report:
        """The report of a running or ended quiz, for its host: per question and per player."""
        quiz = self._hosted(principal, raw_id)
        return build_report(quiz, self._reader.session(quiz.id), rank_key=self._rank_key)

    def report_csv(self, principal: Principal, raw_id: str, table: str | None) -> CsvTable:
        """One table of the report as CSV (``players`` by default); a bad ``table`` is refused before any read."""
        name = table_name(table)
        report = self.report(principal, raw_id)
        return csv_table(report, name, self._reader.answers(report.quiz_id) if name == "answers" else ())

    def my_results(self, principal: Principal, *, limit: int = RESULTS_LIMIT) -> list[dict[str, Any]]:
        """The quizzes the caller played (started, seat not removed), most recent first: score, rank,
        player_count and the words they missed, with the right answers (questions still open excluded)."""
        played, now = self._reader.played_by(str(principal.user_id), limit=limit)
        return [quiz_result(p, now, rank_key=self._rank_key).body() for p in played]

    def play_again(self, principal: Principal, raw_id: str) -> dict[str, Any]:
        """A new session of an ended quiz: a new quiz id, the same host, title, questions and streak bonus,
        not started and unlocked. The old session and its report stay as they are."""
        quiz = self._hosted(principal, raw_id)
        if quiz.status != "ended":
            raise QuizNotEnded(quiz.status)
        draft = QuizDraft(title=quiz.title, questions=tuple(r.question for r in quiz.rounds), streak_bonus=quiz.streak_bonus)
        new_id = self._quizzes.create(quiz.host_id, draft)
        again, now = self._quizzes.get(new_id)
        return again.view(now, as_host=True)
