"""Play or host a live quiz from a terminal, through the public API only (HTTP + WebSocket).

    python -m clients.cli signup                     # asks for username, display name, password
    python -m clients.cli login
    python -m clients.cli create clients/examples/phrasal_verbs.json
    python -m clients.cli host ABC234                # start / next / end / lock / unlock, live leaderboard
    python -m clients.cli play ABC234                # answer by choice number or typed text
    python -m clients.cli report ABC234 [--csv DIR]  # the host's report; --csv writes its three tables
    python -m clients.cli results                    # the quizzes you played and the words you missed
    python -m clients.cli again ABC234               # the host plays an ended quiz again: a new PIN

The server is taken from --url, else $QUIZ_URL, else the one saved at login, else http://127.0.0.1:8000.
Tokens live in ~/.config/vocab-quiz/session.json (or --profile FILE); an expired access token is
refreshed with POST /auth/refresh. Every failure is one line saying what went wrong and what to do next.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import httpx
from websockets.exceptions import WebSocketException

from clients.quiz_client import ApiError
from clients.terminal.account import Account, Profile, default_profile_path
from clients.terminal.errors import DEFAULT_URL, PROG, CliError, explain
from clients.terminal.render import (
    emit,
    render_answer_result,
    render_leaderboard,
    render_question,
    render_question_closed,
    render_rank,
    render_standings,
)
from clients.terminal.report import render_report, render_results, write_csv_tables
from clients.terminal.screens import HostScreen, PlayScreen, Screen, Send, parse_answer
from clients.terminal.session import RECONNECT_DELAYS_S, run_live

# Names the tests and other callers reach through `clients.cli`, from before the split into clients/terminal/.
__all__ = [
    "DEFAULT_URL",
    "RECONNECT_DELAYS_S",
    "Account",
    "CliError",
    "HostScreen",
    "PlayScreen",
    "Profile",
    "build_parser",
    "explain",
    "load_quiz_file",
    "main",
    "parse_answer",
    "quiz_pin",
    "render_answer_result",
    "render_leaderboard",
    "render_question",
    "render_question_closed",
    "render_rank",
    "render_standings",
    "resolve_url",
    "run_live",
]


def ask(prompt: str, inp: TextIO, out: TextIO, *, secret: bool = False) -> str:
    if secret and inp is sys.stdin and sys.stdin.isatty():
        return getpass.getpass(prompt)
    out.write(prompt)
    out.flush()
    line = inp.readline()
    if not line:
        raise CliError("no input — give the value as an option instead (see --help)")
    return line.rstrip("\n")


def cmd_signup(account: Account, args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    username = args.username or ask("username: ", inp, out)
    display_name = args.display_name or ask("display name: ", inp, out)
    password = args.password or os.environ.get("QUIZ_PASSWORD") or ask("password (12+ characters): ", inp, out, secret=True)
    account.client.access_token = None
    body = account.client.signup(username, password, display_name)
    account.remember(body)
    emit(out, [f"signed up as {body['user'].get('display_name')} (@{body['user'].get('username')}) — saved to {account.profile.path}"])
    return 0


def cmd_login(account: Account, args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    username = args.username or ask("username: ", inp, out)
    password = args.password or os.environ.get("QUIZ_PASSWORD") or ask("password: ", inp, out, secret=True)
    account.client.access_token = None
    body = account.client.login(username, password)
    body["user"] = account.client.user
    account.remember(body)
    emit(out, [f"logged in as {account.display_name} — saved to {account.profile.path}"])
    return 0


def load_quiz_file(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise CliError(f"{path} not found — pass a quiz JSON file, e.g. clients/examples/phrasal_verbs.json") from exc
    except ValueError as exc:
        raise CliError(f"{path} is not valid JSON ({exc}) — fix it and try again") from exc
    if not isinstance(data, dict):
        raise CliError(f"{path} must hold a JSON object with a title and questions")
    return data


def _how_to_run(pin: str) -> list[str]:
    return [f"host it:  {PROG} host {pin}", f"play it:  {PROG} play {pin}"]


def cmd_create(account: Account, args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    quiz = load_quiz_file(args.quiz_file)
    created = account.call(lambda c: c.create_quiz(quiz))
    pin = created["quiz_id"]
    emit(
        out,
        [
            f"created {created.get('title')!r} with {created.get('question_count')} questions — PIN {pin}",
            *_how_to_run(pin),
        ],
    )
    return 0


def quiz_pin(raw: str) -> str:
    pin = "".join(ch for ch in raw.upper() if ch.isalnum())
    if not pin:
        raise CliError("give the quiz PIN, e.g. ABC234")
    return pin


def cmd_host(account: Account, args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    pin = quiz_pin(args.quiz_id)
    quiz = account.call(lambda c: dict(c.call("GET", f"/quizzes/{pin}")))
    if quiz.get("host_id") != account.user_id:
        raise CliError(f"quiz {pin} belongs to another account — log in as its host, or join it with `{PROG} play {pin}`")

    def screen_for(send: Send) -> Screen:
        return HostScreen(
            quiz_id=pin,
            me=account.user_id,
            send=send,
            act=lambda action, from_question_id: account.call(lambda c: c.host(pin, action, from_question_id=from_question_id)),
            roster=lambda: account.call(lambda c: list(c.call("GET", f"/quizzes/{pin}/players")["players"])),
        )

    return run_live(account, screen_for, inp, out)


def cmd_play(account: Account, args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    pin = quiz_pin(args.quiz_id)
    return run_live(account, lambda send: PlayScreen(quiz_id=pin, me=account.user_id, send=send), inp, out)


def cmd_report(account: Account, args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    pin = quiz_pin(args.quiz_id)
    emit(out, render_report(account.call(lambda c: c.report(pin))))
    if args.csv is not None:
        written = write_csv_tables(lambda table: account.call(lambda c: c.report_csv(pin, table)), args.csv)
        emit(out, ["", *(f"wrote {path}" for path in written)])
    return 0


def cmd_results(account: Account, args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    emit(out, render_results(account.call(lambda c: c.results())))
    return 0


def cmd_again(account: Account, args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    pin = quiz_pin(args.quiz_id)
    again = account.call(lambda c: c.play_again(pin))
    new = again["quiz_id"]
    emit(
        out,
        [
            f"new session of {again.get('title')!r} — PIN {new} (quiz {pin} and its report are kept)",
            *_how_to_run(new),
        ],
    )
    return 0


COMMANDS: dict[str, Callable[[Account, argparse.Namespace, TextIO, TextIO], int]] = {
    "signup": cmd_signup,
    "login": cmd_login,
    "create": cmd_create,
    "host": cmd_host,
    "play": cmd_play,
    "report": cmd_report,
    "results": cmd_results,
    "again": cmd_again,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Play or host a live vocabulary quiz from the terminal.")
    parser.add_argument("--url", help=f"server base URL (default: $QUIZ_URL, the URL saved at login, or {DEFAULT_URL})")
    parser.add_argument("--profile", type=Path, help=f"session file (default: {default_profile_path()})")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    signup = sub.add_parser("signup", help="create an account and log in")
    signup.add_argument("--username")
    signup.add_argument("--display-name")
    signup.add_argument("--password", help="(prompted if omitted; $QUIZ_PASSWORD also works)")
    login = sub.add_parser("login", help="log in and save the tokens")
    login.add_argument("--username")
    login.add_argument("--password", help="(prompted if omitted; $QUIZ_PASSWORD also works)")
    create = sub.add_parser("create", help="create a quiz from a JSON file and print its PIN")
    create.add_argument("quiz_file", help="e.g. clients/examples/phrasal_verbs.json")
    host = sub.add_parser("host", help="host a quiz: see players join, start/next/end/lock, live leaderboard")
    host.add_argument("quiz_id", help="the quiz PIN")
    play = sub.add_parser("play", help="join a quiz and answer its questions")
    play.add_argument("quiz_id", help="the quiz PIN")
    report = sub.add_parser("report", help="the host's report of a quiz: questions (accuracy, times, answers) and players")
    report.add_argument("quiz_id", help="the quiz PIN")
    report.add_argument(
        "--csv", type=Path, metavar="DIR", help="also write its three tables (players, questions, answers) as CSV files in DIR"
    )
    sub.add_parser("results", help="the quizzes you played, with the words you missed")
    again = sub.add_parser("again", help="play an ended quiz again (host only): a new PIN, same questions")
    again.add_argument("quiz_id", help="the ended quiz's PIN")
    return parser


def resolve_url(args: argparse.Namespace, profile: Profile, env: dict[str, str]) -> str:
    return str(args.url or env.get("QUIZ_URL") or profile.url or DEFAULT_URL).rstrip("/")


def main(argv: list[str] | None = None, *, inp: TextIO | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    inp, out, err = inp or sys.stdin, out or sys.stdout, err or sys.stderr
    args = build_parser().parse_args(argv)
    url = DEFAULT_URL
    try:
        profile = Profile.load(args.profile or default_profile_path())
        url = resolve_url(args, profile, dict(os.environ))
        account = Account(profile, url)
        try:
            return COMMANDS[args.command](account, args, inp, out)
        finally:
            account.client.close()
    except KeyboardInterrupt:
        err.write("\ninterrupted\n")
        return 130
    except (CliError, ApiError, httpx.TransportError, OSError, WebSocketException) as exc:
        quiz_id = quiz_pin(args.quiz_id) if getattr(args, "quiz_id", None) else None
        err.write("error: " + explain(exc, quiz_id=quiz_id, quiz_file=getattr(args, "quiz_file", None), url=url) + "\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
