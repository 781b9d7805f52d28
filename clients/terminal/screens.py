"""The live screens of a player and of a host: what each frame and each typed line turn into."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from clients.quiz_client import ApiError, Frame
from clients.terminal.errors import PROG, CliError, explain
from clients.terminal.render import (
    render_answer_result,
    render_leaderboard,
    render_question,
    render_question_closed,
    render_rank,
    render_standings,
)

COUNTDOWN_MARKS = (10, 5, 3)


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
        return "error: " + explain(ApiError(400, {"error": frame.get("error", {})}), quiz_id=self.quiz_id)

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
                f"{frame.get('leaderboard', {}).get('player_count', 0)} players · status {quiz.get('status')}",
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
                if qid is not None and frame.get("error", {}).get("code") not in {"already_answered", "question_closed"}:
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
            lines += self.sync_players(int(frame.get("leaderboard", {}).get("player_count", 0)))
            if frame.get("open_question"):
                lines += self.on_frame(frame["open_question"], now)
            return lines
        if kind == "question_opened":
            return self.open_question(frame, now)
        if kind == "leaderboard":
            if not self.take_board(frame):
                return []
            return [*self.sync_players(int(frame.get("player_count", 0))), *render_leaderboard(frame)]
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
