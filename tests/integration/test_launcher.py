"""The launcher's promises: idempotent `up`, honest `status`, one clear line when it cannot proceed."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from local import services
from local.services import LaunchError, Redis
from local.stack import REPO, Stack

pytestmark = pytest.mark.integration


def launcher(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "local.services", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_second_up_is_a_no_op_and_status_reports_every_service(database_url: str, kafka_bootstrap: str) -> None:
    done = launcher("up")
    assert done.returncode == 0, done.stderr
    names = ["postgres", "redis", "zookeeper", "kafka", "prometheus", "zipkin"]  # local/stack.toml has all six
    lines = [line for line in done.stdout.splitlines() if line.split()[:1] and line.split()[0] in names]
    assert len(lines) == 6 and all("already running" in line for line in lines), done.stdout

    status = launcher("status")
    assert status.returncode == 0
    assert [line.split()[:2] for line in status.stdout.splitlines()] == [[name, "up"] for name in names]


def test_a_port_taken_by_another_process_stops_with_one_clear_line(stack: Stack, tmp_path: Path) -> None:
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = squatter.getsockname()[1]
    try:
        redis = Redis(stack, tmp_path)
        redis.port = port
        with pytest.raises(LaunchError) as err:
            redis.up()
        message = str(err.value)
        assert f"port {port}" in message and "taken" in message and "local/stack.toml" in message
        assert "\n" not in message
        assert not redis.pidfile.exists(), "nothing was started"
    finally:
        squatter.close()


def test_missing_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LaunchError, match=r"java not found: install a JDK 17\+"):
        services._java()


def test_failed_maven_download_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A Maven that cannot reach its repository: point it at an unreachable mirror via settings.
    settings = tmp_path / "settings.xml"
    settings.write_text("<settings><offline>true</offline><localRepository>" + str(tmp_path / "m2") + "</localRepository></settings>")
    real_run = subprocess.run

    def run_offline(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        if cmd and cmd[0].endswith("mvn"):
            cmd = [cmd[0], "-s", str(settings), *cmd[1:]]
        return real_run(cmd, **kw)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(services.subprocess, "run", run_offline)
    with pytest.raises(LaunchError, match="Maven could not download the kafka jars") as err:
        services._maven_jars("kafka", tmp_path / "jars")
    assert "Maven Central" in str(err.value)
