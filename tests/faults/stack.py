"""A stack of the suite's own: PostgreSQL, Redis, ZooKeeper and Kafka on free loopback ports with a
temporary state directory (local/services.py's launcher, pointed elsewhere by a stack file), and the
product emulator on it, restartable on the same port.

The shared services of `make services` are never touched: every fault targets a pid of this stack."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx

from local.devkeys import dev_env
from local.services import Kafka, Postgres, Redis, Service, ZooKeeper, stop_pid
from local.stack import REPO, Stack, load_stack

SCORES_TOPIC = "quiz.scores"


class StackDidNotStart(RuntimeError):
    """A service or the emulator did not come up; the message says which and ends with its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_stack_file(path: Path) -> Path:
    """A stack TOML like local/stack.toml, every port a free one (so nothing collides with `make services`)."""
    ports = [free_port() for _ in range(6)]
    while len(set(ports)) < len(ports):  # the kernel may hand out a just-released port twice
        ports = [free_port() for _ in range(6)]
    pg, redis, zk, kafka, controller, emulator = ports
    path.write_text(
        f"""# Written by tests/faults: the fault suite's own stack, loopback only.
[postgres]
host = "127.0.0.1"
port = {pg}
user = "root"
password = "123456"
database = "es_quiz"
test_database = "es_quiz_test"

[redis]
host = "127.0.0.1"
port = {redis}

[zookeeper]
host = "127.0.0.1"
port = {zk}
heap = "128m"

[kafka]
host = "127.0.0.1"
port = {kafka}
controller_port = {controller}
heap = "512m"
cluster_id = "f4u1tS5u1teK4fk4C1u5tA"

[[kafka.topics]]
name = "{SCORES_TOPIC}"
partitions = 3

[emulator]
host = "127.0.0.1"
port = {emulator}
"""
    )
    return path


def _copy_jars(state: Path) -> None:
    # The launcher resolves the Kafka and ZooKeeper jars with Maven into <state>/jars; the shared
    # stack's resolved folders are copied (never linked: the launcher may rewrite its folder) so a run
    # does not wait for Maven.
    shared = Path(os.environ.get("QUIZ_SHARED_STATE_DIR", REPO / ".state")) / "jars"
    for name in ("kafka", "zookeeper"):
        source = shared / name
        target = state / "jars" / name
        if (source / ".resolved").exists() and not target.exists():
            shutil.copytree(source, target)


