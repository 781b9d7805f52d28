"""The Lambda runtime through a running emulator: Timeout, warm containers, per-function environment, reload."""

from __future__ import annotations

import shutil
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from local.emulator.runtime import FunctionError, FunctionTimeout, Runtime
from local.emulator.template import load_application
from tests.emulator.harness import HERE, TEMPLATE, RunningEmulator, start_emulator
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    overrides = {"EnvBFunction": {"PROBE_EXTRA": "from-env-file"}, "Parameters": {"SHARED_EXTRA": "everyone"}}
    with start_emulator(tmp_path_factory.mktemp("runtime"), env_overrides=overrides) as running:
        yield running


@pytest.fixture(scope="module")
def client(emu: RunningEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, timeout=30) as c:
        yield c


def test_timeout_is_enforced_and_the_next_call_cold_starts(client: httpx.Client) -> None:
    warm = client.get("/slow/0").json()
    started = time.monotonic()
    timed_out = client.get("/slow/5")
    assert timed_out.status_code == 500 and timed_out.json() == {"message": "Internal Server Error"}
    assert time.monotonic() - started < 4  # killed at the 1 s Timeout, not after the 5 s sleep
    after = client.get("/slow/0").json()
    assert after["calls"] == 1  # a fresh container: module state starts over
    assert after["pid"] != warm["pid"]


def test_remaining_time_counts_down(client: httpx.Client) -> None:
    assert client.get("/slow/0.3").json()["remaining_ms"] < 750


def test_warm_container_is_reused(client: httpx.Client) -> None:
    first, second = client.get("/env/a").json(), client.get("/env/a").json()
    assert second["pid"] == first["pid"]
    assert second["calls"] == first["calls"] + 1  # module state survives between invocations


def test_each_function_has_its_own_environment(client: httpx.Client) -> None:
    a, b = client.get("/env/a").json(), client.get("/env/b").json()
    assert (a["probe"], a["started_as"], a["only_a"], a["function_name"]) == ("a", "a", "yes", "EnvAFunction")
    assert (b["probe"], b["started_as"], b["only_a"], b["function_name"]) == ("b", "b", None, "EnvBFunction")
    assert a["pid"] != b["pid"]
    assert (a["probe_extra"], b["probe_extra"]) == (None, "from-env-file")  # the env file's per-function section
    assert a["shared_extra"] == b["shared_extra"] == "everyone"  # ...and its Parameters section
    assert a["greeting"] == "hello"  # Globals still apply
    assert a["path0"] == str((HERE / "functions" / "env_probe").resolve())  # CodeUri first, like /var/task


def test_runtime_invoke_raises_for_errors_and_timeouts() -> None:
    """The blocking invoke the Kafka event source mapping uses."""
    app = load_application(TEMPLATE)
    runtime = Runtime(app.functions, app.region)
    try:
        event = {"rawPath": "/", "routeKey": "$default", "pathParameters": {"kind": "raise"}}
        with pytest.raises(FunctionError) as error:
            runtime.invoke("HttpFunction", event)
        assert error.value.error_type == "ValueError"
        assert error.value.payload()["errorMessage"] == "secret detail that must not reach the client"
        with pytest.raises(FunctionTimeout):
            runtime.invoke("SlowFunction", {"pathParameters": {"seconds": "3"}})
        assert runtime.invoke("SlowFunction", {"pathParameters": {"seconds": "0"}})["calls"] == 1
    finally:
        runtime.close()


def test_prewarmed_workers_serve_the_first_invocations_warm() -> None:
    """--warm N: workers started ahead of traffic, like provisioned concurrency, never more than the pool runs."""
    app = load_application(TEMPLATE)
    runtime = Runtime(app.functions, app.region, max_concurrency=2)
    try:
        pool = runtime.pool("SlowFunction")
        assert pool.prewarm(5) == 2 and pool.warm == 2
        assert pool.prewarm(1) == 0, "the pool is full"
        first = runtime.invoke_detailed("SlowFunction", {"pathParameters": {"seconds": "0"}})
        assert not first.cold_start and pool.cold_starts == 0
    finally:
        runtime.close()


