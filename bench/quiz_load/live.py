"""One player's WebSocket in the asyncio load generator: a reader task stamps every frame on arrival,
counts it, hands replies and pushed frames to whoever waits for them, and checks every frame that shows
a score against the player's answer in flight. Frames are not kept (10,000 sockets × minutes of
leaderboard frames would not fit): what the benchmark needs is taken from each frame as it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Coroutine, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

T = TypeVar("T")
Frame = dict[str, Any]
Arrival = tuple[float, float, Frame]  # (monotonic, wall clock, frame)
_BOARD_PREFIXES = ('{"type":"leaderboard"', '{"type": "leaderboard"')


@dataclass
class AnswerRecord:
    """One answer and when its effect reached the player who gave it (monotonic seconds unless *_wall)."""

    room: int
    player: int
    question: int
    via: str
    scheduled_s: float  # offset after question_opened at which the player meant to answer
    choice: int = 0
    t_sent: float = 0.0
    sent_wall: float = 0.0
    deadline_wall: float = 0.0
    t_ack: float | None = None
    correct: bool = False
    points: int = 0
    score: int = 0
    error: str | None = None  # error code (answer refused) or exception (request failed)
    refused: bool = False  # the server answered with an error frame / 4xx
    t_board: float | None = None
    board_frame: str | None = None  # "leaderboard" or "your_rank": which frame showed the new score first

    @property
    def changes_total(self) -> bool:
        return self.t_ack is not None and self.error is None and self.points > 0

    @property
    def sent_in_time(self) -> bool:
        return self.sent_wall < self.deadline_wall


@dataclass
class _Watch:
    """Board scores seen while an answer is in flight, and the answer whose new score is awaited."""

    in_flight: AnswerRecord | None = None
    seen: list[tuple[float, int, str]] = field(default_factory=list)
    awaiting: AnswerRecord | None = None


class Mailbox:
    """Values by key, waited for by key, in either order (the frame may arrive before anyone waits)."""

    def __init__(self) -> None:
        self._slots: dict[Hashable, asyncio.Future[Any]] = {}
        self._failed: BaseException | None = None

    def _slot(self, key: Hashable) -> asyncio.Future[Any]:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.get_running_loop().create_future()
        return slot

    def put(self, key: Hashable, value: Any) -> None:
        slot = self._slot(key)
        if not slot.done():
            slot.set_result(value)

    def fail(self, error: BaseException) -> None:
        """The socket closed: everyone waiting, now or later, gets the error."""
        self._failed = error
        for slot in self._slots.values():
            if not slot.done():
                slot.set_exception(error)

    async def get(self, key: Hashable, timeout: float) -> Any:
        slot = self._slot(key)
        if self._failed is not None and not slot.done():
            slot.set_exception(self._failed)
        try:
            return await asyncio.wait_for(asyncio.shield(slot), timeout)
        finally:
            if slot.done():
                self._slots.pop(key, None)
                slot.exception()  # retrieved: no "exception never retrieved" warning
            elif self._slots.get(key) is slot:  # given up on: a late reply gets a slot of its own, nobody's
                del self._slots[key]
                slot.cancel()  # nor will the socket's close leave an exception nobody retrieves


def _reply_key(frame: Frame) -> Hashable | None:
    kind = frame.get("type")
    if kind in ("answer_result", "error") and frame.get("request_id"):
        return ("reply", frame["request_id"])
    if kind == "joined" or (kind == "error" and frame.get("action") == "join"):
        return ("joined",)
    if kind == "pong":
        return ("pong",)
    if kind in ("question_opened", "question_closed"):
        question = frame.get("question", {}).get("question_id") if kind == "question_opened" else frame.get("question_id")
        return (kind, question)
    return None


class LiveConnection:
    """A player's (or a ceiling client's) WebSocket, read by its own task."""

    def __init__(self, user_id: str = "") -> None:
        self.user_id = user_id
        self.ws: ClientConnection | None = None
        self.counts: Counter[str] = Counter()
        self.board_bytes = 0  # size of the latest `leaderboard` frame (the fan-out probes send frames of about this size)
        self.mail = Mailbox()
        self.last_probe_at = 0.0  # arrival of the latest bench_probe frame
        self.closed: BaseException | None = None
        self._watch = _Watch()
        self._reader: asyncio.Task[None] | None = None

    async def open(self, url: str, timeout: float) -> None:
        # No permessage-deflate: a zlib context per socket would cost this process gigabytes at 10,000
        # sockets, and the frames are small. No keepalive pings: runs are far shorter than the idle timeout.
        self.ws = await connect(url, open_timeout=timeout, max_size=2**20, compression=None, ping_interval=None, close_timeout=2)
        self._reader = asyncio.create_task(self._read())

    async def send(self, frame: Frame) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(frame))

    async def request(self, frame: Frame, key: Hashable, timeout: float) -> Arrival:
        """Send an action and wait for the frame filed under `key` (its reply)."""
        await self.send(frame)
        arrival: Arrival = await self.mail.get(key, timeout)
        return arrival

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    # ------------------------------------------------------------------ answers and their reflection

    def answer_sent(self, record: AnswerRecord) -> None:
        """From now on remember every score this player is shown, until the answer is acknowledged."""
        self._watch = _Watch(in_flight=record)

    def answer_acknowledged(self, record: AnswerRecord) -> None:
        """The new score is known: find it among the frames since the answer was sent, else await it."""
        watch = self._watch
        if record.changes_total:
            shown = next(((t, kind) for t, score, kind in watch.seen if score == record.score), None)
            if shown is not None:  # the board was faster than the acknowledgement
                record.t_board, record.board_frame = shown
            else:
                watch.awaiting = record
        watch.in_flight, watch.seen = None, []

    def _shown_score(self, arrived: float, kind: str, score: int) -> None:
        watch = self._watch
        if watch.in_flight is not None:
            watch.seen.append((arrived, score, kind))
        record = watch.awaiting
        # Totals only grow and a player answers once per question, so the new score identifies the answer.
        if record is not None and score == record.score:
            record.t_board, record.board_frame = arrived, kind
            watch.awaiting = None

    # ------------------------------------------------------------------ reading

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for message in self.ws:
                arrived, wall = time.monotonic(), time.time()
                if isinstance(message, str) and message.startswith(_BOARD_PREFIXES) and self.user_id not in message:
                    # A board that does not list this player: count it, skip the parse (most frames at 5,000
                    # players; the client's CPU is the machine's CPU). Any other spelling is parsed below.
                    self.counts["leaderboard"] += 1
                    self.board_bytes = len(message)
                    continue
                frame = json.loads(message)
                self._on_frame(arrived, wall, frame)
                if frame.get("type") == "leaderboard":
                    self.board_bytes = len(message)
        except ConnectionClosed as exc:
            self.closed = exc
        except asyncio.CancelledError:
            self.closed = ConnectionError("closed by the benchmark")
            raise
        finally:
            self.mail.fail(ConnectionError(f"the WebSocket closed: {self.closed}"))

    def _on_frame(self, arrived: float, wall: float, frame: Frame) -> None:
        kind = str(frame.get("type") or frame.get("message") or "?")
        self.counts[kind] += 1
        if kind == "leaderboard":
            for row in frame.get("top", ()):
                if row.get("user_id") == self.user_id:
                    self._shown_score(arrived, kind, int(row["score"]))
                    break
        elif kind == "your_rank" and isinstance(frame.get("score"), int):
            self._shown_score(arrived, kind, frame["score"])
        elif kind == "bench_probe":
            self.last_probe_at = arrived
        else:
            key = _reply_key(frame)
            if key is not None:
                self.mail.put(key, (arrived, wall, frame))


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed (uvicorn runs the emulator on it), else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
