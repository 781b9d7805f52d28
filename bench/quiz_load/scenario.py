"""One scenario: `rooms` quizzes of `players` players each, played at once through the public API.

Connect and join everyone (timed), start every quiz, and for each question let every player answer
once at a random moment within the spread after *their* `question_opened`, then wait until each new
total shows on that player's socket (or the reflect timeout) and until `question_closed` arrives at
every player after the deadline; then the host moves on. Everything observed lands in a
`ScenarioRun`, filled as the run goes, so a run cut short still reports what it measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from bench.quiz_load.cpu import CpuMeter, rss_kib
from bench.quiz_load.live import AnswerRecord, LiveConnection
from bench.quiz_load.seeding import BenchAccount

CHOICES = ["right", "wrong one", "wrong two", "wrong three"]
_FAILURES = (TimeoutError, ConnectionError, OSError, httpx.HTTPError)


@dataclass(frozen=True)
class Target:
    base_url: str
    emulator_pid: int | None = None  # the node under test, when this run started it: its CPU is measured per function
    emulator_log: Path | None = None  # its log, when this run started it: what became of the responses API Gateway dropped

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/ws"


@dataclass(frozen=True)
class ScenarioSpec:
    rooms: int
    players: int  # per room
    questions: int = 2
    spread_s: float = 4.0
    correct_rate: float = 0.7
    answer_via: str = "ws"  # ws | http | mixed
    question_time_s: int = 10
    reflect_timeout_s: float = 30.0
    request_timeout_s: float = 30.0
    close_timeout_s: float = 15.0
    connect_concurrency: int = 200
    seed: int | None = None

    @property
    def connections(self) -> int:
        return self.rooms * self.players

    @property
    def name(self) -> str:
        return f"{self.rooms}x{self.players}" if self.rooms > 1 else str(self.players)


@dataclass
class Player:
    room: int
    index: int
    account: BenchAccount
    via: str
    conn: LiveConnection
    join_s: float | None = None
    join_error: str | None = None


@dataclass
class Room:
    index: int
    host: BenchAccount
    players: list[Player]
    quiz_id: str = ""
    deadlines: dict[int, float] = field(default_factory=dict)  # question -> deadline (epoch seconds, server clock)

    @property
    def joined(self) -> list[Player]:
        return [p for p in self.players if p.join_s is not None]


@dataclass
class ScenarioRun:
    """What one scenario observed (raw); report.py turns it into figures."""

    spec: ScenarioSpec
    started_at: str = ""
    join_s: float | None = None  # connect + join of everyone, first attempt to last reply
    join_latencies_s: list[float] = field(default_factory=list)
    join_errors: Counter[str] = field(default_factory=Counter)
    records: list[AnswerRecord] = field(default_factory=list)
    close_delays_ms: dict[int, list[float]] = field(default_factory=dict)  # question -> question_closed arrival − deadline, per player
    close_missing: int = 0
    window_s: float = 0.0
    window_frames: Counter[str] = field(default_factory=Counter)
    window_connections: int = 0
    fanout: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)  # phase (join, quiz) -> component -> CPU seconds
    emulator_rss_kib: tuple[int, int] | None = None  # the node's resident memory before and after everyone joined
    completed: bool = False
    stopped_by: str | None = None
    # Answers sent before the deadline that got no reply (API Gateway's 29 s timeout: the invocation still
    # runs): how many the database held by the end of the wait after the quiz, and when the last one came.
    no_reply_recorded: int | None = None
    no_reply_settled_s: float | None = None
    # The responses the node dropped after API Gateway's integration timeout, from its log, by function and
    # by what they were ("WsAnswerFunction: status 200, type answer_result"); None when the log is not ours.
    dropped: Counter[str] | None = None


def _via(index: int, answer_via: str) -> str:
    return ("http" if index % 2 else "ws") if answer_via == "mixed" else answer_via


def quiz_document(questions: int, time_limit_s: int) -> dict[str, Any]:
    return {
        "title": "Quiz load benchmark",
        "questions": [
            {"kind": "multiple_choice", "prompt": f"Load question {i + 1}?", "choices": CHOICES, "correct_choice": 0,
             "time_limit_ms": time_limit_s * 1000, "points": 1000}
            for i in range(questions)
        ],
    }  # fmt: skip


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _bar(total: int, desc: str, progress: bool) -> tqdm:
    return tqdm(total=total, desc=desc, unit="", disable=not progress, leave=False, mininterval=0.5)


class ScenarioDriver:
    """Drives one scenario over one HTTP client; every wait is bounded."""

    def __init__(self, target: Target, spec: ScenarioSpec, http: httpx.AsyncClient, *, progress: bool = True) -> None:
        self.target, self.spec, self.http, self.progress = target, spec, http, progress
        self.rng = random.Random(spec.seed)
        self.run = ScenarioRun(spec)
        self.rooms: list[Room] = []
        self.cpu = CpuMeter(target.emulator_pid) if CpuMeter.available() else None

    @contextlib.contextmanager
    def _cpu(self, phase: str) -> Iterator[None]:
        """CPU seconds per component spent during the phase, kept in the run (partial phases too)."""
        before = self.cpu.snapshot() if self.cpu else None
        try:
            yield
        finally:
            if self.cpu and before is not None:
                self.run.cpu[phase] = self.cpu.spent(before, self.cpu.snapshot())

    # ------------------------------------------------------------------ HTTP as the host or a player

    async def call(self, account: BenchAccount, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {account.token}", **kw.pop("headers", {})}
        return await self.http.request(method, path, headers=headers, timeout=self.spec.request_timeout_s, **kw)

    async def host(self, room: Room, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        reply = await self.call(room.host, "POST", f"/quizzes/{room.quiz_id}/{action}", json=body)
        if reply.status_code != 200:
            raise RuntimeError(f"host {action} of quiz {room.quiz_id}: {reply.status_code} {reply.text[:200]}")
        return dict(reply.json())

    # ------------------------------------------------------------------ phases

    async def play(
        self,
        players: list[BenchAccount],
        hosts: list[BenchAccount],
        *,
        after_quiz: Callable[[list[LiveConnection]], Awaitable[None]] | None = None,
    ) -> ScenarioRun:
        """The whole scenario (then `after_quiz` with the players' sockets still open); sockets are closed whatever happens."""
        self.run.started_at = datetime.now().astimezone().isoformat(timespec="seconds")
        self.rooms = [self._room(r, hosts[r], players) for r in range(self.spec.rooms)]
        try:
            await self.create_quizzes()
            await self.join_everyone()
            await self.quiz()
            if after_quiz is not None:
                await after_quiz([p.conn for room in self.rooms for p in room.joined if p.conn.closed is None])
            self.run.completed = True
        finally:
            await self.close_everything()
        return self.run

    def no_reply(self) -> dict[tuple[str, int, str], AnswerRecord]:
        """The answers sent before the deadline that got no reply, by (quiz id, question, user id): each
        must count (one sent after the deadline is refused, as it should be)."""
        out = {}
        for r in self.run.records:
            if r.t_ack is None and r.t_sent and r.sent_in_time:
                room = self.rooms[r.room]
                out[(room.quiz_id, r.question, room.players[r.player].account.user_id)] = r
        return out

    def _room(self, index: int, host: BenchAccount, accounts: list[BenchAccount]) -> Room:
        """Room `index` seats the index-th slice of the player accounts."""
        size = self.spec.players
        seats = enumerate(accounts[index * size : (index + 1) * size])
        return Room(index, host, [Player(index, i, a, _via(i, self.spec.answer_via), LiveConnection(a.user_id)) for i, a in seats])

    async def create_quizzes(self) -> None:
        document = quiz_document(self.spec.questions, self.spec.question_time_s)

        async def create(room: Room) -> None:
            reply = await self.call(room.host, "POST", "/quizzes", json=document)
            if reply.status_code != 201:
                raise RuntimeError(f"creating a quiz: {reply.status_code} {reply.text[:200]}")
            room.quiz_id = str(reply.json()["quiz_id"])

        await _bounded(create, self.rooms, 16)

    async def join_everyone(self) -> None:
        """Connect (`$connect` with the token in the query string) and `join`, at most N at a time."""
        everyone = [p for room in self.rooms for p in room.players]
        with _bar(len(everyone), f"{self.spec.name}: connect + join", self.progress) as bar:

            async def join(player: Player) -> None:
                await self.join_one(player)
                bar.update(1)

            started = time.monotonic()
            rss_before = rss_kib(self.target.emulator_pid)
            with self._cpu("join"):
                await _bounded(join, everyone, self.spec.connect_concurrency)
            self.run.join_s = time.monotonic() - started
            rss_after = rss_kib(self.target.emulator_pid)
            if rss_before is not None and rss_after is not None:
                self.run.emulator_rss_kib = (rss_before, rss_after)
        joined = [p.join_s for p in everyone if p.join_s is not None]
        self.run.join_latencies_s = joined
        if not joined:
            raise RuntimeError(f"no player could join: {dict(self.run.join_errors)}")

    async def join_one(self, player: Player) -> None:
        room, timeout = self.rooms[player.room], self.spec.request_timeout_s
        started = time.monotonic()
        try:
            await player.conn.open(f"{self.target.ws_url}?token={player.account.token}", timeout)
            arrived, _, frame = await player.conn.request({"action": "join", "quiz_id": room.quiz_id}, ("joined",), timeout)
        except _FAILURES as exc:
            player.join_error = type(exc).__name__
        except Exception as exc:  # websockets' InvalidStatus (a refused upgrade) and friends
            player.join_error = f"{type(exc).__name__}: {exc}"[:120]
        else:
            if frame.get("type") == "joined":
                player.join_s = arrived - started
            else:
                player.join_error = str(frame.get("error", {}).get("code"))
        if player.join_error:
            self.run.join_errors[player.join_error] += 1

    async def quiz(self) -> None:
        live = [p for room in self.rooms for p in room.joined]
        before = _frame_counts(live)
        started = time.monotonic()
        try:
            with self._cpu("quiz"):
                for question in range(1, self.spec.questions + 1):
                    await self.question(question)
        finally:
            self.run.window_s = time.monotonic() - started
            self.run.window_frames = _frame_counts(live) - before
            self.run.window_connections = len(live)

    async def question(self, question: int) -> None:
        action, body = ("start", None) if question == 1 else ("next", {"from_question_id": question - 1})
        await asyncio.gather(*(self.host(room, action, body) for room in self.rooms))
        plays = [(room, p) for room in self.rooms for p in room.joined]
        plans = [(self.rng.uniform(0, self.spec.spread_s), self._choice()) for _ in plays]
        with _bar(len(plays), f"{self.spec.name}: question {question}/{self.spec.questions}", self.progress) as bar:

            async def play(item: tuple[tuple[Room, Player], tuple[float, int]]) -> None:
                (room, player), (at, choice) = item
                await self.answer(room, player, question, at, choice)
                bar.update(1)

            await asyncio.gather(*(play(item) for item in zip(plays, plans, strict=True)))
        await self.reflections([r for r in self.run.records if r.question == question])
        await self.closes(question)

    def _choice(self) -> int:
        return 0 if self.rng.random() < self.spec.correct_rate else self.rng.randint(1, len(CHOICES) - 1)

    # ------------------------------------------------------------------ one answer

    async def answer(self, room: Room, player: Player, question: int, at: float, choice: int) -> None:
        record = AnswerRecord(room.index, player.index, question, player.via, round(at, 3), choice)
        try:
            opened, _, frame = await player.conn.mail.get(("question_opened", question), self.spec.request_timeout_s)
        except _FAILURES as exc:
            record.error = f"no question_opened: {type(exc).__name__}"
            self.run.records.append(record)
            return
        record.deadline_wall = room.deadlines.setdefault(question, _epoch(frame["deadline"]))
        self.run.records.append(record)
        await asyncio.sleep(max(0.0, opened + at - time.monotonic()))
        record.t_sent, record.sent_wall = time.monotonic(), time.time()
        player.conn.answer_sent(record)
        send = self._answer_ws if player.via == "ws" else self._answer_http
        try:
            await send(room, player, record)
        except _FAILURES as exc:
            record.error = f"{type(exc).__name__}: {exc}"[:160]
        player.conn.answer_acknowledged(record)

    async def _answer_ws(self, room: Room, player: Player, record: AnswerRecord) -> None:
        request_id = uuid.uuid4().hex
        frame = {"action": "answer", "quiz_id": room.quiz_id, "question_id": record.question, "answer": record.choice,
                 "request_id": request_id}  # fmt: skip
        arrived, _, reply = await player.conn.request(frame, ("reply", request_id), self.spec.request_timeout_s)
        record.t_ack = arrived
        if reply.get("type") == "answer_result":
            record.correct, record.points, record.score = bool(reply["correct"]), int(reply["points"]), int(reply["score"])
        else:
            record.refused, record.error = True, str(reply.get("error", {}).get("code"))

    async def _answer_http(self, room: Room, player: Player, record: AnswerRecord) -> None:
        reply = await self.call(
            player.account, "POST", f"/quizzes/{room.quiz_id}/answers",
            json={"question_id": record.question, "answer": record.choice}, headers={"Idempotency-Key": uuid.uuid4().hex},
        )  # fmt: skip
        if reply.status_code >= 500:
            record.error = f"HTTP {reply.status_code}"
            return
        record.t_ack = time.monotonic()
        body = reply.json()
        if reply.status_code == 200:
            record.correct, record.points, record.score = bool(body["correct"]), int(body["points"]), int(body["score"])
        else:
            record.refused, record.error = True, str((body.get("error") or {}).get("code") or reply.status_code)

    # ------------------------------------------------------------------ waiting for what players see

    async def reflections(self, records: list[AnswerRecord]) -> None:
        """Until every new score of this question showed on its player's socket, or the reflect timeout."""
        until = time.monotonic() + self.spec.reflect_timeout_s
        waiting = [r for r in records if r.changes_total]
        while waiting and time.monotonic() < until:
            await asyncio.sleep(0.05)
            waiting = [r for r in waiting if r.t_board is None]

    async def closes(self, question: int) -> None:
        """`question_closed` at every player: its delay after the deadline (both on this machine's clock)."""

        async def closed(room: Room, player: Player) -> None:
            deadline = room.deadlines.get(question)
            wait = (deadline - time.time() if deadline else self.spec.question_time_s) + self.spec.close_timeout_s
            try:
                _, wall, _ = await player.conn.mail.get(("question_closed", question), max(0.1, wait))
            except _FAILURES:
                self.run.close_missing += 1
                return
            if deadline:
                self.run.close_delays_ms.setdefault(question, []).append((wall - deadline) * 1000)

        await asyncio.gather(*(closed(room, p) for room in self.rooms for p in room.joined))

    async def close_everything(self) -> None:
        for room in self.rooms:
            if room.quiz_id:
                with contextlib.suppress(Exception):
                    await self.host(room, "end")
        await _bounded(lambda p: p.conn.close(), [p for room in self.rooms for p in room.players], 500)


def _frame_counts(players: Iterable[Player]) -> Counter[str]:
    total: Counter[str] = Counter()
    for p in players:
        total.update(p.conn.counts)
    return total


async def _bounded(fn: Callable[[Any], Awaitable[None]], items: list[Any], concurrency: int) -> None:
    """fn(item) for every item, at most `concurrency` at a time; the first error is raised after all finish."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(item: Any) -> None:
        async with gate:
            await fn(item)

    results = await asyncio.gather(*(one(i) for i in items), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
