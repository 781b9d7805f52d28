"""The whole product on the emulator: the real template.yaml, real services, a Kafka topic of its own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from clients.quiz_client import QuizClient
from local.devkeys import dev_env

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Product:
    base_url: str
    scores_topic: str
    log: Path


@pytest.fixture
def player(product: Product) -> Iterator[Callable[[str], QuizClient]]:
    """Signs up a new user (a random username) and closes their client after the test."""
    clients: list[QuizClient] = []

    def signed_up(display_name: str) -> QuizClient:
        c = QuizClient(product.base_url)
        clients.append(c)
        c.signup(f"p{uuid.uuid4().hex[:12]}", "correct horse battery staple", display_name)
        return c

    yield signed_up
    for c in clients:
        c.close()


@pytest.fixture(scope="session")
def product(database_url: str, redis_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    """`python -m local.emulator` on a free port with the product's template, as `make run` runs it."""
    state = tmp_path_factory.mktemp("product")
    topic = f"quiz.scores.e2e-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    keys = dev_env(state)
    env_file = state / "env.json"
    env_file.write_text(json.dumps({"Parameters": {"STAGE": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url}}))
    port = free_port()
    log_path = state / "emulator.log"
    log = log_path.open("wb")
    command = [
        sys.executable, "-m", "local.emulator", "--template", "template.yaml", "--port", str(port), "--env-vars", str(env_file),
        "--parameter-overrides", f"ScoresTopic={topic}", f"JwtPrivateKey={keys['JWT_PRIVATE_KEY']}",
        f"JwtPublicKeys={keys['JWT_PUBLIC_KEYS']}",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'layers/shared/python'}"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the emulator exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                status = httpx.get(f"{base}/@emulator", timeout=1)
                if status.status_code == 200 and status.json().get("kafkaMappings") == 1:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the emulator did not come up within 60 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Product(base, topic, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        admin.delete_topics([topic])
        admin.close()
