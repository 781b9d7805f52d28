"""Play or host a live quiz from a terminal, through the public API only (HTTP + WebSocket).

    python -m clients.cli signup                     # asks for username, display name, password
    python -m clients.cli login
    python -m clients.cli create clients/examples/phrasal_verbs.json
    python -m clients.cli host ABC234                # start / next / end / lock / unlock, live leaderboard
    python -m clients.cli play ABC234                # answer by choice number or typed text

The server is taken from --url, else $QUIZ_URL, else the one saved at login, else http://127.0.0.1:8000.
Tokens live in ~/.config/vocab-quiz/session.json (or --profile FILE); an expired access token is
refreshed with POST /auth/refresh. Every failure is one line saying what went wrong and what to do next.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

import httpx
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from clients.quiz_client import RECONNECT_SCHEDULE_S, ApiError, Frame, QuizClient, reconnect_delays

DEFAULT_URL = "http://127.0.0.1:8000"
PROG = "python -m clients.cli"
REFRESH_MARGIN_S = 30  # refresh a little before the server would refuse the token
# The WebSocket API closes a connection idle for 10 minutes; the ping also names the quiz, so a
# registration the server lost comes back within one interval (docs/websocket.md, "Lost registrations").
PING_EVERY_S = 20
RECONNECT_DELAYS_S = RECONNECT_SCHEDULE_S  # jittered (quiz_client.reconnect_delays); then give up and say how to rejoin by hand
BOARD_ROWS = 5
COUNTDOWN_MARKS = (10, 5, 3)
AUTH_CODES = {"token_expired", "invalid_token", "token_revoked", "refresh_token_reused", "missing_token"}

T = TypeVar("T")


class CliError(Exception):
    """A failure the user can act on; its message is the one line the CLI prints."""


# ---------------------------------------------------------------------------------------- errors


def explain(exc: BaseException, *, quiz_id: str | None = None, quiz_file: str | None = None, url: str = DEFAULT_URL) -> str:
    """One line: what went wrong — what to do next."""
    if isinstance(exc, CliError):
        return str(exc)
    if isinstance(exc, httpx.TransportError | ConnectionError | TimeoutError):
        return f"cannot reach the quiz server at {url} — start it with `make run`, or pass --url / set QUIZ_URL"
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.strerror or exc}: {exc.filename} — check the path and its permissions"
    if not isinstance(exc, ApiError):
        return f"unexpected error: {exc}"
    error = exc.body.get("error", {}) if isinstance(exc.body, dict) else {}
    code = exc.code or error.get("code") or ""
    message = str(error.get("message") or exc)
    pin = quiz_id or "?"
    hints: dict[str, str] = {
        "not_found": f"quiz {pin} not found — check the PIN",
        "invalid_credentials": f"wrong username or password — try again, or create an account with `{PROG} signup`",
        "username_taken": f"that username is taken — pick another one, or log in with `{PROG} login`",
        "quiz_locked": f"the host locked quiz {pin} — ask them to unlock it, then join again",
        "quiz_ended": f"quiz {pin} has ended — ask the host for a new PIN",
        "removed_from_quiz": f"the host removed you from quiz {pin}",
        "not_quiz_host": f"only the account that created quiz {pin} can host it — log in as that account",
        "forbidden": f"you may not do that in quiz {pin} — {message}",
        "no_more_questions": "that was the last question — type `end` to finish the quiz",
        "already_answered": "you already answered this question — wait for the next one",
        "question_closed": "too late: the question closed — wait for the next one",
        "question_not_open": "that question is not open yet — wait for the host",
        "not_a_participant": f"you are not in quiz {pin} — join it with `{PROG} play {pin}`",
        "rate_limited": f"too many attempts — wait {error.get('details', {}).get('retry_after', 'a few')} s and try again",
    }
    if code in AUTH_CODES or (exc.status == 401 and code != "invalid_credentials"):
        return f"your session has expired or was signed out — log in again with `{PROG} login`"
    if code in hints:
        return hints[code]
    if code == "conflict" and "start" in message:
        return f"{message} — the quiz is already running; use `next` or `end`"
    if code in {"invalid_username", "invalid_display_name", "display_name_rejected", "weak_password"}:
        return f"{message} — choose another and run `{PROG} signup` again"
    if code == "validation_failed" and quiz_file:
        field_name = error.get("details", {}).get("field", "")
        where = f" (field {field_name})" if field_name else ""
        return f"{quiz_file} is not a valid quiz{where}: {message} — fix it and run `{PROG} create {quiz_file}` again"
    if exc.status >= 500:
        return f"the server failed ({exc.status} {code}) — try again; if it persists, check the `make run` log"
    return f"{message} ({code or exc.status})"


# ---------------------------------------------------------------------------------------- session file


def default_profile_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vocab-quiz" / "session.json"


@dataclass
class Profile:
    """The signed-in user's tokens, kept between commands (mode 0600: the refresh token is a credential)."""

    path: Path
    url: str | None = None
    user: dict[str, Any] = field(default_factory=dict)
    access_token: str | None = None
    refresh_token: str | None = None
    access_expires_at: float = 0.0

    @classmethod
    def load(cls, path: Path) -> Profile:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {path} ({exc}) — delete it and log in again with `{PROG} login`") from exc
        return cls(
            path,
            url=data.get("url"),
            user=data.get("user") or {},
            access_token=data.get("access_token"),
            refresh_token=data.get("refresh_token"),
            access_expires_at=float(data.get("access_expires_at") or 0),
        )

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "url": self.url,
            "user": self.user,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "access_expires_at": self.access_expires_at,
        }
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)

    def store_tokens(self, body: dict[str, Any], now: float) -> None:
        tokens = body.get("tokens", body)
        self.access_token, self.refresh_token = tokens["access_token"], tokens["refresh_token"]
        self.access_expires_at = now + float(tokens.get("expires_in", 0))
        if isinstance(body.get("user"), dict):
            self.user = body["user"]


