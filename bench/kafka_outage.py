"""Kafka down, then back: how long an answer waits for its acknowledgement, and how soon the outbox's
backlog reaches Kafka once the broker answers again. Prints figures; asserts nothing.

    .venv/bin/python -m bench.kafka_outage --players 300
    .venv/bin/python -m bench.kafka_outage --players 3 --publisher-from 182b112   # an older publisher's ack time

The quiz service runs in this process over the test database and a new topic (deleted at the end). The
publisher bootstraps through a TCP relay on a free loopback port: closed, the broker is "down"; opened,
it is back (after bootstrap the producer talks to the broker it advertises, as a real client would).
While down, N players join and answer question 1 (2 N outbox rows). When the relay opens, one player
joins every 100 ms (the traffic whose successful publishes drain the backlog) until every backlog row
is published or --timeout passes. ``--publisher-from`` swaps in an older publisher only: the drain
figure is still the current service's (before it, the backlog waited for the relay's minute).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from kafka.admin import KafkaAdminClient, NewTopic

from local.stack import REPO, load_stack
from quiz import db
from quiz.auth import Principal, Role
from quiz.quizzes.adapters.kafka import KafkaScorePublisher
from quiz.quizzes.adapters.postgres import PostgresQuizStore
from quiz.quizzes.service import QuizService

QUIZ = {
    "title": "outage",
    "questions": [
        {"kind": "multiple_choice", "prompt": "?", "choices": ["a", "b"], "correct_choice": 0, "time_limit_ms": 300000, "points": 100}
    ],
}


class Nothing:
    def to_quiz(self, *a: Any) -> int:
        return 0

    def to_players(self, *a: Any) -> int:
        return 0

    def unsubscribe(self, *a: Any) -> None:
        return None

    def close_at(self, *a: Any) -> None:
        return None


class Relay:
    """A loopback TCP relay to the broker, opened and closed by the benchmark."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port: int = s.getsockname()[1]
        self._server: socket.socket | None = None

    def open(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._server is not None
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


def user(conn: psycopg.Connection[Any], name: str) -> Principal:
    uid = uuid.uuid4()
    conn.execute(
        "INSERT INTO users (id, username, display_name, password_hash) VALUES (%s, %s, %s, 'x')", (uid, f"{name}-{uid.hex[:8]}", name)
    )
    return Principal(user_id=uid, display_name=name, role=Role.PLAYER)


def old_publisher(commit: str) -> type[KafkaScorePublisher]:
    source = subprocess.run(
        ["git", "show", f"{commit}:layers/shared/python/quiz/quizzes/kafka.py"], cwd=REPO, check=True, capture_output=True
    )
    path = Path(tempfile.mkdtemp()) / "old_kafka.py"
    path.write_bytes(source.stdout)
    spec = importlib.util.spec_from_file_location("old_kafka", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls: type[KafkaScorePublisher] = module.KafkaScorePublisher
    return cls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--players", type=int, default=300)
    ap.add_argument("--publisher-from", help="a commit whose KafkaScorePublisher to measure the acknowledgement with")
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()
    stack = load_stack()
    database_url = stack.postgres.url(stack.postgres.test_database)
    host_name, port = stack.kafka.bootstrap.split(",")[0].rsplit(":", 1)
    topic = f"bench.outage.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    relay = Relay((host_name, int(port)))
    publisher_class = old_publisher(a.publisher_from) if a.publisher_from else KafkaScorePublisher
    publisher = publisher_class(f"127.0.0.1:{relay.port}")
    store = PostgresQuizStore(db.pool(database_url), topic)
    service = QuizService(store, publisher, Nothing(), Nothing())  # type: ignore[arg-type]
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            host = user(conn, "Host")
            players = [user(conn, f"P{i}") for i in range(a.players)]
            late = [user(conn, f"L{i}") for i in range(int(a.timeout * 10) + 10)]
        quiz_id = service.create(host, QUIZ)["quiz_id"]
        print(f"Kafka down: {a.players} players join and answer ({publisher_class.__module__})")
        waits = []
        for p in players:
            started = time.perf_counter()
            service.join(p, quiz_id)
            waits.append(time.perf_counter() - started)
        service.start(host, quiz_id)
        for p in players:
            started = time.perf_counter()
            service.answer(p, quiz_id, 1, 0, None)
            waits.append(time.perf_counter() - started)
        waits.sort()
        print(
            f"  {len(waits)} joins+answers acknowledged: median {statistics.median(waits) * 1000:.1f} ms,"
            f" p99 {waits[int(len(waits) * 0.99) - 1 if len(waits) > 1 else 0] * 1000:.1f} ms, max {waits[-1] * 1000:.1f} ms,"
            f" total {sum(waits):.2f} s; publisher failed/skipped {getattr(publisher, 'failed', '-')}/{getattr(publisher, 'skipped', '-')}"
        )

        def unpublished() -> int:
            with psycopg.connect(database_url) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM outbox WHERE topic = %s AND key = %s AND published_at IS NULL", (topic, quiz_id)
                ).fetchone()
            return int(row[0]) if row else 0

        backlog = unpublished()
        print(f"  outbox rows left unpublished: {backlog}")
        relay.open()
        back = time.monotonic()
        print("Kafka back: one player joins every 100 ms")
        left, last = backlog, backlog
        for p in late:
            service.join(p, quiz_id)
            left = unpublished() - len(store._acked.peek())  # acknowledged rows waiting to be marked do not count
            if left != last:
                print(f"  +{time.monotonic() - back:5.2f} s: {left} unpublished")
                last = left
            if left <= 0 or time.monotonic() - back > a.timeout:
                break
            time.sleep(0.1)
        print(
            f"backlog of {backlog} rows {'drained' if left <= 0 else 'NOT drained'} {time.monotonic() - back:.2f} s after Kafka came back"
        )
    finally:
        publisher.close()
        relay.close()
        admin.delete_topics([topic])
        admin.close()


if __name__ == "__main__":
    main()
