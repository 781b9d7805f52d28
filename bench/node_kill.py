"""A node dies mid-question: how soon the leaderboard flows again and how soon its players are back.

    .venv/bin/python -m bench.node_kill --players 60
    .venv/bin/python -m bench.node_kill --players 20 --zookeeper-session-timeout 4

Starts the product on two emulator nodes behind nginx (local/product_cluster.py: free loopback ports, a
Kafka topic of its own, the test database and Redis db 1; all torn down at the end). A host creates a quiz,
N players sign up, open a WebSocket through nginx and join; question 1 opens and every player answers it,
so each has a score. The node whose Kafka mapping consumes the quiz's partition (the one whose
`records_processed` counter moves when an answer lands) then gets SIGKILL, as a crash would (`--stop term`:
SIGTERM, a normal stop, which closes its sockets and leaves the Kafka group). From that instant, t0:

* the host opens question 2 (through nginx) and players on the surviving node answer it, one every
  `--probe-every` seconds; `board_s` is t0 → the first `leaderboard` frame, on a survivor's socket, that
  shows a question-2 score (it can only come from the survivor's mapping, once it owns the partition);
  `assigned_s` is t0 → the survivor's mapping owning every partition (its /metrics, polled every 0.1 s);
* each victim (a player whose socket was on the killed node) sees its socket close and reconnects with
  the clients' own schedule (`clients.quiz_client.reconnect_delays`, what the CLI uses) through nginx,
  then sends `join`: `rejoined_s` is t0 → the `joined` frame, `score_kept` says whether its `me.score`
  equals the player's total before the kill; `board_after_s` is t0 → the first `leaderboard` frame after
  that. A victim whose schedule runs out, or that is not back within `--resume-timeout`, is "not resumed".

Prints min / median / max and writes everything to bench/results/node_kill-<UTC time>.json. Asserts
nothing. Bounded: every wait has a timeout and `--time-limit` interrupts the whole run.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis

from bench.limits import time_limit
from clients.quiz_client import ApiError, LiveSession, QuizClient, reconnect_delays
from local.product_cluster import PARTITIONS, ProductCluster, product_cluster

RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "correct horse battery staple"
FUNCTION = "LeaderboardFunction"


def quiz(questions: int) -> dict[str, Any]:
    # Question 1 is worth little and the later ones much: a question-2 score is above any question-1 total,
    # so a frame showing one can only have come after the kill.
    first = {
        "kind": "multiple_choice",
        "prompt": "warm-up",
        "choices": ["a", "b"],
        "correct_choice": 0,
        "time_limit_ms": 300000,
        "points": 100,
    }
    later = {
        "kind": "multiple_choice",
        "prompt": "after",
        "choices": ["a", "b"],
        "correct_choice": 0,
        "time_limit_ms": 300000,
        "points": 1000,
    }
    return {"title": "node kill", "questions": [first] + [dict(later, prompt=f"after {i}") for i in range(questions - 1)]}


def metric(url: str, name: str) -> float | None:
    try:
        text = httpx.get(url + "/metrics", timeout=2).text
    except httpx.TransportError:
        return None
    found = re.findall(rf'^emulator_kafka_{name}\{{function="{FUNCTION}"[^}}]*\}} (\S+)$', text, re.M)
    return sum(float(v) for v in found) if found else None


def wait(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def next_question(host: QuizClient, quiz_id: str, after: int) -> None:
    """`next` naming the question it moves on from is retry-safe: a request cut off by the dying node is sent again."""
    for attempt in range(5):
        try:
            host.host(quiz_id, "next", from_question_id=after)
            return
        except (ApiError, httpx.HTTPError) as exc:
            if attempt == 4 or (isinstance(exc, ApiError) and exc.status < 500):
                raise
            time.sleep(0.5)


def summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "min": None, "median": None, "max": None}
    return {"n": len(values), "min": round(min(values), 3), "median": round(statistics.median(values), 3), "max": round(max(values), 3)}


class Player:
    def __init__(self, base_url: str, name: str) -> None:
        self.name = name
        self.client = QuizClient(base_url)
        self.client.signup(f"k{uuid.uuid4().hex[:12]}", PASSWORD, name)
        self.live: LiveSession | None = None
        self.connection_id = ""
        self.node = 0
        self.score = 0
        self.result: dict[str, Any] = {}

    def seat(self, quiz_id: str, cluster: ProductCluster, store: redis.Redis) -> None:
        self.live = self.client.live()
        self.live.request({"action": "join", "quiz_id": quiz_id}, expect="joined", timeout=30)
        self.connection_id = self.live.request({"action": "ping"}, expect="pong", timeout=30)["connectionId"]
        node_id = store.hget(f"{cluster.registry_prefix}conn:{self.connection_id}", "node_id")
        self.node = next(p for p, n in cluster.nodes.items() if n.node_id == node_id)

    def resume(self, quiz_id: str, t0: float, timeout: float) -> None:
        """What a client does when its socket dies under it: reconnect on its schedule, join, read the score."""
        live = self.live
        assert live is not None
        deadline = t0 + timeout
        while live.closed is None and live._reader.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.result["closed_s"] = round(time.monotonic() - t0, 3)
        tries = 0
        for delay in reconnect_delays():
            if time.monotonic() + delay > deadline:
                break
            time.sleep(delay)
            tries += 1
            try:
                session = self.client.live()
                joined = session.request(
                    {"action": "join", "quiz_id": quiz_id}, expect="joined", timeout=max(1.0, deadline - time.monotonic())
                )
            except Exception as exc:  # whatever the failure (refused, closed, timed out), the client tries again
                self.result["last_error"] = f"{type(exc).__name__}: {exc}"[:200]
                continue
            self.result.update(rejoined_s=round(time.monotonic() - t0, 3), tries=tries)
            me = joined.get("me") or {}
            self.result.update(score=me.get("score"), score_kept=me.get("score") == self.score)
            self.live = session
            try:
                at, _ = session.wait_for_timed("leaderboard", timeout=max(0.5, deadline - time.monotonic()))
                self.result["board_after_s"] = round(at - t0, 3)
            except (TimeoutError, ConnectionError):
                pass
            return
        self.result["tries"] = tries


def run(a: argparse.Namespace) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    logs = RESULTS / f"node_kill-{stamp}"
    with product_cluster(nodes=2, zookeeper_session_timeout_s=a.zookeeper_session_timeout, keep_dir=logs) as cluster:
        store = redis.Redis.from_url(cluster.redis_url, decode_responses=True)
        host = QuizClient(cluster.base_url)
        host.signup(f"h{uuid.uuid4().hex[:12]}", PASSWORD, "Host")
        quiz_id = host.create_quiz(quiz(a.questions))["quiz_id"]
        print(f"seating {a.players} players on {sorted(cluster.nodes)} through {cluster.base_url} ...", flush=True)
        players = [Player(cluster.base_url, f"P{i}") for i in range(a.players)]
        for p in players:
            p.seat(quiz_id, cluster, store)
        host.host(quiz_id, "start")
        for p in players[:-1]:
            assert p.live is not None
            p.live.wait_for("question_opened", timeout=30)
            p.score = p.live.request({"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": 0}, expect="answer_result")[
                "score"
            ]
        # The last answer tells which node's mapping consumes the quiz's partition.
        before = {port: metric(n.url, "records_processed_total") or 0.0 for port, n in cluster.nodes.items()}
        last = players[-1]
        assert last.live is not None
        last.score = last.live.request({"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": 0}, expect="answer_result")[
            "score"
        ]

        def consumer() -> int | None:
            return next(
                (port for port, n in cluster.nodes.items() if (metric(n.url, "records_processed_total") or 0.0) > before[port]), None
            )

        victim_node: int = wait(consumer, 30, "the quiz's partition to be consumed")
        survivor = next(p for p in cluster.nodes if p != victim_node)
        last.live.wait_for("leaderboard", timeout=30)
        time.sleep(1.0)  # let the last batch commit
        victims = [p for p in players if p.node == victim_node]
        bystanders = [p for p in players if p.node == survivor]
        print(
            f"node :{victim_node} consumes the quiz's partition and holds {len(victims)} sockets; "
            f":{survivor} holds {len(bystanders)}; killing :{victim_node}",
            flush=True,
        )
        top = max(p.score for p in players)  # any score above this was earned after the kill
        board: dict[str, float] = {}
        board_seen = threading.Event()

        def watch(p: Player) -> None:
            assert p.live is not None
            try:
                at, _ = p.live.wait_for_timed("leaderboard", lambda f: any(r["score"] > top for r in f["top"]), timeout=a.resume_timeout)
            except (TimeoutError, ConnectionError):
                return
            board.setdefault("at", at)
            board_seen.set()

        t0 = time.monotonic()
        threads = [threading.Thread(target=p.resume, args=(quiz_id, t0, a.resume_timeout), daemon=True) for p in victims]
        threads += [threading.Thread(target=watch, args=(p,), daemon=True) for p in bystanders]
        for t in threads:
            t.start()
        cluster.kill(victim_node, signal.SIGTERM if a.stop == "term" else signal.SIGKILL, wait=False)
        assigned_s: float | None = None
        question, probes, answered = 2, list(bystanders), 0
        next_question(host, quiz_id, 1)
        next_probe = time.monotonic()
        while time.monotonic() - t0 < a.resume_timeout:
            now = time.monotonic()
            if assigned_s is None and metric(cluster.nodes[survivor].url, "assigned_partitions") == PARTITIONS:
                assigned_s = round(now - t0, 3)
            if now >= next_probe and not board_seen.is_set():
                if not probes and question < a.questions:
                    next_question(host, quiz_id, question)
                    question, probes = question + 1, list(bystanders)
                if probes:
                    p = probes.pop(0)
                    try:
                        p.client.answer(quiz_id, question, 0)
                        answered += 1
                    except Exception as exc:  # reported; the next probe answer is another player's
                        print(f"probe answer failed: {exc}", flush=True)
                next_probe = now + a.probe_every
            if board_seen.is_set() and assigned_s is not None and not any(t.is_alive() for t in threads[: len(victims)]):
                break
            time.sleep(0.05)
        board_s = round(board["at"] - t0, 3) if "at" in board else None
        rejoined = [v.result["rejoined_s"] for v in victims if "rejoined_s" in v.result]
        resumed = [v for v in victims if v.result.get("score_kept")]
        report = {
            "when": stamp,
            "players": a.players,
            "victims": len(victims),
            "survivors": len(bystanders),
            "stop": a.stop,
            "zookeeper_session_timeout_s": a.zookeeper_session_timeout,
            "reconnect_delays_s": [round(d, 3) for d in _first_delays()],
            "probe_answers": answered,
            "assigned_s": assigned_s,
            "board_s": board_s,
            "rejoined_s": summary(rejoined),
            "board_after_rejoin_s": summary([v.result["board_after_s"] for v in victims if "board_after_s" in v.result]),
            "score_kept": len(resumed),
            "not_resumed": [v.name for v in victims if not v.result.get("score_kept")],
            "victim_results": {v.name: v.result for v in victims},
            "logs": str(logs),
        }
        for p in players:
            if p.live is not None:
                p.live.close()
            p.client.close()
        host.close()
        store.close()
        return report


def _first_delays(n: int = 8) -> list[float]:
    out: list[float] = []
    for d in reconnect_delays():
        out.append(d)
        if len(out) >= n:
            break
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.node_kill", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--players", type=int, default=60)
    ap.add_argument("--questions", type=int, default=4, help="question 1 before the kill, the others for probe answers after it")
    ap.add_argument("--probe-every", type=float, default=0.25, help="seconds between probe answers after the kill")
    ap.add_argument("--resume-timeout", type=float, default=90.0, help="how long after the kill a victim may take to be back")
    ap.add_argument("--zookeeper-session-timeout", type=float, default=10.0, help="the nodes' ZooKeeper session (emulator default 10)")
    ap.add_argument("--stop", choices=("kill", "term"), default="kill", help="SIGKILL (a crash, default) or SIGTERM (a normal stop)")
    ap.add_argument("--time-limit", type=float, default=400.0, help="interrupts the whole run (cleanup still runs)")
    a = ap.parse_args(argv)
    with time_limit(a.time_limit):
        report = run(a)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"node_kill-{report['when']}.json"
    out.write_text(json.dumps(report, indent=2))
    print(
        f"\npartitions on the survivor: {report['assigned_s']} s after the kill; leaderboard frames again: {report['board_s']} s\n"
        f"victims ({report['victims']}): rejoined min/median/max {report['rejoined_s']['min']} / {report['rejoined_s']['median']} / "
        f"{report['rejoined_s']['max']} s; score kept {report['score_kept']}/{report['victims']}; "
        f"first board after rejoin (median) {report['board_after_rejoin_s']['median']} s; not resumed: {report['not_resumed']}\n"
        f"written {out}",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