class Account:
    """A QuizClient bound to a saved profile: refreshes the access token when it expires and saves it."""

    def __init__(self, profile: Profile, url: str, *, clock: Callable[[], float] = time.time) -> None:
        self.profile = profile
        self.url = url
        self.clock = clock
        self.client = QuizClient(url)
        self.client.access_token, self.client.refresh_token = profile.access_token, profile.refresh_token
        self.client.user = profile.user

    @property
    def user_id(self) -> str:
        return str(self.profile.user.get("id") or self.profile.user.get("user_id") or "")

    @property
    def display_name(self) -> str:
        return str(self.profile.user.get("display_name") or self.profile.user.get("username") or "you")

    def remember(self, body: dict[str, Any]) -> None:
        self.profile.url = self.url
        self.profile.store_tokens(body, self.clock())
        self.client.access_token, self.client.refresh_token = self.profile.access_token, self.profile.refresh_token
        self.profile.save()

    def require_login(self) -> None:
        if not self.profile.refresh_token:
            raise CliError(f"not logged in — run `{PROG} login` (or `{PROG} signup` for a new account)")

    def refresh(self) -> None:
        self.require_login()
        self.client.access_token = None
        body = self.client.call("POST", "/auth/refresh", json={"refresh_token": self.profile.refresh_token})
        self.remember(body)

    def fresh_token(self) -> str:
        self.require_login()
        if not self.profile.access_token or self.clock() > self.profile.access_expires_at - REFRESH_MARGIN_S:
            self.refresh()
        assert self.profile.access_token
        return self.profile.access_token

    def call(self, action: Callable[[QuizClient], T]) -> T:
        """Run an HTTP call as the user; on an expired token, refresh once and retry."""
        self.fresh_token()
        try:
            return action(self.client)
        except ApiError as exc:
            if exc.status != 401 or exc.code != "token_expired":
                raise
        self.refresh()
        return action(self.client)

    def open_socket(self) -> ClientConnection:
        """The WebSocket, with the token in the query string (as a browser sends it)."""
        for attempt in (1, 2):
            try:
                # entered as a context manager (websockets 17 warns otherwise); run_live closes it
                return connect(f"{self.client.ws_url}?token={self.fresh_token()}", open_timeout=10, max_size=2**20).__enter__()
            except InvalidStatus as exc:
                if exc.response.status_code == 401 and attempt == 1:
                    self.refresh()
                    continue
                raise CliError(f"the server refused the WebSocket ({exc.response.status_code}) — log in again with `{PROG} login`") from exc
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------- rendering


