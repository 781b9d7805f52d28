"""The terminal client's pieces without a server: arguments, what each frame looks like on screen, the
answer a player types, the one-line errors, and the saved session with its token refresh (over a fake
HTTP transport)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients import cli
from clients.quiz_client import ApiError

MC = {"question_id": 1, "kind": "multiple_choice", "prompt": "'Give up' means?", "choices": ["surrender", "donate", "lift"], "points": 1000}
TYPED = {"question_id": 2, "kind": "typed", "prompt": "Put off = ?", "points": 500}


def opened(question: dict[str, Any], remaining_ms: int = 20_000) -> dict[str, Any]:
    return {"type": "question_opened", "quiz_id": "ABC234", "question": question, "question_count": 3, "remaining_ms": remaining_ms}


def api_error(status: int, code: str, message: str = "", **details: Any) -> ApiError:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return ApiError(status, {"error": error})


# ------------------------------------------------------------------ arguments


def test_subcommands_and_their_arguments() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["--url", "http://quiz:9000/", "--profile", "/tmp/p.json", "play", "abc-234"])
    assert (args.command, args.quiz_id, args.url, args.profile) == ("play", "abc-234", "http://quiz:9000/", Path("/tmp/p.json"))
    assert parser.parse_args(["create", "quiz.json"]).quiz_file == "quiz.json"
    signup = parser.parse_args(["signup", "--username", "ana", "--display-name", "Ana", "--password", "x" * 12])
    assert (signup.username, signup.display_name) == ("ana", "Ana")
    with pytest.raises(SystemExit):
        parser.parse_args([])
    with pytest.raises(SystemExit):
        parser.parse_args(["host"])  # the PIN is required


def test_the_url_comes_from_the_flag_then_the_environment_then_the_saved_session(tmp_path: Path) -> None:
    parser = cli.build_parser()
    saved = cli.Profile(tmp_path / "s.json", url="http://saved:1")
    assert cli.resolve_url(parser.parse_args(["--url", "http://flag:2/", "login"]), saved, {"QUIZ_URL": "http://env:3"}) == "http://flag:2"
    assert cli.resolve_url(parser.parse_args(["login"]), saved, {"QUIZ_URL": "http://env:3"}) == "http://env:3"
    assert cli.resolve_url(parser.parse_args(["login"]), saved, {}) == "http://saved:1"
    assert cli.resolve_url(parser.parse_args(["login"]), cli.Profile(tmp_path / "none.json"), {}) == cli.DEFAULT_URL


def test_pins_are_typed_in_any_case_with_dashes() -> None:
    assert cli.quiz_pin(" abc-234 ") == "ABC234"
    with pytest.raises(cli.CliError):
        cli.quiz_pin("--")


# ------------------------------------------------------------------ answers


def test_a_choice_is_its_number_as_shown_or_its_text() -> None:
    assert cli.parse_answer(MC, "1") == 0
    assert cli.parse_answer(MC, " 3 ") == 2
    assert cli.parse_answer(MC, "Donate") == 1
    with pytest.raises(cli.CliError, match="number from 1 to 3"):
        cli.parse_answer(MC, "4")
    with pytest.raises(cli.CliError, match="number from 1 to 3"):
        cli.parse_answer(MC, "0")


def test_a_typed_answer_is_sent_as_text() -> None:
    assert cli.parse_answer(TYPED, "  postpone ") == "postpone"
    assert cli.parse_answer(TYPED, "3") == "3"
    with pytest.raises(cli.CliError, match="empty answer"):
        cli.parse_answer(TYPED, "   ")


# ------------------------------------------------------------------ rendering


def test_a_question_shows_its_choices_numbered_from_one_and_the_time() -> None:
    lines = cli.render_question(MC, 19_200, 3)
    assert "Question 1/3 · 1000 points · 20 s" in lines[1]
    assert lines[3:6] == ["    1) surrender", "    2) donate", "    3) lift"]
    assert lines[-1] == "  answer with a number 1-3:"
    assert cli.render_question(TYPED, 5_000)[-1] == "  type your answer and press Enter:"


def test_the_leaderboard_marks_the_player() -> None:
    frame = {
        "player_count": 3,
        "top": [
            {"rank": 1, "user_id": "a", "display_name": "Ana", "score": 950},
            {"rank": 2, "user_id": "b", "display_name": "Ben", "score": 700},
        ],
    }
    lines = cli.render_leaderboard(frame, me="b")
    assert lines[0] == "leaderboard · 3 players"
    assert lines[1].strip().startswith("1. Ana") and "← you" not in lines[1]
    assert lines[2].startswith(" >") and lines[2].endswith("700  ← you")
    assert cli.render_leaderboard({"player_count": 0, "top": []})[1] == "  (no scores yet)"


def test_rank_result_and_closing_lines() -> None:
    assert cli.render_rank({"rank": 2, "player_count": 3, "score": 700, "gap_to_next": 251, "next_display_name": "Ana"}) == (
        "you are #2 of 3 with 700 points — 251 more to pass Ana"
    )
    assert cli.render_rank({"rank": 1, "player_count": 3, "score": 950, "gap_to_next": 0}).endswith("in the lead!")
    assert cli.render_answer_result({"correct": True, "points": 950, "score": 1950, "streak": 2}) == (
        "✓ correct! +950 points (score 1950, streak 2)"
    )
    assert cli.render_answer_result({"correct": False, "points": 0, "score": 10, "streak": 0}) == "✗ wrong — 0 points (score 10)"
    closed = {
        "question_id": 1,
        "correct_answer": "surrender",
        "your_result": {"answered": False, "correct": False, "points": 0, "score": 5},
    }
    assert cli.render_question_closed(closed) == ["── question 1 closed · answer: surrender", "   you did not answer (score 5)"]
    typed = {"question_id": 2, "accepted_answers": ["postpone", "delay"], "answers": 3}
    assert cli.render_question_closed(typed) == ["── question 2 closed · answer: postpone / delay", "   3 answers received"]
    standings = cli.render_standings([{"rank": 1, "user_id": "a", "display_name": "Ana", "score": 9}], me="a")
    assert standings[-1].endswith("9  ← you")


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (api_error(404, "not_found", "no quiz with id ABC234"), "quiz ABC234 not found — check the PIN"),
        (api_error(401, "token_expired"), "log in again with `python -m clients.cli login`"),
        (api_error(401, "invalid_credentials"), "wrong username or password — try again"),
        (api_error(409, "quiz_locked"), "the host locked quiz ABC234 — ask them to unlock it"),
        (api_error(409, "no_more_questions"), "type `end` to finish the quiz"),
        (api_error(403, "not_quiz_host"), "only the account that created quiz ABC234 can host it"),
        (api_error(400, "weak_password", "password must be at least 12 characters"), "at least 12 characters — choose another"),
        (api_error(503, "service_unavailable"), "the server failed (503 service_unavailable) — try again"),
        (httpx.ConnectError("refused"), "cannot reach the quiz server at http://127.0.0.1:8000 — start it with `make run`"),
        (cli.CliError("as it is"), "as it is"),
    ],
)
def test_errors_are_one_line_with_what_to_do(error: BaseException, expected: str) -> None:
    line = cli.explain(error, quiz_id="ABC234")
    assert expected in line and "\n" not in line


def test_an_invalid_quiz_file_names_the_field() -> None:
    error = api_error(400, "validation_failed", "questions[0].choices must be a list of 2 to 6 strings", field="questions[0].choices")
    line = cli.explain(error, quiz_file="quiz.json")
    assert line.startswith("quiz.json is not a valid quiz (field questions[0].choices): questions[0].choices must be")
    assert line.endswith("fix it and run `python -m clients.cli create quiz.json` again")


def test_an_unreadable_quiz_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(cli.CliError, match="not found"):
        cli.load_quiz_file(str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(cli.CliError, match="not valid JSON"):
        cli.load_quiz_file(str(broken))


# ------------------------------------------------------------------ the player's screen


class Sent(list[dict[str, Any]]):
    def __call__(self, frame: dict[str, Any]) -> None:
        self.append(frame)


def test_a_player_answers_the_open_question_once() -> None:
    sent = Sent()
    screen = cli.PlayScreen(quiz_id="ABC234", me="u1", send=sent)
    joined = {
        "type": "joined",
        "quiz": {"title": "Verbs", "question_count": 3, "status": "open"},
        "leaderboard": {"player_count": 2},
        "me": {},
    }
    lines = screen.on_frame(joined, now=0.0)
    assert lines[0] == "joined 'Verbs' (ABC234) · 3 questions · 2 players · status open"
    assert screen.on_line("2", now=0.0) == ["no question is open — wait for the host"]

    assert screen.on_frame(opened(MC), now=1.0)[1].startswith("── Question 1/3")
    assert screen.on_frame(opened(MC, 19_000), now=2.0) == [], "the same question is shown once"
    assert screen.on_line("9", now=3.0) == ["answer with a number from 1 to 3"]
    assert screen.on_line("2", now=3.0) == []
    assert sent[-1] == {"action": "answer", "quiz_id": "ABC234", "question_id": 1, "answer": 1, "request_id": sent[-1]["request_id"]}
    assert screen.on_line("1", now=4.0) == ["you already answered question 1 — wait for the next one"]
    assert len(sent) == 1
    result = {"type": "answer_result", "request_id": sent[-1]["request_id"], "correct": False, "points": 0, "score": 0, "streak": 0}
    assert screen.on_frame(result, now=4.0) == ["✗ wrong — 0 points (score 0)"]
    assert screen.on_line("1", now=25.0) == ["no question is open — wait for the host"], "past the deadline"


def test_a_rejected_answer_can_be_retried_and_a_late_one_cannot() -> None:
    sent = Sent()
    screen = cli.PlayScreen(quiz_id="ABC234", me="u1", send=sent)
    screen.on_frame(opened(TYPED, 10_000), now=0.0)
    screen.on_line("postpone", now=1.0)
    refused = {
        "type": "error",
        "action": "answer",
        "request_id": sent[-1]["request_id"],
        "error": {"code": "rate_limited", "message": "slow down"},
    }
    assert screen.on_frame(refused, now=1.1)[0].startswith("error: too many attempts")
    screen.on_line("postpone", now=2.0)
    assert len(sent) == 2 and sent[-1]["answer"] == "postpone"
    screen.on_frame(opened({**TYPED, "question_id": 3}, 5_000), now=3.0)
    assert screen.on_line("late", now=8.5) == ["no question is open — wait for the host"]


def test_the_countdown_prints_at_ten_five_and_three_seconds() -> None:
    screen = cli.PlayScreen(quiz_id="ABC234", me="u1", send=Sent())
    screen.on_frame(opened(MC, 12_000), now=100.0)
    assert screen.tick(101.0) == []
    assert screen.tick(102.5) == ["  ⏳ 10 s left"]
    assert screen.tick(102.6) == []
    assert screen.tick(109.5) == ["  ⏳ 3 s left"], "a missed mark is not printed late"
    screen.on_frame({"type": "question_closed", "question_id": 1, "correct_answer": "surrender", "your_result": None}, now=110.0)
    assert screen.tick(111.0) == []


def test_older_leaderboards_are_ignored_and_the_quiz_end_finishes_the_session() -> None:
    screen = cli.PlayScreen(quiz_id="ABC234", me="u1", send=Sent())
    board = {"type": "leaderboard", "seq": 5, "player_count": 1, "top": [{"rank": 1, "user_id": "u1", "display_name": "Me", "score": 3}]}
    assert screen.on_frame(board, now=0.0)
    assert screen.on_frame({**board, "seq": 4}, now=0.0) == []
    assert screen.on_line("/board", now=0.0)[0] == "leaderboard · 1 player"
    ended = {"type": "quiz_ended", "standings": [{"rank": 1, "user_id": "u1", "display_name": "Me", "score": 3}]}
    assert screen.on_frame(ended, now=1.0)[-1] == "thanks for playing!"
    assert screen.done and screen.exit_code == 0


def test_a_failed_join_ends_the_session_with_the_reason() -> None:
    screen = cli.PlayScreen(quiz_id="ZZZZZZ", me="u1", send=Sent())
    lines = screen.on_frame({"type": "error", "action": "join", "error": {"code": "not_found", "message": "no quiz"}}, now=0.0)
    assert lines == ["error: quiz ZZZZZZ not found — check the PIN"]
    assert screen.done and screen.exit_code == 1


# ------------------------------------------------------------------ the host's screen


def test_the_host_sees_players_join_and_paces_the_quiz() -> None:
    roster: list[dict[str, Any]] = []
    actions: list[str] = []
    froms: list[int | None] = []

    def act(action: str, from_question_id: int | None) -> dict[str, Any]:
        actions.append(action)
        froms.append(from_question_id)
        if action == "next":
            raise api_error(409, "no_more_questions")
        return {"quiz_id": "ABC234", "locked": action == "lock"}

    screen = cli.HostScreen(quiz_id="ABC234", me="h", send=Sent(), act=act, roster=lambda: list(roster))
    joined = {
        "type": "joined",
        "role": "host",
        "quiz": {"title": "Verbs", "question_count": 1, "status": "open"},
        "leaderboard": {"player_count": 0},
    }
    assert "PIN ABC234" in screen.on_frame(joined, now=0.0)[0]
    roster.append({"user_id": "a", "display_name": "Ana"})
    lines = screen.on_frame({"type": "leaderboard", "seq": 1, "player_count": 1, "top": []}, now=0.0)
    assert lines[0] == "+ Ana joined (1 players)"
    assert screen.on_line("start", now=0.0) == []
    opened = {"type": "question_opened", "question": {"question_id": 1, "prompt": "?", "kind": "typed"}, "remaining_ms": 5000}
    screen.on_frame(opened, now=0.0)
    assert screen.on_line("n", now=0.0) == ["error: that was the last question — type `end` to finish the quiz"]
    assert froms[:2] == [None, 1], "next names the question it moves on from (a retry then moves only once)"
    assert screen.on_line("lock", now=0.0) == ["quiz ABC234 locked: no new players"]
    assert screen.on_line("players", now=0.0) == ["1 players: Ana"]
    assert screen.on_line("dance", now=0.0)[0].startswith("unknown command 'dance'")
    assert actions == ["start", "next", "lock"]
    closed = {"type": "question_closed", "question_id": 1, "correct_answer": "surrender", "answers": 1}
    assert screen.on_frame(closed, now=1.0)[-1] == "type `end` to finish"


# ------------------------------------------------------------------ session file and refresh


def test_the_session_file_is_private_and_round_trips(tmp_path: Path) -> None:
    profile = cli.Profile(tmp_path / "dir" / "session.json", url="http://x")
    profile.store_tokens({"user": {"id": "u1"}, "access_token": "A", "refresh_token": "R", "expires_in_ms": 900_000}, now=1000.0)
    profile.save()
    assert (profile.path.stat().st_mode & 0o777) == 0o600
    again = cli.Profile.load(profile.path)
    assert (again.url, again.user, again.access_token, again.refresh_token, again.access_expires_at) == (
        "http://x",
        {"id": "u1"},
        "A",
        "R",
        1900.0,
    )
    profile.path.write_text("not json")
    with pytest.raises(cli.CliError, match="delete it and log in again"):
        cli.Profile.load(profile.path)


class FakeServer:
    """The three routes the refresh path touches, over httpx.MockTransport."""

    def __init__(self) -> None:
        self.valid = "A2"
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path} {request.headers.get('authorization', '')}".strip())
        if request.url.path == "/auth/refresh":
            assert json.loads(request.content) == {"refresh_token": "R1"}
            return httpx.Response(200, json={"access_token": "A2", "refresh_token": "R2", "expires_in_ms": 900_000})
        if request.headers.get("authorization") != f"Bearer {self.valid}":
            return httpx.Response(401, json={"error": {"code": "token_expired", "message": "expired"}})
        return httpx.Response(201, json={"quiz_id": "ABC234"})


def account_with(server: FakeServer, tmp_path: Path, *, expires_at: float) -> cli.Account:
    profile = cli.Profile(tmp_path / "s.json", access_token="A1", refresh_token="R1", access_expires_at=expires_at)
    account = cli.Account(profile, "http://quiz", clock=lambda: 1000.0)
    account.client.http = httpx.Client(base_url="http://quiz", transport=httpx.MockTransport(server))
    return account


def test_an_expired_access_token_is_refreshed_before_the_call(tmp_path: Path) -> None:
    server = FakeServer()
    account = account_with(server, tmp_path, expires_at=1010.0)  # within the margin
    assert account.call(lambda c: c.create_quiz({}))["quiz_id"] == "ABC234"
    assert server.calls == ["POST /auth/refresh", "POST /quizzes Bearer A2"]
    assert json.loads(account.profile.path.read_text())["refresh_token"] == "R2"


def test_a_token_the_server_calls_expired_is_refreshed_once_and_retried(tmp_path: Path) -> None:
    server = FakeServer()
    account = account_with(server, tmp_path, expires_at=5000.0)  # the clock says fine, the server disagrees
    assert account.call(lambda c: c.create_quiz({}))["quiz_id"] == "ABC234"
    assert server.calls == ["POST /quizzes Bearer A1", "POST /auth/refresh", "POST /quizzes Bearer A2"]


def test_commands_need_a_login_first(tmp_path: Path) -> None:
    err = io.StringIO()
    code = cli.main(["--profile", str(tmp_path / "none.json"), "--url", "http://127.0.0.1:9", "create", "x.json"], err=err)
    assert code == 1
    assert err.getvalue().startswith("error: x.json not found — pass a quiz JSON file")
    (tmp_path / "quiz.json").write_text("{}")
    err = io.StringIO()
    cli.main(["--profile", str(tmp_path / "none.json"), "create", str(tmp_path / "quiz.json")], err=err)
    assert (
        err.getvalue() == "error: not logged in — run `python -m clients.cli login` (or `python -m clients.cli signup` for a new account)\n"
    )
