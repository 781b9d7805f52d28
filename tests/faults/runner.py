"""The fault rounds: a quiz per fault, played by K players while one fault is injected and undone, then
the invariants checked for every player and the recovery times recorded.

One round: question 1 answered; question 2 opened and answered while the fault is injected (the
emulator's round kills the node until question 2's deadline has passed); the fault undone; question 3
answered (players resumed); the quiz ended; then, with a bounded wait, for every player: the sum of
their answers' points in PostgreSQL == their total there == GET leaderboard's `me.score` == the score in
the last leaderboard / your_rank / joined frame they saw, and every acknowledged answer is in PostgreSQL
with the points the player was told."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis

from tests.faults.players import Ack, Player, Tally
from tests.faults.stack import FaultStack

# The bounded wait for the board to catch up after a fault. Above a minute on purpose: score events whose
# publish failed while Kafka was away are drained by the next successful publish, or, when the quiz went
# quiet meanwhile, by the outbox relay, which runs once a minute for rows older than 5 s.
SETTLE_S = 75.0
LONG_S = 30  # time limit of the questions a fault must not close

KINDS = (
    "kafka_kill",
    "redis_kill",
    "postgres_kill",
    "redis_flush",
    "leaderboard_worker_kill",
    "emulator_restart",
    "kafka_stop",
    "redis_stop",
    "postgres_stop",
)


@dataclass
class RoundResult:
    kind: str
    quiz_id: str
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)
    double_counted: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)  # board/GET/frames never agreed with PostgreSQL
    notes: list[str] = field(default_factory=list)
    aborted: str | None = None  # the round could not finish (an exception): what stopped it
    caught_up_s: float | None = None  # fault undone → every player's board, GET and frames agree with PostgreSQL
    resumed_s: float | None = None  # fault undone → every player had an answer acknowledged again
    restore_s: float | None = None  # how long undoing the fault took (a service's restart until healthy)
    closed_s: float | None = None  # emulator back → the question left open closed (emulator_restart only)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.double_counted or self.disagreements or self.aborted)


@dataclass
class Fault:
    kind: str
    inject: Callable[[], None]
    restore: Callable[[], None]
    hold_s: float  # how long the fault lasts before it is undone (0: a one-shot)


def faults(stack: FaultStack, hold_s: float) -> dict[str, Fault]:
    def kill_workers() -> None:
        # A few kills a moment apart while answers flow, so some land inside a batch, not only between.
        for _ in range(3):
            for pid in stack.emulator.worker_pids("LeaderboardFunction"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.25)

    def flush() -> None:
        with redis.Redis(host=stack.stack.redis.host, port=stack.stack.redis.port, socket_timeout=5) as r:
            r.flushall()

    def nothing() -> None:
        return None

    def emulator_back() -> None:
        stack.emulator.start()

    return {
        "kafka_kill": Fault("kafka_kill", lambda: stack.kill(stack.kafka), lambda: stack.restart(stack.kafka), hold_s),
        "kafka_stop": Fault("kafka_stop", stack.kafka.stop, lambda: stack.restart(stack.kafka), hold_s),
        "redis_kill": Fault("redis_kill", lambda: stack.kill(stack.redis), lambda: stack.restart(stack.redis), hold_s),
        "redis_stop": Fault("redis_stop", stack.redis.stop, lambda: stack.restart(stack.redis), hold_s),
        "postgres_kill": Fault("postgres_kill", lambda: stack.kill(stack.postgres), lambda: stack.restart(stack.postgres), hold_s),
        "postgres_stop": Fault("postgres_stop", stack.postgres.stop, lambda: stack.restart(stack.postgres), hold_s),
        "redis_flush": Fault("redis_flush", flush, nothing, 0.0),
        "leaderboard_worker_kill": Fault("leaderboard_worker_kill", kill_workers, nothing, 0.0),
        "emulator_restart": Fault("emulator_restart", stack.emulator.kill, emulator_back, 0.0),
    }


def quiz_body(short_q2_s: int | None) -> dict[str, Any]:
    def question(n: int, limit: int) -> dict[str, Any]:
        return {
            "kind": "multiple_choice",
            "prompt": f"Q{n}?",
            "choices": ["a", "b", "c"],
            "correct_choice": n % 3,
            "time_limit_ms": limit * 1000,
            "points": 100,
        }

    return {"title": "Faults", "questions": [question(1, LONG_S), question(2, short_q2_s or LONG_S), question(3, LONG_S)]}


class Rounds:
    """Plays rounds against one FaultStack with one host and K players (half over HTTP, half over WebSocket)."""

    def __init__(self, stack: FaultStack, players: int, tally: Tally, hold_s: float = 2.0) -> None:
        self.stack, self.tally = stack, tally
        self.faults = faults(stack, hold_s)
        base = stack.emulator.base_url
        until = time.monotonic() + 60
        self.host = Player(base, "Host", "http", tally)
        self.host.signup(until)
        self.players = [Player(base, f"P{i}", "ws" if i % 2 else "http", tally) for i in range(players)]
        for p in self.players:
            p.signup(until)
        self.pool = ThreadPoolExecutor(max_workers=max(2, players))

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for p in [self.host, *self.players]:
            p.close_sessions()
            p.client.close()

    # ---------------------------------------------------------------- host actions

    def _host(self, quiz_id: str, path: str, json: Any = None, until_s: float = 60.0) -> None:
        response = self.host.request("POST", f"/quizzes/{quiz_id}/{path}", json=json, until=time.monotonic() + until_s)
        if response is None:
            raise RuntimeError(f"host {path} of {quiz_id} never succeeded")
        if response.status_code >= 400 and not (response.status_code == 409 and path in ("start", "end")):
            raise RuntimeError(f"host {path} of {quiz_id}: {response.status_code} {response.text[:300]}")

    def _everyone(self, fn: Callable[[Player], Any]) -> list[Any]:
        return list(self.pool.map(fn, self.players))

    def _answer_all(self, question_id: int, until: float, delay_s: float = 0.0) -> list[Ack | None]:
        def one(p: Player) -> Ack | None:
            if delay_s:
                time.sleep(delay_s * (self.players.index(p) / max(1, len(self.players) - 1)))
            return p.answer(question_id, 3, until)

        return self._everyone(one)

    # ---------------------------------------------------------------- one round

    def play(self, kind: str) -> RoundResult:
        fault = self.faults[kind]
        started = time.monotonic()
        for p in [self.host, *self.players]:
            p.refresh_if_old(time.monotonic() + 60)
        short = 5 if kind == "emulator_restart" else None
        created = self.host.request("POST", "/quizzes", json=quiz_body(short), until=time.monotonic() + 60)
        if created is None or created.status_code != 201:
            raise RuntimeError(f"creating a quiz failed: {created and created.text[:300]}")
        quiz_id = created.json()["quiz_id"]
        result = RoundResult(kind, quiz_id)
        acks: list[Ack] = []
        try:
            joined = self._everyone(lambda p: p.join(quiz_id, time.monotonic() + 30))
            if not all(joined):
                result.notes.append("a player could not join before the fault")
            self._host(quiz_id, "start")
            acks += [a for a in self._answer_all(1, time.monotonic() + 20) if a]

            self._host(quiz_id, "next", {"from_question_id": 1})
            q2_opened = time.monotonic()
            q2_until = q2_opened + (short or LONG_S) - 0.5
            answering = self.pool.submit(self._answer_all, 2, q2_until, 1.0)
            time.sleep(0.3)
            fault.inject()
            if kind == "emulator_restart":
                # Down until question 2's deadline has passed, so only the persisted schedule can close it.
                time.sleep(max(0.0, q2_opened + short + 1.0 - time.monotonic()) if short else 0.0)
            else:
                time.sleep(fault.hold_s)
            undo = time.monotonic()
            fault.restore()
            restored = time.monotonic()
            result.restore_s = restored - undo
            if kind == "emulator_restart":
                result.closed_s = self._question_closed(quiz_id, 2, restored)
                if result.closed_s is None:
                    result.disagreements.append(f"question 2 still open {SETTLE_S:.0f} s after the emulator came back")
            acks += [a for a in answering.result() if a]

            self._host(quiz_id, "next", {"from_question_id": 2})
            q3 = [a for a in self._answer_all(3, time.monotonic() + LONG_S - 1) if a]
            acks += q3
            if len(q3) == len(self.players):
                result.resumed_s = max(a.at for a in q3) - restored
            else:
                result.notes.append(f"{len(self.players) - len(q3)} player(s) got no answer acknowledged after the fault")
            self._host(quiz_id, "end")
            result.acknowledged = len(acks)
            self._check(quiz_id, acks, restored, result)
        finally:
            for p in self.players:
                p.close_sessions()
            result.duration_s = time.monotonic() - started
        return result

    def _pg(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.stack.emulator.database_url, connect_timeout=5)

    def _question_closed(self, quiz_id: str, position: int, since: float) -> float | None:
        deadline = since + SETTLE_S
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.Error), self._pg() as conn:
                row = conn.execute("SELECT closed_at FROM questions WHERE quiz_id = %s AND position = %s", (quiz_id, position)).fetchone()
                if row and row[0] is not None:
                    return time.monotonic() - since
            time.sleep(0.1)
        return None

    def _check(self, quiz_id: str, acks: list[Ack], restored: float, result: RoundResult) -> None:
        """Wait (bounded) until every player's four views agree; record what never did."""
        deadline = time.monotonic() + SETTLE_S
        last_ping = 0.0
        problems: list[str] = []
        while True:
            problems = []
            with self._pg() as conn:
                rows = {
                    (str(u), int(q)): int(pts)
                    for q, u, pts in conn.execute("SELECT position, user_id, points FROM answers WHERE quiz_id = %s", (quiz_id,))
                }
                totals = {str(u): int(t) for u, t in conn.execute("SELECT user_id, total FROM participants WHERE quiz_id = %s", (quiz_id,))}
            lost = [
                f"{a.user_id} q{a.question_id}: acknowledged {a.points} points, PostgreSQL has {rows.get((a.user_id, a.question_id))}"
                for a in acks
                if rows.get((a.user_id, a.question_id)) != a.points
            ]
            double: list[str] = []
            for p in self.players:
                pg_sum = sum(v for (u, _), v in rows.items() if u == p.user_id)
                if totals.get(p.user_id, 0) != pg_sum:
                    double.append(f"{p.name}: participants.total {totals.get(p.user_id)} != sum of answers {pg_sum}")
                board = p.board_score(time.monotonic() + 10)
                seen = p.last_seen_score()
                if board is not None and board > pg_sum:
                    double.append(f"{p.name}: GET leaderboard {board} > PostgreSQL {pg_sum}")
                if board != pg_sum or seen != pg_sum:
                    problems.append(f"{p.name} ({p.via}): PostgreSQL {pg_sum}, GET leaderboard {board}, last frame {seen}")
            if not problems and not double:
                result.caught_up_s = time.monotonic() - restored
                break
            if time.monotonic() > deadline:
                break
            if time.monotonic() - last_ping > 2.0:  # a lost registration comes back at the next ping
                for p in self.players:
                    p.ping()
                last_ping = time.monotonic()
            time.sleep(0.3)
        result.lost = lost
        result.double_counted = double
        result.disagreements += problems