class Emulator:
    """`python -m local.emulator` with the product's template on a fixed port of this stack.

    Run in its own process group so a kill takes its Lambda workers with it, as a node dying would; a
    restart comes back on the same port and state directory, so clients reconnect to the same URL and
    the scheduler finds the schedules it persisted."""

    def __init__(self, stack: Stack, stack_file: Path, state: Path) -> None:
        self.stack, self.stack_file, self.state = stack, stack_file, state
        self.port = stack.emulator.port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = state / "logs" / "emulator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.database_url = stack.postgres.url(stack.postgres.test_database)
        self.redis_url = stack.redis.url(1)

    def _command(self) -> list[str]:
        keys = dev_env(self.state)
        env_file = self.state / "emulator-env.json"
        env_file.write_text(
            json.dumps(
                {
                    "Parameters": {
                        "STAGE": "test",
                        "DATABASE_URL": self.database_url,
                        "REDIS_URL": self.redis_url,
                        "JWT_ACCESS_TTL_SECONDS": "3600",
                    }
                }
            )
        )
        # Every endpoint the template defaults to the shared stack's ports is overridden here, Kafka and
        # ZooKeeper included (the functions' producer and the event source mapping read the parameter).
        return [
            sys.executable, "-m", "local.emulator", "--template", "template.yaml", "--host", "127.0.0.1", "--port", str(self.port),
            "--env-vars", str(env_file), "--kafka-bootstrap", self.stack.kafka.bootstrap,
            "--parameter-overrides", f"ScoresTopic={SCORES_TOPIC}", f"KafkaBootstrapServers={self.stack.kafka.bootstrap}",
            f"ZookeeperHosts={self.stack.zookeeper.hosts}", f"DatabaseUrl={self.database_url}", f"RedisUrl={self.redis_url}",
            f"JwtPrivateKey={keys['JWT_PRIVATE_KEY']}", f"JwtPublicKeys={keys['JWT_PUBLIC_KEYS']}", "SchedulerPrecisionSeconds=0",
        ]  # fmt: skip

    def start(self, timeout_s: float = 90.0) -> float:
        """Start the node and wait until it serves and its Kafka mapping runs; returns the seconds it took."""
        started = time.monotonic()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self._command(),
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={
                    **os.environ,
                    "QUIZ_STACK_FILE": str(self.stack_file),
                    "QUIZ_STATE_DIR": str(self.state),
                    "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'layers/shared/python'}",
                },
            )
        while True:
            if self.proc.poll() is not None:
                raise StackDidNotStart(f"the emulator exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.TransportError, ValueError):
                status = httpx.get(f"{self.base_url}/@emulator", timeout=1)
                if status.status_code == 200 and status.json().get("kafkaMappings") == 1:
                    return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise StackDidNotStart(f"the emulator did not come up within {timeout_s:.0f} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the node and its workers (its process group): no `$disconnect`, no graceful anything."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc = None

    def worker_pids(self, function: str) -> list[int]:
        """The pids of this node's Lambda workers of one function (by the AWS_LAMBDA_FUNCTION_NAME they run with)."""
        if self.proc is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                if ppid != self.proc.pid:
                    continue
                environ = (entry / "environ").read_bytes().split(b"\0")
            except (OSError, ValueError, IndexError):
                continue
            names = [v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"AWS_LAMBDA_FUNCTION_NAME=")]
            if (names and names[0].split("-")[-1] == function) or (names and names[0] == function):
                found.append(int(entry.name))
        return found

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class FaultStack:
    """The four services and the emulator, on their own ports and state directory; torn down on exit."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.state = Path(tempfile.mkdtemp(prefix="quiz-faults-"))
        self.stack_file = write_stack_file(self.state / "stack.toml")
        self.stack = load_stack(self.stack_file)
        _copy_jars(self.state)
        self.postgres = Postgres(self.stack, self.state)
        self.redis = Redis(self.stack, self.state)
        self.zookeeper = ZooKeeper(self.stack, self.state)
        self.kafka = Kafka(self.stack, self.state)
        self.emulator = Emulator(self.stack, self.stack_file, self.state)
        self._closing = threading.Event()
        # The launcher's daemons are children of this process (the CLI exits and leaves them to init):
        # reap them as they die, or a killed service would linger as a zombie that still "runs".
        self._reaper = threading.Thread(target=self._reap, daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        while not self._closing.wait(0.1):
            for svc in (self.redis, self.zookeeper, self.kafka):
                try:
                    pid = int(svc.pidfile.read_text().split()[0])
                    os.waitpid(pid, os.WNOHANG)
                except (OSError, ValueError, IndexError):
                    continue

    @property
    def services(self) -> list[Service]:
        return [self.postgres, self.redis, self.zookeeper, self.kafka]

    def __enter__(self) -> FaultStack:
        try:
            for svc in self.services:
                svc.up()
            self.emulator.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def kill(self, svc: Service) -> None:
        """SIGKILL a service's process (PostgreSQL: its postmaster; the backends notice and exit)."""
        pid = svc.pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while svc.pid() == pid and time.monotonic() < deadline:
                time.sleep(0.05)
        if svc is self.postgres:
            # Backends of a killed postmaster exit once they notice; until then the port or the shared
            # memory may still be held, and a start would fail.
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _postgres_children(self.postgres.data):
                time.sleep(0.1)

    def restart(self, svc: Service, attempts: int = 3) -> None:
        """Bring a stopped or killed service back (the launcher's own `up`), retrying a start that races the old process."""
        for attempt in range(attempts):
            try:
                svc.up()
                return
            except Exception:
                if attempt == attempts - 1:
                    raise
                time.sleep(1.0)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.emulator.stop()
        for svc in reversed(self.services):
            try:
                svc.stop()
            except Exception:
                pid = svc.pid()
                if pid:
                    stop_pid(pid, svc.name, grace=10)
        self._closing.set()
        if not self.keep:
            shutil.rmtree(self.state, ignore_errors=True)


def _postgres_children(data: Path) -> list[int]:
    """Processes still running from this cluster's data directory (backends of a killed postmaster)."""
    marker = str(data).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                if (b"postgres" in cmdline and marker in cmdline) or (b"postgres:" in cmdline and (entry / "cwd").resolve() == data):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
