"""Start a real emulator (uvicorn on a free port, in a thread) for tests, and read what its handlers recorded."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from local.emulator.app import Emulator
from local.emulator.server import uvicorn_config
from local.emulator.settings import EmulatorSettings, WebSocketLimits

HERE = Path(__file__).parent
TEMPLATE = HERE / "template.yaml"
ALT_TEMPLATE = HERE / "template-alt.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclasses.dataclass
class RunningEmulator:
    settings: EmulatorSettings
    emulator: Emulator
    event_dir: Path

    @property
    def url(self) -> str:
        return self.settings.url

    @property
    def ws_url(self) -> str:
        return self.settings.ws_url

    def recorded(self, kind: str, connection_id: str, timeout: float = 15.0) -> dict[str, Any]:
        """The event a test handler recorded (connect, disconnect, message, default, authorizer)."""
        path = self.event_dir / f"{kind}-{connection_id}.json"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists():
                event: dict[str, Any] = json.loads(path.read_text())
                return event
            time.sleep(0.05)
        raise AssertionError(f"no {kind} event recorded for {connection_id} within {timeout}s")

    def recorded_any(self, kind: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = sorted(self.event_dir.glob(f"{kind}-*.json"))
            if found:
                return [json.loads(p.read_text()) for p in found]
            time.sleep(0.05)
        raise AssertionError(f"no {kind} event recorded within {timeout}s")


@contextlib.contextmanager
def start_emulator(
    event_dir: Path,
    *,
    template: Path = TEMPLATE,
    limits: WebSocketLimits | None = None,
    env_overrides: dict[str, dict[str, str]] | None = None,
    **options: Any,
) -> Iterator[RunningEmulator]:
    """Run an emulator until the block ends. Handlers record events under `event_dir`."""
    env = {"Parameters": {"EVENT_LOG_DIR": str(event_dir)}}
    for key, values in (env_overrides or {}).items():
        env.setdefault(key, {}).update(values)
    options.setdefault("schedule_store", event_dir / "schedules.json")  # never the developer's .state/
    env_file = event_dir / "env.json"
    env_file.write_text(json.dumps(env))
    port = free_port()
    settings = EmulatorSettings(
        template=template,
        env_vars=env_file,
        port=port,
        node_id=f"test-{port}",
        limits=limits or WebSocketLimits(),
        kafka_enabled=False,
        **options,
    )
    config = uvicorn_config(settings, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"emulator-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the emulator did not start on port {port}")
        time.sleep(0.02)
    emulator = config.app.state.emulator
    assert isinstance(emulator, Emulator)
    try:
        yield RunningEmulator(settings, emulator, event_dir)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
