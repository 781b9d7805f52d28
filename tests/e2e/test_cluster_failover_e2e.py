"""A node of the cluster dies (SIGKILL, as a crash would): the product keeps going on the survivor.

The first test runs the product on two nodes behind nginx (local/product_cluster.py) and kills the node
whose Kafka mapping consumes the quiz's partition: the survivor's mapping takes the partitions over and
leaderboard frames reach the players again, and a player whose socket died reconnects through nginx and
finds its score. The second runs `make run-cluster`'s launcher itself on free ports: it keeps nginx and
the survivor serving, says so, and starts the dead node again.

No assertion is timed (the waits are generous bounds); the measured times are printed, and
bench/node_kill.py measures them over many players.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from clients.quiz_client import LiveSession, QuizClient, reconnect_delays
from local.cluster import nginx_binary
from local.product import free_port
from local.product_cluster import PARTITIONS, ProductCluster, product_cluster
from local.stack import REPO, Stack, load_stack
from tests.waiting import eventually

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (make nginx, or apt-get install nginx)"),
]

WAIT_S = 40.0
PASSWORD = "correct horse battery staple"
QUIZ = {
    "title": "fail-over",
    "questions": [
        {"kind": "multiple_choice", "prompt": "before", "choices": ["a", "b"], "correct_choice": 0, "time_limit_ms": 300000, "points": 100},
        {"kind": "multiple_choice", "prompt": "after", "choices": ["a", "b"], "correct_choice": 0, "time_limit_ms": 300000, "points": 1000},
    ],
}  # fmt: skip


def records_processed(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    return sum(
        float(v) for v in re.findall(r'^emulator_kafka_records_processed_total\{function="LeaderboardFunction"[^}]*\} (\S+)$', text, re.M)
    )


def assigned_partitions(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    return sum(
        float(v) for v in re.findall(r'^emulator_kafka_assigned_partitions\{function="LeaderboardFunction"[^}]*\} (\S+)$', text, re.M)
    )


def scores(frame: dict[str, Any]) -> dict[str, int]:
    return {row["user_id"]: row["score"] for row in frame["top"]}


class Seat:
    """A player through nginx, and the node their socket landed on."""

    def __init__(self, cluster: ProductCluster, client: QuizClient, quiz_id: str, store: redis.Redis) -> None:
        self.client = client
        self.live: LiveSession = self.client.live()
        self.live.request({"action": "join", "quiz_id": quiz_id}, expect="joined", timeout=WAIT_S)
        cid = self.live.request({"action": "ping"}, expect="pong", timeout=WAIT_S)["connectionId"]
        node_id = store.hget(f"{cluster.registry_prefix}conn:{cid}", "node_id")
        self.port = next(p for p, n in cluster.nodes.items() if n.node_id == node_id)
        self.total = 0

    def resume(self, quiz_id: str) -> dict[str, Any]:
        """What the CLI does when its socket dies: reconnect on the clients' schedule, then join again."""
        error: Exception | None = None
        for delay in reconnect_delays():
            time.sleep(delay)
            try:
                live = self.client.live()
                joined = live.request({"action": "join", "quiz_id": quiz_id}, expect="joined", timeout=WAIT_S)
            except Exception as exc:  # refused, closed or timed out: the client tries again, as the CLI does
                error = exc
                continue
            self.live = live
            return joined
        raise AssertionError(f"never reconnected: {error}")

    def close(self) -> None:
        self.live.close()
        self.client.close()


