"""The report and the review list computed from hand-built rows: every figure is worked out by hand."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from quiz.errors import QuizError
from quiz.leaderboard.domain import rank_key, ranked_order
from quiz.quizzes.domain import Question, QuestionRound, Quiz
from quiz.quizzes.report import (
    AnswerGroup,
    AnswerRow,
    PlayedQuestion,
    PlayedQuiz,
    PlayerRow,
    SessionRows,
    build_report,
    mean_ms,
    median_ms,
    missed_words,
    quiz_result,
    rank_among,
)
from quiz.quizzes.report_csv import csv_table, table_name, wants_csv

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)

ANA, BEN, CY, DEE, EVE = (f"00000000-0000-0000-0000-00000000000{i}" for i in range(1, 6))

SYNONYM = Question(1, "multiple_choice", "A synonym of 'happy'?", 20_000, 1000, choices=("glum", "joyful", "tired"), correct_choice=1)
OPPOSITE = Question(2, "typed", "Opposite of 'ancient'?", 20_000, 500, accepted_answers=("modern", "new"), typo_tolerance=1)
BRIEF = Question(3, "multiple_choice", "'Brief' means?", 20_000, 1000, choices=("short", "long"), correct_choice=0)


def closed(q: Question, opened_s: int) -> QuestionRound:
    opened = T0 + timedelta(seconds=opened_s)
    return QuestionRound(q, opened, opened + timedelta(milliseconds=q.time_limit_ms), opened + timedelta(seconds=5))


QUIZ = Quiz(
    id="ABC234",
    host_id="host",
    title="Adjectives, week 3",
    status="ended",
    locked=False,
    streak_bonus=0,
    current_position=2,
    # question 2 was never closed by the host: its deadline passed. Question 3 never opened (ended early).
    rounds=(
        closed(SYNONYM, 0),
        QuestionRound(OPPOSITE, T0 + timedelta(seconds=60), T0 + timedelta(seconds=80), None),
        QuestionRound(BRIEF, None, None, None),
    ),
)

PLAYERS = (
    PlayerRow(CY, "Cy", 0, 500),
    PlayerRow(ANA, "Ana", 1850, 20_000),
    PlayerRow(DEE, "Dee", 0, 400),  # same score as Cy, reached it earlier: ranks above Cy
    PlayerRow(BEN, "Ben", 950, 10_000),
)
ANSWERS = (
    AnswerRow(ANA, 1, 1, True, 950, 1000, 1),
    AnswerRow(BEN, 1, 1, True, 950, 3000, 1),
    AnswerRow(CY, 1, 0, False, 0, 2000, 0),
    AnswerRow(EVE, 1, 2, False, 0, 100, 0),  # Eve was removed by the host: not counted anywhere
    AnswerRow(ANA, 2, "Modern", True, 900, 4000, 2),
    AnswerRow(BEN, 2, "Old", False, 0, 5000, 0),
    AnswerRow(CY, 2, "ancient", False, 0, 1001, 0),
    AnswerRow(DEE, 2, " Ancient! ", False, 0, 2000, 0),
)


def session(players: tuple[PlayerRow, ...], answers: tuple[AnswerRow, ...], started_at: datetime | None = T0) -> SessionRows:
    """The rows the adapter reads, counted from single answers as its SQL counts them: a tally per active
    player, and the active players' answers grouped by question and answer given."""
    seated = {p.user_id for p in players}
    mine = [a for a in answers if a.user_id in seated]
    tallied = tuple(
        replace(
            p,
            answered=sum(1 for a in mine if a.user_id == p.user_id),
            correct=sum(1 for a in mine if a.user_id == p.user_id and a.correct),
            elapsed_ms=sum(a.elapsed_ms for a in mine if a.user_id == p.user_id),
            longest_streak=max((a.streak_after for a in mine if a.user_id == p.user_id), default=0),
        )
        for p in players
    )
    keys = sorted({(a.question_id, a.given, a.correct) for a in mine}, key=str)
    groups = tuple(
        AnswerGroup(q, g, c, tuple(a.elapsed_ms for a in mine if (a.question_id, a.given, a.correct) == (q, g, c))) for q, g, c in keys
    )
    return SessionRows(started_at, NOW if started_at else None, tallied, groups)


ROWS = session(PLAYERS, ANSWERS)


def report_body() -> dict[str, object]:
    return build_report(QUIZ, ROWS, rank_key=rank_key).body()


def test_players_are_ranked_by_the_leaderboards_one_ordering_with_their_figures() -> None:
    body = report_body()
    assert body["player_count"] == 4
    assert body["players"] == [
        {
            "rank": 1,
            "user_id": ANA,
            "display_name": "Ana",
            "score": 1850,
            "answered": 2,
            "correct": 2,
            "average_answer_ms": 2500,
            "longest_streak": 2,
        },
        {
            "rank": 2,
            "user_id": BEN,
            "display_name": "Ben",
            "score": 950,
            "answered": 2,
            "correct": 1,
            "average_answer_ms": 4000,
            "longest_streak": 1,
        },
        # (2000 + 1001) / 2 = 1500.5, half up
        {
            "rank": 3,
            "user_id": DEE,
            "display_name": "Dee",
            "score": 0,
            "answered": 1,
            "correct": 0,
            "average_answer_ms": 2000,
            "longest_streak": 0,
        },
        {
            "rank": 4,
            "user_id": CY,
            "display_name": "Cy",
            "score": 0,
            "answered": 2,
            "correct": 0,
            "average_answer_ms": 1501,
            "longest_streak": 0,
        },
    ]
    assert [p["user_id"] for p in body["players"]] == ranked_order((p.user_id, p.score, p.reached_ms) for p in PLAYERS)  # type: ignore[index, union-attr]


