"""After the quiz in the terminal, without a server: the report as text (bars for the answers), the CSV
tables written to a directory, a learner's missed words, playing again, and the one-line errors."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients import cli
from clients.quiz_client import ApiError
from clients.terminal.report import bar, distribution_rows, render_report, render_results

REPORT: dict[str, Any] = {
    "quiz_id": "ABC234",
    "title": "Phrasal verbs",
    "status": "ended",
    "player_count": 2,
    "question_count": 3,
    "questions": [
        {"question_id": 1, "kind": "multiple_choice", "prompt": "'Give up' means?", "correct_answer": "surrender", "opened": True,
         "answered": 3, "correct": 1, "accuracy": 0.3333, "median_answer_ms": 3600,
         "choices": [{"choice": 0, "text": "surrender", "correct": True, "count": 1},
                     {"choice": 1, "text": "donate", "correct": False, "count": 2},
                     {"choice": 2, "text": "lift", "correct": False, "count": 0}]},
        {"question_id": 2, "kind": "typed", "prompt": "Put off = ?", "correct_answer": "postpone", "opened": True,
         "answered": 2, "correct": 1, "accuracy": 0.5, "median_answer_ms": 8000, "wrong_answers": [{"answer": "cancel", "count": 1}]},
        {"question_id": 3, "kind": "multiple_choice", "prompt": "'Run out of'?", "correct_answer": "have none left", "opened": False,
         "answered": 0, "correct": 0, "accuracy": None, "median_answer_ms": None,
         "choices": [{"choice": 0, "text": "have none left", "correct": True, "count": 0}]},
    ],
    "players": [
        {"rank": 1, "user_id": "u1", "display_name": "Ana", "score": 1875, "answered": 2, "correct": 2, "average_answer_ms": 4200, "longest_streak": 2},
        {"rank": 2, "user_id": "u2", "display_name": "Bo", "score": 0, "answered": 0, "correct": 0, "average_answer_ms": None, "longest_streak": 0},
    ],
}  # fmt: skip


def test_bars_are_as_long_as_their_share_of_the_most_given_answer() -> None:
    assert bar(2, 2) == "█" * 24
    assert bar(1, 2) == "█" * 12
    assert bar(1, 1000) == "█", "an answer given at all gets a block"
    assert bar(0, 2) == bar(0, 0) == ""


def test_the_report_prints_each_question_with_its_answers_as_bars_and_a_table_of_players() -> None:
    lines = render_report(REPORT)
    text = "\n".join(lines)
    assert lines[0] == "══ report · Phrasal verbs · ABC234 · ended · 2 players ══"
    assert "   accuracy 33 % · median time 3.6 s · 3 answers · answer: surrender" in lines
    surrender, donate, lift = (next(line for line in lines if f" {word} " in line) for word in ("surrender", "donate", "lift"))
    assert surrender.startswith("   ✓ surrender") and surrender.count("█") == 12 and surrender.endswith(" 1")
    assert donate.startswith("     donate") and donate.count("█") == 24 and donate.endswith(" 2")
    assert lift.count("█") == 0 and lift.endswith(" 0")
    assert any(line.startswith("   ✓ right: postpone") for line in lines) and any(line.startswith("     cancel") for line in lines)
    assert "Q3. 'Run out of'?\n   not asked" in text
    ana, bo = lines[-2:]
    assert ana.split() == ["1.", "Ana", "1875", "2/2", "4.2", "s", "2"]
    assert bo.split() == ["2.", "Bo", "0", "0/0", "—", "0"]


def test_a_typed_questions_bars_are_the_right_answers_then_the_common_wrong_ones() -> None:
    assert distribution_rows(REPORT["questions"][1]) == [("right: postpone", 1, True), ("cancel", 1, False)]


def test_results_list_the_missed_words_with_the_right_answers() -> None:
    results = [
        {"quiz_id": "ABC234", "title": "Phrasal verbs", "ended_at": "2025-05-01T10:02:10+00:00", "score": 875, "rank": 2,
         "player_count": 12, "missed_words": [
             {"question_id": 2, "prompt": "Put off = ?", "your_answer": "cancel", "correct_answer": "postpone"},
             {"question_id": 3, "prompt": "'Run out of'?", "your_answer": None, "correct_answer": "have none left"}]},
        {"quiz_id": "XYZ789", "title": "Idioms", "ended_at": None, "started_at": None, "score": 2000, "rank": 1, "player_count": 3,
         "missed_words": []},
    ]  # fmt: skip
    lines = render_results(results)
    assert "ABC234 · Phrasal verbs · 2025-05-01 10:02 · #2 of 12 · 875 points" in lines
    assert "   practise these words (2):" in lines
    assert "   - Put off = ? → postpone   (you: cancel)" in lines
    assert "   - 'Run out of'? → have none left   (not answered)" in lines
    assert "   no missed words — well done!" in lines
    assert render_results([]) == ["you have not played a quiz yet"]


class ReportServer:
    """GET /quizzes/ABC234/report (JSON or one CSV table) and POST /quizzes/{id}/again, over MockTransport."""

    def __init__(self, filename: str = "quiz-ABC234-{table}.csv") -> None:
        self.filename = filename
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path} {request.headers.get('accept', '')}")
        if request.url.path == "/quizzes/ABC234/again":
            return httpx.Response(201, json={"quiz_id": "NEW234", "title": "Phrasal verbs", "status": "open"})
        if request.url.path == "/quizzes/NEW234/again":
            error = {"code": "quiz_not_ended", "message": "end it first", "details": {"status": "open"}}
            return httpx.Response(409, json={"error": error})
        if request.headers.get("accept") == "text/csv":
            table = request.url.params["table"]
            name = self.filename.format(table=table)
            headers = {"content-type": "text/csv; charset=utf-8", "content-disposition": f'attachment; filename="{name}"'}
            return httpx.Response(200, text=f"{table}_header,b\r\n1,2\r\n", headers=headers)
        return httpx.Response(200, json=REPORT)


def account_for(server: ReportServer, tmp_path: Path) -> cli.Account:
    profile = cli.Profile(tmp_path / "s.json", access_token="A1", refresh_token="R1", access_expires_at=1e12)
    account = cli.Account(profile, "http://quiz")
    account.client.http = httpx.Client(base_url="http://quiz", transport=httpx.MockTransport(server))
    return account


def test_report_with_csv_writes_the_three_tables_as_sent(tmp_path: Path) -> None:
    server = ReportServer()
    out = io.StringIO()
    args = cli.build_parser().parse_args(["report", "abc-234", "--csv", str(tmp_path / "out")])
    assert cli.cmd_report(account_for(server, tmp_path), args, io.StringIO(), out) == 0
    assert out.getvalue().startswith("══ report · Phrasal verbs · ABC234")
    for table in ("players", "questions", "answers"):
        path = tmp_path / "out" / f"quiz-ABC234-{table}.csv"
        assert f"wrote {path}" in out.getvalue()
        assert path.read_bytes() == f"{table}_header,b\r\n1,2\r\n".encode(), "CRLF kept as RFC 4180 has it"
    assert server.calls == ["GET /quizzes/ABC234/report */*", *["GET /quizzes/ABC234/report text/csv"] * 3]


def test_a_file_name_from_the_server_cannot_leave_the_directory(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(["report", "ABC234", "--csv", str(tmp_path / "out")])
    cli.cmd_report(account_for(ReportServer("../../{table}.csv"), tmp_path), args, io.StringIO(), io.StringIO())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["answers.csv", "players.csv", "questions.csv"]
    assert not (tmp_path / "players.csv").exists()


def test_again_prints_the_new_pin_and_how_to_host_it(tmp_path: Path) -> None:
    out = io.StringIO()
    args = cli.build_parser().parse_args(["again", "abc234"])
    assert cli.cmd_again(account_for(ReportServer(), tmp_path), args, io.StringIO(), out) == 0
    assert out.getvalue().splitlines() == [
        "new session of 'Phrasal verbs' — PIN NEW234 (quiz ABC234 and its report are kept)",
        "host it:  python -m clients.cli host NEW234",
        "play it:  python -m clients.cli play NEW234",
    ]
    with pytest.raises(ApiError) as caught:
        cli.cmd_again(account_for(ReportServer(), tmp_path), cli.build_parser().parse_args(["again", "NEW234"]), io.StringIO(), out)
    assert cli.explain(caught.value, quiz_id="NEW234") == (
        "quiz NEW234 has not ended yet — end it first (`python -m clients.cli host NEW234`, then `end`), then play it again"
    )


def test_the_new_commands_and_their_arguments() -> None:
    parser = cli.build_parser()
    assert (parser.parse_args(["report", "ABC234"]).csv, parser.parse_args(["report", "ABC234", "--csv", "d"]).csv) == (None, Path("d"))
    assert parser.parse_args(["results"]).command == "results"
    with pytest.raises(SystemExit):
        parser.parse_args(["again"])  # the PIN is required