def seconds(ms: float) -> int:
    return max(0, int((ms + 999) // 1000))


def render_question(question: dict[str, Any], remaining_ms: float, question_count: int | None = None) -> list[str]:
    qid = question.get("question_id")
    of = f"/{question_count}" if question_count else ""
    lines = [
        "",
        f"── Question {qid}{of} · {question.get('points', 0)} points · {seconds(remaining_ms)} s ──",
        f"  {question.get('prompt', '')}",
    ]
    if question.get("kind") == "multiple_choice":
        lines += [f"    {i}) {choice}" for i, choice in enumerate(question.get("choices", []), 1)]
        lines.append(f"  answer with a number 1-{len(question.get('choices', []))}:")
    else:
        lines.append("  type your answer and press Enter:")
    return lines


def render_answer_result(frame: dict[str, Any]) -> str:
    streak = f", streak {frame['streak']}" if frame.get("streak", 0) > 1 else ""
    if frame.get("correct"):
        return f"✓ correct! +{frame.get('points', 0)} points (total {frame.get('total', 0)}{streak})"
    return f"✗ wrong — 0 points (total {frame.get('total', 0)})"


def render_leaderboard(frame: dict[str, Any], me: str | None = None, rows: int = BOARD_ROWS) -> list[str]:
    top = frame.get("top") or []
    count = frame.get("participants", len(top))
    lines = [f"leaderboard · {count} player{'s' if count != 1 else ''}"]
    if not top:
        lines.append("  (no scores yet)")
    for row in top[:rows]:
        mark = ">" if me and row.get("user_id") == me else " "
        you = "  ← you" if mark == ">" else ""
        lines.append(f" {mark}{row.get('rank', '?'):>3}. {str(row.get('display_name', ''))[:24]:<24} {row.get('score', 0):>7}{you}")
    return lines


def render_rank(frame: dict[str, Any]) -> str:
    line = f"you are #{frame.get('rank')} of {frame.get('participants')} with {frame.get('score', 0)} points"
    if frame.get("next_display_name"):
        line += f" — {frame.get('gap_to_next')} more to pass {frame['next_display_name']}"
    elif frame.get("rank") == 1:
        line += " — in the lead!"
    return line


def correct_answer_text(frame: dict[str, Any]) -> str:
    if "correct_answer" in frame:
        return str(frame["correct_answer"])
    return " / ".join(str(a) for a in frame.get("accepted_answers", []))


def render_question_closed(frame: dict[str, Any]) -> list[str]:
    lines = [f"── question {frame.get('question_id')} closed · answer: {correct_answer_text(frame)}"]
    mine = frame.get("your_result")
    if mine is not None:
        if not mine.get("answered"):
            lines.append(f"   you did not answer (total {mine.get('total', 0)})")
        elif mine.get("correct"):
            lines.append(f"   you were right: +{mine.get('points', 0)} (total {mine.get('total', 0)})")
        else:
            lines.append(f"   you were wrong: 0 points (total {mine.get('total', 0)})")
    elif "answers" in frame:
        lines.append(f"   {frame['answers']} answer{'s' if frame['answers'] != 1 else ''} received")
    return lines


def render_standings(standings: list[dict[str, Any]], me: str | None = None) -> list[str]:
    lines = ["", "══ final standings ══"]
    if not standings:
        lines.append("  nobody played")
    for row in standings:
        you = "  ← you" if me and row.get("user_id") == me else ""
        lines.append(f" {row.get('rank', '?'):>3}. {str(row.get('display_name', ''))[:24]:<24} {row.get('score', 0):>7}{you}")
    return lines


def parse_answer(question: dict[str, Any], text: str) -> int | str:
    """A choice number (1-based, as shown) or the choice's text becomes its index; typed answers pass as text."""
    text = text.strip()
    if not text:
        raise CliError("empty answer — type something and press Enter")
    if question.get("kind") != "multiple_choice":
        return text
    choices = [str(c) for c in question.get("choices", [])]
    if text.isdigit() and 1 <= int(text) <= len(choices):
        return int(text) - 1
    by_text = [i for i, c in enumerate(choices) if c.casefold() == text.casefold()]
    if by_text:
        return by_text[0]
    raise CliError(f"answer with a number from 1 to {len(choices)}")


# ---------------------------------------------------------------------------------------- live screens

Send = Callable[[Frame], None]


@dataclass
class Screen:
    """What a live session shows; `on_frame`/`on_line` return the lines to print. `done` ends the session."""

    quiz_id: str
    me: str
    send: Send
    done: bool = False
    exit_code: int = 0
    question: dict[str, Any] | None = None
    question_count: int | None = None
    last_question_id: int | None = None  # the latest question opened (kept after it closes)
    deadline: float = 0.0  # time.monotonic() at which the open question closes
    marks_left: list[int] = field(default_factory=list)
    board_seq: int = -1
    board: dict[str, Any] = field(default_factory=dict)

    def open_question(self, frame: dict[str, Any], now: float) -> list[str]:
        question = frame.get("question") or {}
        if self.question and self.question.get("question_id") == question.get("question_id"):
            return []  # the snapshot and the broadcast can both carry it
        self.question, self.question_count = question, frame.get("question_count", self.question_count)
        self.last_question_id = question.get("question_id")
        self.deadline = now + frame.get("remaining_ms", 0) / 1000
        self.marks_left = [m for m in COUNTDOWN_MARKS if m < frame.get("remaining_ms", 0) / 1000]
        return render_question(question, frame.get("remaining_ms", 0), self.question_count)

    def tick(self, now: float) -> list[str]:
        """Countdown lines at 10, 5 and 3 seconds left."""
        if self.question is None or not self.marks_left:
            return []
        left = self.deadline - now
        if left > self.marks_left[0]:
            return []
        mark = self.marks_left.pop(0)
        while self.marks_left and left <= self.marks_left[0]:
            mark = self.marks_left.pop(0)
        return [f"  ⏳ {mark} s left"]

    def take_board(self, frame: dict[str, Any]) -> bool:
        seq = int(frame.get("seq", 0))
        if seq <= self.board_seq:
            return False  # an older push that arrived late
        self.board_seq, self.board = seq, frame
        return True

    def error_line(self, frame: dict[str, Any]) -> str:
        return "error: " + explain(ApiError(400, {"error": frame}), quiz_id=self.quiz_id)

    def on_frame(self, frame: Frame, now: float) -> list[str]:
        raise NotImplementedError

    def on_line(self, line: str, now: float) -> list[str]:
        raise NotImplementedError


@dataclass
class PlayScreen(Screen):
    answered: set[int] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)  # request_id → question_id

    def on_frame(self, frame: Frame, now: float) -> list[str]:
        kind = frame.get("type")
        if kind == "joined":
            quiz = frame.get("quiz", {})
            me = frame.get("me") or {}
            self.question_count = quiz.get("question_count")
            lines = [
                f"joined {quiz.get('title', '')!r} ({self.quiz_id}) · {quiz.get('question_count')} questions · "
                f"{frame.get('leaderboard', {}).get('participants', 0)} players · status {quiz.get('status')}",
                f"your score: {me.get('score', 0)}" + (f" (#{me['rank']})" if me.get("rank") else ""),
            ]
            if frame.get("open_question"):
                lines += self.on_frame(frame["open_question"], now)
            elif quiz.get("status") == "open":
                lines.append("waiting for the host to start… (type /quit to leave)")
            return lines
        if kind == "question_opened":
            return self.open_question(frame, now)
        if kind == "answer_result":
            self.pending.pop(str(frame.get("request_id")), None)
            return [render_answer_result(frame)]
        if kind == "your_rank":
            return [render_rank(frame)]
        if kind == "leaderboard":
            return render_leaderboard(frame, self.me) if self.take_board(frame) else []
        if kind == "question_closed":
            if self.question and self.question.get("question_id") == frame.get("question_id"):
                self.question, self.marks_left = None, []
            return render_question_closed(frame)
        if kind == "quiz_ended":
            self.done = True
            return [*render_standings(frame.get("standings", []), self.me), "", "thanks for playing!"]
        if kind == "removed":
            self.done, self.exit_code = True, 1
            return [f"the host removed you from quiz {self.quiz_id}"]
        if kind == "error":
            if frame.get("action") == "join":
                self.done, self.exit_code = True, 1
            else:
                qid = self.pending.pop(str(frame.get("request_id")), None)
                if qid is not None and frame.get("code") not in {"already_answered", "question_closed"}:
                    self.answered.discard(qid)  # rejected before it counted: the player may try again
            return [self.error_line(frame)]
        return []

    def on_line(self, line: str, now: float) -> list[str]:
        text = line.strip()
        if text in {"/quit", "/q", "/exit"}:
            self.done = True
            return [f"left quiz {self.quiz_id} — rejoin with `{PROG} play {self.quiz_id}` (your score is kept)"]
        if text in {"/board", "/b"}:
            return render_leaderboard(self.board, self.me) if self.board else ["no leaderboard yet"]
        if text in {"/help", "/h", "?"}:
            return ["answer with a choice number or typed text · /board leaderboard · /quit leave"]
        if not text:
            return []
        question = self.question
        if question is None or now >= self.deadline:
            return ["no question is open — wait for the host"]
        qid = int(question["question_id"])
        if qid in self.answered:
            return [f"you already answered question {qid} — wait for the next one"]
        try:
            answer = parse_answer(question, text)
        except CliError as exc:
            return [str(exc)]
        request_id = str(uuid.uuid4())
        self.answered.add(qid)
        self.pending[request_id] = qid
        self.send({"action": "answer", "quiz_id": self.quiz_id, "question_id": qid, "answer": answer, "request_id": request_id})
        return []


HOST_HELP = "commands: start · next · end · lock · unlock · players · board · help · quit"
HOST_ACTIONS = {"s": "start", "start": "start", "n": "next", "next": "next", "e": "end", "end": "end", "l": "lock", "lock": "lock"}
HOST_ACTIONS |= {"u": "unlock", "unlock": "unlock"}


@dataclass
class HostScreen(Screen):
    """The host's view; pacing goes over HTTP (`act`), the roster is fetched when the player count changes."""

    act: Callable[[str, int | None], dict[str, Any]] = lambda action, from_question_id: {}
    roster: Callable[[], list[dict[str, Any]]] = lambda: []
    players: dict[str, str] = field(default_factory=dict)  # user_id → display name
    player_count: int = 0

    def sync_players(self, count: int, *, force: bool = False) -> list[str]:
        if count == self.player_count and not force:
            return []
        self.player_count = count
        try:
            roster = self.roster()
        except (ApiError, CliError, httpx.TransportError) as exc:
            return ["error: " + explain(exc, quiz_id=self.quiz_id)]
        now = {p["user_id"]: str(p.get("display_name", "")) for p in roster}
        self.player_count = len(now)
        lines = [f"+ {name} joined ({len(now)} players)" for uid, name in now.items() if uid not in self.players]
        lines += [f"- {name} left ({len(now)} players)" for uid, name in self.players.items() if uid not in now]
        self.players = now
        return lines

    def on_frame(self, frame: Frame, now: float) -> list[str]:
        kind = frame.get("type")
        if kind == "joined":
            quiz = frame.get("quiz", {})
            self.question_count = quiz.get("question_count")
            lines = [
                f"hosting {quiz.get('title', '')!r} · PIN {self.quiz_id} · {quiz.get('question_count')} questions · status {quiz.get('status')}"
                + (" · locked" if quiz.get("locked") else ""),
                f"players join with: {PROG} play {self.quiz_id}   (or the web page at /play)",
                HOST_HELP,
            ]
            lines += self.sync_players(int(frame.get("leaderboard", {}).get("participants", 0)))
            if frame.get("open_question"):
                lines += self.on_frame(frame["open_question"], now)
            return lines
        if kind == "question_opened":
            return self.open_question(frame, now)
        if kind == "leaderboard":
            if not self.take_board(frame):
                return []
            return [*self.sync_players(int(frame.get("participants", 0))), *render_leaderboard(frame)]
        if kind == "question_closed":
            self.question, self.marks_left = None, []
            last = self.question_count is not None and frame.get("question_id") == self.question_count
            return [*render_question_closed(frame), "type `end` to finish" if last else "type `next` for the next question"]
        if kind == "quiz_ended":
            self.done = True
            return render_standings(frame.get("standings", []))
        if kind == "error":
            return [self.error_line(frame)]
        return []

    def on_line(self, line: str, now: float) -> list[str]:
        text = line.strip().lower()
        if not text:
            return []
        if text in {"q", "quit", "exit"}:
            self.done = True
            return [f"stopped watching — the quiz goes on; come back with `{PROG} host {self.quiz_id}`"]
        if text in {"h", "help", "?"}:
            return [HOST_HELP]
        if text in {"b", "board"}:
            return render_leaderboard(self.board) if self.board else ["no leaderboard yet"]
        if text in {"p", "players"}:
            lines = self.sync_players(self.player_count, force=True)
            names = ", ".join(sorted(self.players.values(), key=str.casefold)) or "nobody yet"
            return [*lines, f"{len(self.players)} players: {names}"]
        action = HOST_ACTIONS.get(text)
        if action is None:
            return [f"unknown command {text!r} — {HOST_HELP}"]
        try:
            # `next` names the question it leaves, so a retried or doubled `next` moves only once
            result = self.act(action, self.last_question_id if action == "next" else None)
        except (ApiError, CliError, httpx.TransportError) as exc:
            return ["error: " + explain(exc, quiz_id=self.quiz_id)]
        if action in {"lock", "unlock"}:
            return [f"quiz {self.quiz_id} {'locked: no new players' if result.get('locked') else 'unlocked: players can join'}"]
        if action == "end":
            self.done = True
            return render_standings(result.get("standings", [])) if "standings" in result else []
        return []


# ---------------------------------------------------------------------------------------- event loop

Event = tuple[str, Any]


def pump_frames(ws: ClientConnection, events: queue.Queue[Event]) -> None:
    try:
        for message in ws:
            try:
                events.put(("frame", json.loads(message)))
            except ValueError:
                continue
        events.put(("closed", "the server closed the connection"))
    except ConnectionClosed as exc:
        events.put(("closed", f"the connection closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"))


def pump_lines(inp: TextIO, events: queue.Queue[Event]) -> None:
    for line in iter(inp.readline, ""):
        events.put(("line", line))
    events.put(("eof", None))


def emit(out: TextIO, lines: Iterable[str]) -> None:
    for line in lines:
        out.write(line + "\n")
    out.flush()


def run_live(
    account: Account, screen_for: Callable[[Send], Screen], inp: TextIO, out: TextIO, *, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Join over the WebSocket and show frames and typed commands until the quiz ends or the user leaves.

    It joins again by itself when the server says it lost this connection (`rejoin`) and after
    reconnecting a socket that closed under it; the seat and the score are the player's, not the socket's.
    """
    ws = account.open_socket()
    send_lock = threading.Lock()

    def send(frame: Frame) -> None:
        with send_lock:
            ws.send(json.dumps(frame))

    screen = screen_for(send)
    events: queue.Queue[Event] = queue.Queue()
    threading.Thread(target=pump_frames, args=(ws, events), daemon=True).start()
    threading.Thread(target=pump_lines, args=(inp, events), daemon=True).start()
    join = {"action": "join", "quiz_id": screen.quiz_id}
    send(join)
    last_sent = time.monotonic()
    try:
        while not screen.done:
            try:
                kind, value = events.get(timeout=0.2)
            except queue.Empty:
                kind, value = "tick", None
            now = time.monotonic()
            if kind == "frame" and value.get("type") == "rejoin":
                emit(out, [f"the server lost track of this connection — rejoining quiz {screen.quiz_id}"])
                send(join)
            elif kind == "frame":
                emit(out, screen.on_frame(value, now))
            elif kind == "line":
                emit(out, screen.on_line(value, now))
                last_sent = now
            elif kind == "eof":
                emit(out, screen.on_line("/quit" if isinstance(screen, PlayScreen) else "quit", now))
            elif kind == "closed":
                emit(out, [f"{value} — reconnecting…"])
                reopened = reconnect(account, sleep)
                if reopened is None:
                    command = f"{PROG} {'play' if isinstance(screen, PlayScreen) else 'host'} {screen.quiz_id}"
                    emit(out, [f"error: {value} — run `{command}` to rejoin"])
                    return 1
                with send_lock:
                    ws = reopened
                threading.Thread(target=pump_frames, args=(ws, events), daemon=True).start()
                send(join)
                last_sent = now
            emit(out, screen.tick(now))
            if now - last_sent > PING_EVERY_S:
                send({"action": "ping", "quiz_id": screen.quiz_id})
                last_sent = now
        return screen.exit_code
    finally:
        ws.close()


def reconnect(account: Account, sleep: Callable[[float], None]) -> ClientConnection | None:
    """A new socket after spaced attempts (the first after a quarter of a second), or None when the server
    stays out of reach for about two minutes."""
    for delay in reconnect_delays(RECONNECT_DELAYS_S):
        sleep(delay)
        try:
            return account.open_socket()
        except (CliError, OSError, WebSocketException, httpx.HTTPError):
            continue
    return None


# ---------------------------------------------------------------------------------------- commands


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


def cmd_create(account: Account, args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    quiz = load_quiz_file(args.quiz_file)
    created = account.call(lambda c: c.create_quiz(quiz))
    pin = created["quiz_id"]
    emit(
        out,
        [
            f"created {created.get('title')!r} with {created.get('question_count')} questions — PIN {pin}",
            f"host it:  {PROG} host {pin}",
            f"play it:  {PROG} play {pin}",
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
            roster=lambda: account.call(lambda c: list(c.call("GET", f"/quizzes/{pin}/participants")["participants"])),
        )

    return run_live(account, screen_for, inp, out)


def cmd_play(account: Account, args: argparse.Namespace, inp: TextIO, out: TextIO) -> int:
    pin = quiz_pin(args.quiz_id)
    return run_live(account, lambda send: PlayScreen(quiz_id=pin, me=account.user_id, send=send), inp, out)


COMMANDS: dict[str, Callable[[Account, argparse.Namespace, TextIO, TextIO], int]] = {
    "signup": cmd_signup,
    "login": cmd_login,
    "create": cmd_create,
    "host": cmd_host,
    "play": cmd_play,
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