def test_a_choice_question_counts_every_choice_the_wrong_ones_too() -> None:
    q1 = report_body()["questions"][0]  # type: ignore[index]
    assert q1["answered"] == 3 and q1["correct"] == 2
    assert q1["accuracy"] == 0.6667
    assert q1["median_answer_ms"] == 2000
    assert q1["correct_answer"] == "joyful" and q1["opened"] is True
    assert q1["choices"] == [
        {"choice": 0, "text": "glum", "correct": False, "count": 1},
        {"choice": 1, "text": "joyful", "correct": True, "count": 2},
        {"choice": 2, "text": "tired", "correct": False, "count": 0},
    ]


def test_a_typed_question_lists_the_commonest_wrong_spellings_normalised_as_matching_does() -> None:
    q2 = report_body()["questions"][1]  # type: ignore[index]
    assert (q2["answered"], q2["correct"], q2["accuracy"]) == (4, 1, 0.25)
    assert q2["median_answer_ms"] == 3000  # 1001, 2000 | 4000, 5000: (2000 + 4000) / 2
    assert q2["wrong_answers"] == [{"answer": "ancient", "count": 2}, {"answer": "old", "count": 1}]
    assert q2["correct_answer"] == "modern" and q2["accepted_answers"] == ["modern", "new"]


def test_only_the_five_commonest_wrong_spellings_are_listed() -> None:
    spellings = ["a", "b", "b", "c", "c", "c", "d", "e", "f", "g"]
    answers = tuple(AnswerRow(f"u{i}", 2, s, False, 0, 1000, 0) for i, s in enumerate(spellings))
    players = tuple(PlayerRow(f"u{i}", f"P{i}", 0, i) for i in range(len(spellings)))
    q2 = build_report(QUIZ, session(players, answers), rank_key=rank_key).body()["questions"][1]
    assert q2["wrong_answers"] == [
        {"answer": "c", "count": 3},
        {"answer": "b", "count": 2},
        {"answer": "a", "count": 1},
        {"answer": "d", "count": 1},
        {"answer": "e", "count": 1},
    ]


def test_a_question_nobody_answered_has_no_accuracy_and_no_median() -> None:
    q3 = report_body()["questions"][2]  # type: ignore[index]
    assert q3["opened"] is False
    assert (q3["answered"], q3["correct"], q3["accuracy"], q3["median_answer_ms"]) == (0, 0, None, None)
    assert [c["count"] for c in q3["choices"]] == [0, 0]


def test_a_quiz_nobody_joined_reports_empty_figures() -> None:
    body = build_report(QUIZ, session((), (), None), rank_key=rank_key).body()
    assert body["player_count"] == 0 and body["players"] == []
    assert [q["answered"] for q in body["questions"]] == [0, 0, 0]  # type: ignore[union-attr]


def test_medians_and_means_are_whole_milliseconds_rounded_half_up() -> None:
    assert median_ms([]) is None and mean_ms(0, 0) is None
    assert median_ms([7]) == 7
    assert median_ms([4, 1, 3]) == 3
    assert median_ms([1, 2]) == 2  # 1.5
    assert mean_ms(3, 2) == 2 and mean_ms(4, 3) == 1 and mean_ms(5, 3) == 2  # 1.5 -> 2; 1.33 -> 1; 1.67 -> 2


def test_rank_among_settles_ties_with_the_leaderboards_key() -> None:
    # three players on 500: reached at 100 ms (ranks first of them), and two at 200 ms, where the larger
    # user id ranks higher; two players score more.
    tied = [("b", 100), ("c", 200)]
    assert rank_among(("a", 500, 200), 2, tied, rank_key) == 5
    assert rank_among(("d", 500, 200), 2, [("a", 200), ("b", 100)], rank_key) == 4
    assert rank_among(("b", 500, 100), 2, [("a", 200), ("c", 200)], rank_key) == 3
    assert rank_among(("z", 9000, 5), 0, [], rank_key) == 1


def played(
    given_correct: list[tuple[str | int | None, bool]], rounds: tuple[QuestionRound, ...], joined_at: datetime | None = None
) -> PlayedQuiz:
    return PlayedQuiz(
        quiz_id="ABC234",
        title="Adjectives, week 3",
        status="ended",
        started_at=T0,
        ended_at=NOW,
        user_id=DEE,
        score=0,
        reached_ms=400,
        joined_at=joined_at,
        player_count=4,
        higher=2,
        tied=((CY, 500),),
        questions=tuple(PlayedQuestion(r, g, c) for r, (g, c) in zip(rounds, given_correct, strict=True)),
    )