def test_killing_the_node_that_consumes_the_quiz_moves_its_partitions_and_its_players_resume_with_their_scores(
    database_url: str, redis_url: str, kafka_bootstrap: str, zookeeper_hosts: str, tmp_path: Path
) -> None:
    with product_cluster(nodes=2, zookeeper_session_timeout_s=4.0, keep_dir=tmp_path) as cluster:
        store = redis.Redis.from_url(cluster.redis_url, decode_responses=True)
        host = QuizClient(cluster.base_url)
        host.signup(f"h{uuid.uuid4().hex[:12]}", PASSWORD, "Host")
        quiz_id = host.create_quiz(QUIZ)["quiz_id"]
        clients = [QuizClient(cluster.base_url) for _ in range(4)]
        for client in clients:
            client.signup(f"f{uuid.uuid4().hex[:12]}", PASSWORD, "Player")
        # Signed up first, then seated one after the other: nginx's round robin puts the sockets on both nodes.
        seats = [Seat(cluster, client, quiz_id, store) for client in clients]
        try:
            host.host(quiz_id, "start")
            for seat in seats[:-1]:
                seat.live.wait_for("question_opened", timeout=WAIT_S)
                reply = seat.live.request({"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": 0}, expect="answer_result")
                seat.total = reply["score"]
            # The last answer shows which node's mapping consumes the quiz's partition: that one dies.
            before = {port: records_processed(node.url) for port, node in cluster.nodes.items()}
            last = seats[-1]
            last.live.wait_for("question_opened", timeout=WAIT_S)
            reply = last.live.request({"action": "answer", "quiz_id": quiz_id, "question_id": 1, "answer": 0}, expect="answer_result")
            last.total = reply["score"]
            doomed = eventually(
                lambda: next((p for p, n in cluster.nodes.items() if records_processed(n.url) > before[p]), None),
                WAIT_S,
                "the consuming node",
            )
            survivor = next(p for p in cluster.nodes if p != doomed)
            victims = [s for s in seats if s.port == doomed]
            bystanders = [s for s in seats if s.port == survivor]
            assert victims and bystanders, f"nginx put every socket on one node: {[s.port for s in seats]}"

            killed = time.monotonic()
            cluster.kill(doomed)

            # Question 2 opens through nginx; an answer from a player on the survivor reaches the board
            # once the survivor's mapping owns the quiz's partition.
            host.host(quiz_id, "next", from_question_id=1)
            answering = bystanders[0]
            answering.live.wait_for("question_opened", timeout=WAIT_S)
            fresh = answering.client.answer(quiz_id, 2, 0)
            frame_at, _ = bystanders[-1].live.wait_for_timed(
                "leaderboard", lambda f: scores(f).get(answering.client.user_id) == fresh["score"], timeout=WAIT_S
            )
            assert assigned_partitions(cluster.nodes[survivor].url) == PARTITIONS

            # Every player of the dead node is back through nginx, seated, with the score it had.
            rejoined_at = []
            for victim in victims:
                joined = victim.resume(quiz_id)
                rejoined_at.append(time.monotonic() - killed)
                assert joined["me"]["score"] == victim.total, "the score survives the node"
                assert joined["open_question"]["question"]["question_id"] == 2
            # ... and the board reaches it again: its own answer to question 2 shows up there.
            victim = victims[0]
            mine = victim.live.request({"action": "answer", "quiz_id": quiz_id, "question_id": 2, "answer": 0}, expect="answer_result")
            victim.live.wait_for("leaderboard", lambda f: scores(f).get(victim.client.user_id) == mine["score"], timeout=WAIT_S)
            print(
                f"\nframes again {frame_at - killed:.1f}s after the kill; {len(victims)} victim(s) rejoined, one after the other once the frames were checked, at "
                f"{', '.join(f'{t:.1f}' for t in rejoined_at)}s"
            )
        finally:
            for seat in seats:
                seat.close()
            host.close()
            store.close()


# ------------------------------------------------------------------------------ the launcher itself


def consecutive_free_ports() -> int:
    for _ in range(50):
        first = free_port()
        try:
            import socket

            with socket.socket() as s:
                s.bind(("127.0.0.1", first + 1))
        except OSError:
            continue
        return first
    raise AssertionError("no two consecutive free ports")


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "/@emulator", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_cluster_launcher_keeps_serving_when_a_node_dies_and_starts_it_again(
    database_url: str, redis_url: str, kafka_bootstrap: str, zookeeper_hosts: str, new_topic: Callable[[str, int], str], tmp_path: Path
) -> None:
    stack: Stack = load_stack()
    topic = new_topic("quiz.scores.launcher", 3)
    lb, first = free_port(), consecutive_free_ports()
    log = tmp_path / "cluster.log"
    command = [
        sys.executable, "-m", "local.cluster", "--nodes", "2", "--port", str(lb), "--first-node-port", str(first), "--",
        "--parameter-overrides", f"ScoresTopic={topic}", f"DatabaseUrl={database_url}", f"RedisUrl={stack.redis.url(1)}",
    ]  # fmt: skip
    # QUIZ_STATE_DIR: nginx's configuration, its pid file and the development keys stay in this test's directory.
    with log.open("wb") as out:
        launcher = subprocess.Popen(
            command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "QUIZ_STATE_DIR": str(tmp_path)}
        )
    output = log.read_text
    try:
        eventually(lambda: "cluster: http://" in output() or launcher.poll() is not None, 90, "the cluster to start")
        assert launcher.poll() is None, output()[-3000:]
        pid = int(re.findall(rf"cluster: node :{first} started \(pid (\d+)\)", output())[-1])

        os.kill(pid, signal.SIGKILL)
        eventually(lambda: f"node :{first} died (killed by SIGKILL); still serving" in output(), WAIT_S, "the death to be announced")
        assert f"through node(s) :{first + 1}" in output()
        for _ in range(5):  # nginx answers through the survivor, never with the dead node's refusal
            assert answers(f"http://127.0.0.1:{lb}"), output()[-3000:]
        assert launcher.poll() is None, "the launcher kept running"
        eventually(lambda: f"node :{first} is back and serving" in output(), 90, "the node to be started again")
        assert answers(f"http://127.0.0.1:{first}")
        assert answers(f"http://127.0.0.1:{first + 1}")
        assert launcher.poll() is None
        print("\n" + "\n".join(line for line in output().splitlines() if line.startswith("cluster: node")))
    finally:
        launcher.send_signal(signal.SIGINT)  # Ctrl+C: nodes first, then nginx
        try:
            code = launcher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            launcher.kill()
            code = launcher.wait(timeout=10)
    assert code == 0, output()[-3000:]