def test_a_backlog_of_one_function_does_not_queue_another_functions_invocations(tmp_path: Path) -> None:
    """Lambda: each function's concurrency is its own. Here invocations from the event loop take one of the
    node's threads; with those all waiting for one busy function (a question's answers), another function's
    invocation (its clock) must not wait behind that backlog. Two threads and one worker per function make
    the backlog easy to build: six calls of a function that serves one at a time."""
    with start_emulator(tmp_path, max_concurrency=1) as running:
        running.emulator.executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="invoke-test")
        done: list[str] = []

        def call(path: str) -> None:
            with httpx.Client(base_url=running.url, timeout=30) as c:
                assert c.get(path).status_code == 200
            done.append(path)

        call("/slow/0")  # both warm: what follows measures queueing, not cold starts
        call("/env/a")
        done.clear()
        with ThreadPoolExecutor(max_workers=10) as clients:
            backlog = [clients.submit(call, "/slow/0.4") for _ in range(8)]  # 3.2 s of work, one at a time
            time.sleep(0.2)
            clients.submit(call, "/env/a").result(timeout=30)
            for f in backlog:
                f.result(timeout=30)
        # Served at once (before any or right after the first of the backlog), not after most of it.
        assert done.index("/env/a") <= 1, f"served behind the other function's backlog: {done}"


def test_import_error_is_a_function_error(tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "app.py").write_text("import not_a_module_anywhere\n")
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Broken:\n    Type: AWS::Serverless::Function\n    Properties: {CodeUri: broken, Handler: app.handler, Runtime: python3.11}\n"
    )
    runtime = Runtime(load_application(tmp_path / "template.yaml").functions, "us-east-1")
    try:
        with pytest.raises(FunctionError) as error:
            runtime.invoke("Broken", {})
        assert error.value.error_type == "Runtime.ImportModuleError"
    finally:
        runtime.close()


RELOAD_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/shared}
  VersionFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/version
      Handler: app.handler
      Runtime: python3.11
      Layers: [!Ref SharedLayer]
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: /version, Method: GET}
"""


def _answer(client: httpx.Client, path: str) -> object:
    response = client.get(path)
    return response.json() if response.status_code == 200 else response.status_code


def _poll(client: httpx.Client, path: str, expected: object, timeout: float = 20) -> object:
    """What GET `path` answers once it answers `expected`; the failure shows what it answered instead."""
    eventually(
        lambda: _answer(client, path) == expected,
        timeout,
        f"GET {path} to answer {expected!r}",
        interval=0.2,
        details=lambda: f"it answers {_answer(client, path)!r}",
    )
    return expected


def test_reload_recycles_workers_on_code_layer_and_template_changes(tmp_path: Path) -> None:
    (tmp_path / "functions" / "version").mkdir(parents=True)
    shutil.copytree(HERE / "layers", tmp_path / "layers")
    (tmp_path / "layers" / "shared" / "python" / "version_suffix.py").write_text('SUFFIX = "-layer1"\n')
    app_py = tmp_path / "functions" / "version" / "app.py"
    source = textwrap.dedent(
        """
        from version_suffix import SUFFIX
        def handler(event, context):
            return {"version": "VERSION" + SUFFIX}
        """
    )
    app_py.write_text(source.replace("VERSION", "v1"))
    template = tmp_path / "template.yaml"
    template.write_text(RELOAD_TEMPLATE)
    events_dir = tmp_path / "events"
    events_dir.mkdir()
    with start_emulator(events_dir, template=template, reload=True) as running, httpx.Client(base_url=running.url, timeout=20) as client:
        assert client.get("/version").json() == {"version": "v1-layer1"}
        time.sleep(0.5)  # let the watcher settle before the first change
        app_py.write_text(source.replace("VERSION", "v2"))
        assert _poll(client, "/version", {"version": "v2-layer1"}) == {"version": "v2-layer1"}
        (tmp_path / "layers" / "shared" / "python" / "version_suffix.py").write_text('SUFFIX = "-layer2"\n')
        assert _poll(client, "/version", {"version": "v2-layer2"}) == {"version": "v2-layer2"}
        template.write_text(RELOAD_TEMPLATE.replace("Path: /version", "Path: /renamed"))
        assert _poll(client, "/renamed", {"version": "v2-layer2"}) == {"version": "v2-layer2"}
        assert client.get("/version").status_code == 404


def test_past_its_integration_timeout_a_route_answers_503_and_the_invocation_runs_on(emu: RunningEmulator, client: httpx.Client) -> None:
    """API Gateway waits TimeoutInMillis (here 0.3 s) for the function, then answers 503 Service Unavailable;
    the invocation is not cancelled (on Lambda it runs to its end and its response is dropped)."""
    started = time.monotonic()
    hurried = client.get("/hurried/0.8")
    waited = time.monotonic() - started
    assert hurried.status_code == 503 and hurried.json() == {"message": "Service Unavailable"}
    assert waited < 0.75  # at the route's 0.3 s, not when the function returned
    finished = emu.recorded_any("hurried-http")
    assert [e["rawPath"] for e in finished] == ["/hurried/0.8"]  # the invocation ran to its end