def test_the_learner_sees_the_words_they_missed_with_the_right_answer() -> None:
    result = quiz_result(played([(None, False), (" Ancient! ", False), (None, False)], QUIZ.rounds), NOW, rank_key=rank_key).body()
    assert {k: result[k] for k in ("quiz_id", "score", "rank", "player_count")} == {
        "quiz_id": "ABC234",
        "score": 0,
        "rank": 3,
        "player_count": 4,
    }
    assert result["missed_words"] == [
        {"question_id": 1, "kind": "multiple_choice", "prompt": "A synonym of 'happy'?", "your_answer": None, "correct_answer": "joyful"},
        {
            "question_id": 2,
            "kind": "typed",
            "prompt": "Opposite of 'ancient'?",
            "your_answer": " Ancient! ",
            "correct_answer": "modern",
            "accepted_answers": ["modern", "new"],
        },
    ]  # question 3 never opened: nothing to practise


def test_a_wrong_choice_is_shown_as_its_text_and_right_answers_are_not_missed() -> None:
    words = missed_words([PlayedQuestion(QUIZ.rounds[0], 2, False), PlayedQuestion(QUIZ.rounds[1], "new", True)], NOW)
    assert [w.body()["your_answer"] for w in words] == ["tired"]


def test_a_question_still_open_never_shows_its_answer() -> None:
    opened = NOW - timedelta(seconds=3)
    running = QuestionRound(SYNONYM, opened, opened + timedelta(seconds=20), None)
    assert missed_words([PlayedQuestion(running, 0, False)], NOW) == []
    assert [w.question.position for w in missed_words([PlayedQuestion(running, 0, False)], opened + timedelta(seconds=20))] == [1]


def test_questions_that_closed_before_the_player_joined_are_not_missed() -> None:
    late = T0 + timedelta(seconds=30)  # after question 1 closed (at 5 s), before question 2 opened
    words = missed_words([PlayedQuestion(r, None, False) for r in QUIZ.rounds[:2]], NOW, late)
    assert [w.question.position for w in words] == [2]


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_players_table_is_the_default_csv() -> None:
    table = csv_table(build_report(QUIZ, ROWS, rank_key=rank_key), table_name(None))
    assert table.filename == "quiz-ABC234-players.csv"
    assert table.headers["content-type"] == "text/csv; charset=utf-8"
    assert table.text.endswith("\r\n")
    rows = rows_of(table.text)
    assert rows[0] == ["rank", "user_id", "display_name", "score", "answered", "correct", "average_answer_ms", "longest_streak"]
    assert rows[1] == ["1", ANA, "Ana", "1850", "2", "2", "2500", "2"]
    assert len(rows) == 5


def test_the_questions_and_answers_tables() -> None:
    report = build_report(QUIZ, ROWS, rank_key=rank_key)
    questions = rows_of(csv_table(report, "questions").text)
    assert questions[1] == [
        "1",
        "multiple_choice",
        "A synonym of 'happy'?",
        "joyful",
        "3",
        "2",
        "0.6667",
        "2000",
        "glum: 1 | joyful: 2 | tired: 0",
    ]
    assert questions[2][-1] == "ancient: 2 | old: 1"
    assert questions[3][6:8] == ["", ""]  # no accuracy, no median
    answers = rows_of(csv_table(report, "answers", ANSWERS).text)
    assert answers[0] == ["question_id", "user_id", "display_name", "answer", "correct", "points", "elapsed_ms", "streak_after"]
    assert answers[1] == ["1", ANA, "Ana", "joyful", "true", "950", "1000", "1"]  # question, then rank order
    assert len(answers) == 1 + 7  # Eve's answer left out


def test_player_text_cannot_become_a_spreadsheet_formula() -> None:
    typed = (AnswerRow(ANA, 2, "@SUM(A1)", False, 0, 10, 0),)
    report = build_report(QUIZ, session((PlayerRow(ANA, '=HYPERLINK("http://x")', 0, 1),), typed), rank_key=rank_key)
    assert rows_of(csv_table(report, "players").text)[1][2] == '\'=HYPERLINK("http://x")'
    assert rows_of(csv_table(report, "answers", typed).text)[1][3] == "'@SUM(A1)"


def test_an_unknown_table_is_a_400_naming_the_tables() -> None:
    with pytest.raises(QuizError) as exc:
        table_name("everything")
    assert (exc.value.status, exc.value.code) == (400, "validation_failed")
    assert exc.value.details == {"field": "table", "allowed": ["players", "questions", "answers"]}


@pytest.mark.parametrize(
    ("accept", "csv_wanted"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("text/csv", True),
        ("text/csv;q=0.9, */*;q=0.1", True),
        ("application/json, text/csv;q=0.5", False),
        ("text/csv, application/json", False),  # a tie keeps the default
        ("Text/CSV", True),
        ("text/csv;q=0", False),
        ("text/csv;q=oops", False),
    ],
)
def test_csv_is_served_when_the_accept_header_prefers_it(accept: str | None, csv_wanted: bool) -> None:
    assert wants_csv(accept) is csv_wanted
