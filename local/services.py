"""Native launcher for the real services the quiz runs on: PostgreSQL, Redis, ZooKeeper, Kafka, and the
observability beside them: Prometheus (metrics, alert rules) and Zipkin (traces).

    python -m local.services up | status | down

Everything listens on 127.0.0.1 and keeps its data under one git-ignored state directory
(``.state/`` or ``$QUIZ_STATE_DIR``). ``up`` installs what is missing (Debian packages, Maven
jars), starts each service, waits until it answers, creates the databases and topics, applies
the migrations, and is a no-op when everything already runs. Any failure is one line saying
what to do next.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from local.stack import REPO, Stack, load_stack


class LaunchError(Exception):
    """A service could not be brought up; the message says what to do next."""


def state_dir() -> Path:
    return Path(os.environ.get("QUIZ_STATE_DIR", REPO / ".state")).resolve()


# ---------------------------------------------------------------------------- helpers


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _log_tail(log: Path | None) -> str:
    if not (log and log.exists()):
        return ""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()][-3:]
    return " | last log lines: " + " / ".join(line[:200] for line in lines)


def wait_until(check: Callable[[], bool], seconds: float, what: str, log: Path | None, pidfile: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if pidfile is not None and read_pid(pidfile) is None:
            raise LaunchError(f"{what} exited during start-up; see {log}{_log_tail(log)}")
        time.sleep(0.25)
    raise LaunchError(f"{what} did not become healthy within {seconds:.0f}s; see {log}{_log_tail(log)}")


def run(cmd: list[str], *, user: str | None = None, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    if user and os.geteuid() == 0 and user != "root":
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)  # type: ignore[call-overload, no-any-return]


def apt_install(*packages: str) -> None:
    """Install Debian packages without letting their maintainer scripts start system services."""
    if os.geteuid() != 0:
        raise LaunchError(f"{' '.join(packages)} missing: run `sudo apt-get install -y {' '.join(packages)}` or run as root")
    print(f"  installing {' '.join(packages)} (apt) ...", flush=True)
    policy = Path("/usr/sbin/policy-rc.d")
    had_policy = policy.exists()
    if not had_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
            done = subprocess.run(
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env=env, capture_output=True, text=True
            )
        if done.returncode != 0:
            raise LaunchError(
                f"apt-get install {' '.join(packages)} failed: {done.stderr.strip().splitlines()[-1:]}; check network access to the Debian mirror"
            )
    finally:
        if not had_policy:
            policy.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def stop_pid(pid: int, name: str, grace: float = 30.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        print(f"  {name} (pid {pid}) ignored SIGTERM for {grace:.0f}s; killing it", flush=True)
        os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------- services


@dataclass
class Service:
    """One real service: how to tell it runs, how to start it, how to stop it."""

    name: str
    stack: Stack
    state: Path

    port: int = 0

    @property
    def dir(self) -> Path:
        return self.state / self.name

    @property
    def log(self) -> Path:
        return self.state / "logs" / f"{self.name}.log"

    @property
    def pidfile(self) -> Path:
        return self.state / "run" / f"{self.name}.pid"

    def pid(self) -> int | None:
        return read_pid(self.pidfile)

    def healthy(self) -> bool:
        raise NotImplementedError

    def install(self) -> None:
        """Install what is missing; a no-op when everything is there."""

    def start(self) -> None:
        raise NotImplementedError

    def after_start(self) -> None:
        """Create what the project needs inside the running service (databases, topics)."""

    def stop(self) -> None:
        pid = self.pid()
        if pid:
            stop_pid(pid, self.name)
        self.pidfile.unlink(missing_ok=True)

    def up(self) -> str:
        if self.pid() and self.healthy():
            self.after_start()
            return "already running"
        if port_open("127.0.0.1", self.port):
            raise LaunchError(
                f"port {self.port} on 127.0.0.1 is taken by another process (see `ss -ltnp sport = :{self.port}`); "
                f"stop it, or change [{self.name}] port in local/stack.toml"
            )
        self.install()
        for d in (self.dir, self.log.parent, self.pidfile.parent):
            d.mkdir(parents=True, exist_ok=True)
        self.start()
        self.after_start()
        return "started"


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise LaunchError("java not found: install a JDK 17+ (`apt-get install -y openjdk-17-jre-headless`) and rerun")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    try:
        major = int(out.split('"')[1].split(".")[0])
    except (IndexError, ValueError):
        major = 0
    if major < 17:
        raise LaunchError(
            f"java {major or '?'} found at {java}; Kafka 4 needs Java 17+: install openjdk-17-jre-headless and put it first on PATH"
        )
    return java


def _maven_jars(profile: str, into: Path) -> Path:
    """Resolve a profile of local/maven/pom.xml into a folder of jars (cached by ~/.m2)."""
    stamp = into / ".resolved"
    pom = REPO / "local" / "maven" / "pom.xml"
    wanted = _profile_text(pom.read_text(), profile)
    if stamp.exists() and stamp.read_text() == wanted:
        return into
    mvn = shutil.which("mvn")
    if not mvn:
        apt_install("maven")
        mvn = shutil.which("mvn")
    if not mvn:
        raise LaunchError("mvn not found after installing maven; install Apache Maven 3.8+ and rerun")
    print(f"  resolving {profile} jars from Maven Central ...", flush=True)
    shutil.rmtree(into, ignore_errors=True)
    done = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            f"-P{profile}",
            "dependency:copy-dependencies",
            f"-DoutputDirectory={into}",
            "-DincludeScope=runtime",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise LaunchError(
            f"Maven could not download the {profile} jars ({' / '.join(last)}); check access to Maven Central (proxy settings in ~/.m2/settings.xml)"
        )
    stamp.write_text(wanted)
    return into


def _profile_text(pom: str, profile: str) -> str:
    """The part of the pom a profile's jars depend on (the versions and that profile), so that adding or
    changing another profile does not resolve this one again."""
    import re

    properties = re.search(r"<properties>.*?</properties>", pom, re.S)
    block = re.search(rf"<profile>\s*<id>{re.escape(profile)}</id>.*?</profile>", pom, re.S)
    if block is None:
        raise LaunchError(f"local/maven/pom.xml has no profile {profile!r}")
    return (properties.group(0) if properties else "") + block.group(0)


def _daemon(cmd: list[str], log: Path, pidfile: Path, env: dict[str, str] | None = None) -> int:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env, cwd=log.parent
        )
    pidfile.write_text(str(proc.pid))
    return proc.pid


class Postgres(Service):
    def __init__(self, stack: Stack, state: Path) -> None:
        super().__init__("postgres", stack, state, stack.postgres.port)

    @property
    def os_user(self) -> str:
        # PostgreSQL refuses to run as root; as root we run it as the package's `postgres` user.
        return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    @property
    def data(self) -> Path:
        return self.dir / "data"

    def bindir(self) -> Path | None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
        return found[-1].parent if found else None

    def pid(self) -> int | None:
        return read_pid(self.data / "postmaster.pid")

    def healthy(self) -> bool:
        b = self.bindir()
        if not b:
            return False
        pg = self.stack.postgres
        return run([str(b / "pg_isready"), "-q", "-h", pg.host, "-p", str(pg.port)], check=False).returncode == 0

    def install(self) -> None:
        if not self.bindir():
            apt_install("postgresql")
        if not self.bindir():
            raise LaunchError("PostgreSQL binaries not found under /usr/lib/postgresql after install")

    def start(self) -> None:
        b = self.bindir()
        assert b
        pg = self.stack.postgres
        if os.geteuid() == 0:
            for d in (self.dir, self.log.parent):
                shutil.chown(d, self.os_user)
            if not self.log.exists():
                self.log.touch()
            shutil.chown(self.log, self.os_user)
            # The postgres user must be able to reach the state directory.
            p = self.state
            while p != p.parent:
                p.chmod(p.stat().st_mode | 0o011)
                p = p.parent
        if not (self.data / "PG_VERSION").exists():
            pwfile = self.dir / ".pw"
            pwfile.write_text(pg.password + "\n")
            if os.geteuid() == 0:
                shutil.chown(pwfile, self.os_user)
            done = run(
                [
                    str(b / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    pg.user,
                    f"--pwfile={pwfile}",
                    "-A",
                    "scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                user=self.os_user,
                check=False,
            )
            pwfile.unlink()
            if done.returncode != 0:
                raise LaunchError(f"initdb failed: {done.stderr.strip()[-300:]}")
        sock = self.dir / "sock"
        sock.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(sock, self.os_user)
        opts = f"-c listen_addresses={pg.host} -p {pg.port} -k {sock} -c shared_buffers=256MB -c max_connections=200 -c fsync=on"
        done = run(
            [str(b / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start"],
            user=self.os_user,
            check=False,
        )
        if done.returncode != 0:
            raise LaunchError(f"PostgreSQL did not start ({done.stdout.strip()[-200:]}); see {self.log}")
        wait_until(self.healthy, 30, "PostgreSQL", self.log)

    def after_start(self) -> None:
        import psycopg

        pg = self.stack.postgres
        with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
            existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
            for db in (pg.database, pg.test_database):
                if db not in existing:
                    conn.execute(f'CREATE DATABASE "{db}"')
        from local.migrate import migrate

        for db in (pg.database, pg.test_database):
            migrate(pg.url(db))

    def stop(self) -> None:
        b = self.bindir()
        if b and self.pid():
            run([str(b / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"], user=self.os_user, check=False)


class Redis(Service):
    def __init__(self, stack: Stack, state: Path) -> None:
        super().__init__("redis", stack, state, stack.redis.port)

    def healthy(self) -> bool:
        try:
            with socket.create_connection((self.stack.redis.host, self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def install(self) -> None:
        if not shutil.which("redis-server"):
            apt_install("redis-server")

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if not exe:
            raise LaunchError("redis-server not found after install")
        r = self.stack.redis
        cmd = [
            exe,
            "--bind",
            r.host,
            "--port",
            str(r.port),
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--maxmemory",
            "1gb",
        ]
        _daemon(cmd, self.log, self.pidfile)
        wait_until(self.healthy, 20, "Redis", self.log, self.pidfile)


class ZooKeeper(Service):
    def __init__(self, stack: Stack, state: Path) -> None:
        super().__init__("zookeeper", stack, state, stack.zookeeper.port)

    def healthy(self) -> bool:
        try:
            with socket.create_connection((self.stack.zookeeper.host, self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(8) == b"imok"
        except OSError:
            return False

    def install(self) -> None:
        _java()
        _maven_jars("zookeeper", self.state / "jars" / "zookeeper")

    def start(self) -> None:
        z = self.stack.zookeeper
        cfg = self.dir / "zoo.cfg"
        cfg.write_text(
            f"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={self.dir / 'data'}\n"
            f"clientPort={z.port}\nclientPortAddress={z.host}\nadmin.enableServer=false\n"
            "4lw.commands.whitelist=ruok,srvr,mntr\nmaxClientCnxns=200\n"
        )
        jars = self.state / "jars" / "zookeeper"
        cmd = [
            _java(),
            f"-Xms{z.heap}",
            f"-Xmx{z.heap}",
            "-XX:+UseSerialGC",
            "-cp",
            f"{jars}/*",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(cfg),
        ]
        _daemon(cmd, self.log, self.pidfile)
        wait_until(self.healthy, 60, "ZooKeeper", self.log, self.pidfile)


class Kafka(Service):
    def __init__(self, stack: Stack, state: Path) -> None:
        super().__init__("kafka", stack, state, stack.kafka.port)

    def healthy(self) -> bool:
        if not port_open(self.stack.kafka.host, self.port):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.stack.kafka.bootstrap, request_timeout_ms=3000, client_id="quiz-launcher")
        except KafkaError:
            return False
        try:
            admin.describe_cluster()
            return True
        except KafkaError:
            return False
        finally:
            admin.close()

    def install(self) -> None:
        _java()
        _maven_jars("kafka", self.state / "jars" / "kafka")

    def start(self) -> None:
        k = self.stack.kafka
        data = self.dir / "data"
        props = self.dir / "server.properties"
        props.write_text(
            "process.roles=broker,controller\nnode.id=1\n"
            f"controller.quorum.voters=1@{k.host}:{k.controller_port}\n"
            f"listeners=PLAINTEXT://{k.host}:{k.port},CONTROLLER://{k.host}:{k.controller_port}\n"
            f"advertised.listeners=PLAINTEXT://{k.host}:{k.port}\n"
            "controller.listener.names=CONTROLLER\ninter.broker.listener.name=PLAINTEXT\n"
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
            f"log.dirs={data}\nnum.partitions=1\nauto.create.topics.enable=false\n"
            "offsets.topic.replication.factor=1\noffsets.topic.num.partitions=10\n"
            "transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n"
            "share.coordinator.state.topic.replication.factor=1\nshare.coordinator.state.topic.min.isr=1\n"
            "group.initial.rebalance.delay.ms=0\nlog.retention.hours=168\nnum.network.threads=2\nnum.io.threads=4\n"
            # A consumer session may be as short as 3 s (Kafka's default floor is 6 s): the Kafka mapping of a
            # node that died hands its partitions to a survivor within seconds (local/emulator/kafka_esm.py).
            "group.min.session.timeout.ms=3000\n"
        )
        jars = self.state / "jars" / "kafka"
        log4j = self.dir / "log4j2.properties"
        log4j.write_text(
            "status=error\nappender.console.type=Console\nappender.console.name=STDOUT\n"
            "appender.console.layout.type=PatternLayout\nappender.console.layout.pattern=[%d] %p %m (%c)%n\n"
            "rootLogger.level=INFO\nrootLogger.appenderRef.stdout.ref=STDOUT\n"
            "logger.kafka.name=kafka\nlogger.kafka.level=WARN\nlogger.apache.name=org.apache.kafka\nlogger.apache.level=WARN\n"
        )
        java = _java()
        base = [java, "-cp", f"{jars}/*", f"-Dlog4j2.configurationFile={log4j}"]
        if not (data / "meta.properties").exists():
            done = subprocess.run(
                [*base, "kafka.tools.StorageTool", "format", "-t", k.cluster_id, "-c", str(props)], capture_output=True, text=True
            )
            if done.returncode != 0:
                raise LaunchError(f"formatting Kafka's KRaft storage failed: {(done.stdout + done.stderr).strip()[-300:]}")
        cmd = [
            java,
            f"-Xms{k.heap}",
            f"-Xmx{k.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            *base[1:],
            "kafka.Kafka",
            str(props),
        ]
        _daemon(cmd, self.log, self.pidfile)
        wait_until(self.healthy, 90, "Kafka", self.log, self.pidfile)

    def after_start(self) -> None:
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic
        from kafka.errors import TopicAlreadyExistsError

        admin = KafkaAdminClient(bootstrap_servers=self.stack.kafka.bootstrap, client_id="quiz-launcher")
        try:
            existing = set(admin.list_topics())
            missing = [NewTopic(t.name, t.partitions, 1) for t in self.stack.kafka.topics if t.name not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    admin.create_topics(missing)
        finally:
            admin.close()


class Prometheus(Service):
    """The Debian package's server, run from the project's configuration (local/observability/prometheus.yml)
    with this stack's ZooKeeper address written in: it discovers every emulator node from the znodes they
    register, so a node that joins or dies appears or disappears without a restart. No system service."""

    def __init__(self, stack: Stack, state: Path) -> None:
        assert stack.prometheus is not None
        super().__init__("prometheus", stack, state, stack.prometheus.port)
        self.conf = stack.prometheus

    def healthy(self) -> bool:
        return _http_ok(f"{self.conf.url}/-/ready")

    def install(self) -> None:
        if not shutil.which("prometheus"):
            apt_install("prometheus")  # promtool comes with it (the alert rules' tests)

    def start(self) -> None:
        config = write_prometheus_config(self.stack, self.dir)
        cmd = [
            shutil.which("prometheus") or "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--storage.tsdb.retention.time={self.conf.retention}",
            f"--web.listen-address={self.conf.host}:{self.port}",
            "--web.enable-lifecycle",  # POST /-/reload after editing the rules
            "--log.level=warn",
        ]
        _daemon(cmd, self.log, self.pidfile)
        wait_until(self.healthy, 30, "Prometheus", self.log, self.pidfile)


class Zipkin(Service):
    """Zipkin's server jar from Maven Central (io.zipkin:zipkin-server, exec), spans kept in memory."""

    def __init__(self, stack: Stack, state: Path) -> None:
        assert stack.zipkin is not None
        super().__init__("zipkin", stack, state, stack.zipkin.port)
        self.conf = stack.zipkin

    def healthy(self) -> bool:
        return _http_ok(f"{self.conf.url}/health")

    def install(self) -> None:
        _java()
        _maven_jars("zipkin", self.state / "jars" / "zipkin")

    def start(self) -> None:
        z = self.conf
        (jar,) = sorted((self.state / "jars" / "zipkin").glob("zipkin-server-*-exec.jar"))[-1:]
        cmd = [
            _java(),
            f"-Xms{z.heap}",
            f"-Xmx{z.heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",  # starts in seconds; a trace viewer needs no peak JIT
            "-jar",
            str(jar),
            # Loopback only: Armeria's port list replaces Zipkin's QUERY_PORT.
            f"--armeria.ports[0].ip={z.host}",
            f"--armeria.ports[0].port={z.port}",
            "--armeria.ports[0].protocols[0]=http",
        ]
        env = {**os.environ, "STORAGE_TYPE": "mem", "MEM_MAX_SPANS": "200000", "COLLECTOR_SCRIBE_ENABLED": "false"}
        _daemon(cmd, self.log, self.pidfile, env=env)
        if not self._launch_only:
            self.wait_started()

    _launch_only = False

    def launch(self) -> bool:
        """Start the process without waiting for it to answer; False when it runs already (nothing to wait for)."""
        if self.pid() and self.healthy():
            return False
        self._launch_only = True
        try:
            self.up()
        finally:
            self._launch_only = False
        return True

    def wait_started(self) -> str:
        wait_until(self.healthy, 90, "Zipkin", self.log, self.pidfile)
        return "started"