@dataclass
class Summary:
    faults: int = 0
    rounds: list[RoundResult] = field(default_factory=list)

    def recovery(self) -> dict[str, dict[str, dict[str, float | int]]]:
        out: dict[str, dict[str, dict[str, float | int]]] = {}
        for kind in KINDS:
            mine = [r for r in self.rounds if r.kind == kind]
            if not mine:
                continue
            out[kind] = {}
            for metric in ("restore_s", "caught_up_s", "resumed_s", "closed_s"):
                values = [v for r in mine if (v := getattr(r, metric)) is not None]
                if values:
                    out[kind][metric] = {
                        "n": len(values),
                        "min": round(min(values), 3),
                        "median": round(statistics.median(values), 3),
                        "max": round(max(values), 3),
                    }
        return out


def schedule(count: int) -> Iterator[str]:
    """The fault kinds round-robin, `count` of them."""
    for i in range(count):
        yield KINDS[i % len(KINDS)]


def heal(stack: FaultStack) -> None:
    """Bring back whatever a failed round left down, so the next round starts from a whole stack."""
    for svc in stack.services:
        with contextlib.suppress(Exception):
            if not (svc.pid() and svc.healthy()):
                stack.restart(svc)
    if stack.emulator.proc is None or stack.emulator.proc.poll() is not None:
        with contextlib.suppress(Exception):
            stack.emulator.start()


def run_rounds(
    stack: FaultStack, kinds: list[str], players: int, timeout_s: float, hold_s: float, progress: Callable[[RoundResult], None]
) -> tuple[Summary, Tally]:
    tally = Tally()
    summary = Summary()
    rounds = Rounds(stack, players, tally, hold_s)
    stop_at = time.monotonic() + timeout_s
    try:
        for kind in kinds:
            if time.monotonic() > stop_at:
                break
            try:
                result = rounds.play(kind)
            except Exception as exc:  # a round that could not finish is a finding, not the end of the run
                result = RoundResult(kind, "?", aborted=f"{type(exc).__name__}: {exc}"[:500])
                heal(stack)
            summary.rounds.append(result)
            summary.faults += 1
            progress(result)
    finally:
        rounds.close()
    return summary, tally
