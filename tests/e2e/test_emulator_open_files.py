"""A node holding thousands of sockets: its workers' pipes get descriptor numbers above 1024, where select() fails."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.emulator.runtime import FunctionError, FunctionTimeout, Runtime
from local.emulator.settings import raise_open_file_limit
from local.emulator.template import load_application
from tests.emulator.harness import TEMPLATE

pytestmark = pytest.mark.e2e

BUSY_DESCRIPTORS = 1_200  # what ~1,200 WebSockets hold: past select()'s FD_SETSIZE of 1,024


@pytest.fixture
def many_open_descriptors() -> Iterator[list[int]]:
    """Pipes held open until the test ends, so every descriptor opened meanwhile is numbered above 1,024."""
    if raise_open_file_limit(wanted=BUSY_DESCRIPTORS + 200) < BUSY_DESCRIPTORS + 200:
        pytest.skip("the hard limit on open files is too low to hold 1,200 descriptors (ulimit -Hn)")
    fds: list[int] = []
    try:
        while len(fds) < BUSY_DESCRIPTORS:
            fds.extend(os.pipe())
        yield fds
    finally:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def function_template(tmp_path: Path, source: str, timeout: int = 30) -> Path:
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text(source)
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  Probe:\n    Type: AWS::Serverless::Function\n"
        f"    Properties: {{CodeUri: fn, Handler: app.handler, Runtime: python3.11, Timeout: {timeout}}}\n"
    )
    return template


def test_workers_started_past_1024_descriptors_answer_time_out_and_fail(many_open_descriptors: list[int]) -> None:
    assert max(many_open_descriptors) > 1024
    app = load_application(TEMPLATE)
    runtime = Runtime(app.functions, app.region)
    try:
        # Cold start (the init handshake), then a warm call: both read the worker's reply on a pipe above 1,024.
        assert runtime.invoke("SlowFunction", {"pathParameters": {"seconds": "0"}})["calls"] == 1
        assert runtime.invoke("SlowFunction", {"pathParameters": {"seconds": "0"}})["calls"] == 2
        with pytest.raises(FunctionTimeout):  # Timeout: 1 is still enforced
            runtime.invoke("SlowFunction", {"pathParameters": {"seconds": "3"}})
        with pytest.raises(FunctionError) as error:
            runtime.invoke("HttpFunction", {"rawPath": "/", "routeKey": "$default", "pathParameters": {"kind": "raise"}})
        assert error.value.error_type == "ValueError"
    finally:
        runtime.close()


def test_a_worker_that_dies_is_noticed_at_once_and_its_last_output_logged(
    tmp_path: Path, many_open_descriptors: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="emulator.function.Probe")
    source = "import os, sys\ndef handler(event, context):\n    print('last words', file=sys.stderr, flush=True)\n    os._exit(3)\n"
    runtime = Runtime(load_application(function_template(tmp_path, source, timeout=60)).functions, "us-east-1")
    try:
        started = time.monotonic()
        with pytest.raises(FunctionTimeout):  # a dead worker ends the invocation as a timeout does
            runtime.invoke("Probe", {})
        assert time.monotonic() - started < 30  # the worker's exit ended the wait, not the 60 s Timeout
    finally:
        runtime.close()
    assert "last words" in [r.getMessage() for r in caplog.records if r.name == "emulator.function.Probe"]


def test_handler_output_is_logged_between_start_and_report(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="emulator.function.Probe")
    source = "def handler(event, context):\n    print('inside', event['n'])\n    return event['n']\n"
    runtime = Runtime(load_application(function_template(tmp_path, source)).functions, "us-east-1")
    try:
        assert [runtime.invoke("Probe", {"n": n}) for n in (1, 2)] == [1, 2]
    finally:
        runtime.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "emulator.function.Probe"]
    kinds = [line.split(" ")[0] for line in lines]
    assert kinds == ["START", "inside", "END", "REPORT"] * 2, lines
    assert lines[1] == "inside 1" and lines[5] == "inside 2"


def test_a_function_gets_lambdas_1024_file_descriptors(tmp_path: Path) -> None:
    raise_open_file_limit(wanted=2048)
    source = "import resource\ndef handler(event, context):\n    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
    runtime = Runtime(load_application(function_template(tmp_path, source)).functions, "us-east-1")
    try:
        assert runtime.invoke("Probe", {}) <= 1024
    finally:
        runtime.close()
