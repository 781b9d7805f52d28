"""The product on the emulator for a benchmark or a test: `template.yaml` on a free loopback port, with a Kafka
topic of its own, against the test database and Redis db 1, started the way `make run` starts it and
torn down afterwards (emulator stopped, topic deleted).

    with local_product() as product:
        run_something(product.base_url)
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from local.devkeys import dev_env
from local.stack import REPO, Stack, load_stack


class ProductDidNotStart(RuntimeError):
    """The emulator exited or did not report its Kafka mapping in time; the message ends with its log."""


@dataclass(frozen=True)
class LocalProduct:
    base_url: str
    scores_topic: str
    log: Path
    redis_url: str
    database_url: str
    keys: dict[str, str]  # the development JWT key pair the functions were given (JWT_PRIVATE_KEY, JWT_PUBLIC_KEYS)
    pid: int | None = None  # the emulator's process (None: not started here)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _require(host: str, port: int, name: str) -> None:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError as exc:
        raise ProductDidNotStart(f"{name} is not answering on {host}:{port}: start the services with `make services`") from exc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextlib.contextmanager
def local_product(
    *,
    emulator_args: Sequence[str] = (),
    startup_timeout_s: float = 60.0,
    stack: Stack | None = None,
    keep_dir: Path | None = None,
    product_dir: Path = REPO,
    kafka: bool = True,
    env: Mapping[str, str] | None = None,
) -> Iterator[LocalProduct]:
    """Start `python -m local.emulator` with the product's template on a free port; stop it on exit.

    `emulator_args` are extra command-line options (`--max-concurrency 8`, say). The log is written under
    `keep_dir` when given (so it survives for reading), else under a temporary directory. `product_dir`
    runs the emulator and functions of another checkout (say `git archive <commit>` unpacked), for an A/B.
    `env` overrides the functions' environment (a `DATABASE_URL` at a closed port, say, for an outage)."""
    stack = stack or load_stack()
    _require(stack.postgres.host, stack.postgres.port, "PostgreSQL")
    _require(stack.redis.host, stack.redis.port, "Redis")
    if kafka:
        _require(stack.kafka.host, stack.kafka.port, "Kafka")
    database_url = stack.postgres.url(stack.postgres.test_database)
    redis_url = stack.redis.url(1)
    with contextlib.ExitStack() as cleanup:
        state = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="bench-product-")))
        topic = f"quiz.scores.bench-{uuid.uuid4().hex[:8]}"
        if kafka:
            admin = KafkaAdminClient(bootstrap_servers=stack.kafka.bootstrap)
            cleanup.callback(admin.close)
            admin.create_topics([NewTopic(topic, 3, 1)])
            cleanup.callback(admin.delete_topics, [topic])
        keys = dev_env(state)
        env_file = state / "env.json"
        env_file.write_text(
            json.dumps({"Parameters": {"STAGE": "test", "DATABASE_URL": database_url, "REDIS_URL": redis_url, **(env or {})}})
        )
        port = free_port()
        log_path = (keep_dir or state) / f"emulator-{port}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = cleanup.enter_context(log_path.open("wb"))
        command = [
            sys.executable, "-m", "local.emulator", "--template", "template.yaml", "--port", str(port), "--env-vars", str(env_file),
            "--parameter-overrides", f"ScoresTopic={topic}", f"JwtPrivateKey={keys['JWT_PRIVATE_KEY']}",
            f"JwtPublicKeys={keys['JWT_PUBLIC_KEYS']}", "SchedulerPrecisionSeconds=0", *emulator_args,
            *([] if kafka else ["--no-kafka"]),
        ]  # fmt: skip
        proc = subprocess.Popen(
            command,
            cwd=product_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            # QUIZ_STATE_DIR: the node's EventBridge schedules are kept in the run's own directory, not .state/.
            env={
                **os.environ,
                "QUIZ_STATE_DIR": str(state),
                "PYTHONPATH": f"{product_dir}{os.pathsep}{product_dir / 'layers/shared/python'}",
            },
        )
        cleanup.callback(_stop, proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                raise ProductDidNotStart(f"the emulator exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                status = httpx.get(f"{base}/@emulator", timeout=1)
                if status.status_code == 200 and status.json().get("kafkaMappings") == (1 if kafka else 0):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ProductDidNotStart(f"the emulator did not come up within {startup_timeout_s:.0f} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield LocalProduct(base, topic, log_path, redis_url, database_url, keys, proc.pid)