def _http_ok(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def write_prometheus_config(stack: Stack, into: Path) -> Path:
    """local/observability/prometheus.yml with this stack's ZooKeeper and the rule files' absolute paths."""
    import yaml

    source = REPO / "local" / "observability"
    config = yaml.safe_load((source / "prometheus.yml").read_text())
    config["rule_files"] = [str(source / name) for name in config.get("rule_files", [])]
    for job in config["scrape_configs"]:
        for sd in job.get("nerve_sd_configs", []):
            sd["servers"] = [stack.zookeeper.hosts]
    into.mkdir(parents=True, exist_ok=True)
    path = into / "prometheus.yml"
    path.write_text("# Written by local/services.py from local/observability/prometheus.yml at every start.\n" + yaml.safe_dump(config))
    return path


def services(stack: Stack, state: Path) -> list[Service]:
    found: list[Service] = [Postgres(stack, state), Redis(stack, state), ZooKeeper(stack, state), Kafka(stack, state)]
    if stack.prometheus is not None:
        found.append(Prometheus(stack, state))
    if stack.zipkin is not None:
        found.append(Zipkin(stack, state))
    return found


# ---------------------------------------------------------------------------- commands


def cmd_up(stack: Stack, state: Path) -> int:
    started = time.monotonic()
    found = services(stack, state)
    # A JVM that takes seconds to answer and that nothing else needs (Zipkin) is launched first and waited
    # for last, so its start-up overlaps the others' instead of adding to them.
    early = [svc for svc in found if isinstance(svc, Zipkin) and svc.launch()]
    for svc in found:
        t0 = time.monotonic()
        print(f"{svc.name:<10} ...", end=" ", flush=True)
        outcome = svc.wait_started() if svc in early else svc.up()
        print(f"{outcome:<16} 127.0.0.1:{svc.port:<6} pid {svc.pid() or '?':<8} {time.monotonic() - t0:5.1f}s", flush=True)
    print(f"all services healthy in {time.monotonic() - started:.1f}s (state in {state}; `make down` stops them)")
    return 0


def cmd_status(stack: Stack, state: Path) -> int:
    rc = 0
    for svc in services(stack, state):
        pid = svc.pid()
        ok = svc.healthy() if pid else False
        rc |= 0 if ok else 3
        print(f"{svc.name:<10} {'up' if ok else ('unhealthy' if pid else 'down'):<10} 127.0.0.1:{svc.port:<6} pid {pid or '-'}")
    return rc


def cmd_down(stack: Stack, state: Path) -> int:
    for svc in reversed(services(stack, state)):
        had = svc.pid()
        svc.stop()
        print(f"{svc.name:<10} {'stopped' if had else 'not running'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.services", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "status", "down"])
    args = parser.parse_args(argv)
    stack, state = load_stack(), state_dir()
    state.mkdir(parents=True, exist_ok=True)
    try:
        return {"up": cmd_up, "status": cmd_status, "down": cmd_down}[args.command](stack, state)
    except LaunchError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
