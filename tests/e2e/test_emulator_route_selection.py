"""Route selection never fails a frame: JSON the emulator's parser cannot hold goes to `$default`, as on
API Gateway, and the next frame on the connection is routed as usual."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from websockets.sync.client import connect

from tests.emulator.harness import RunningEmulator, start_emulator

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with start_emulator(tmp_path_factory.mktemp("ws-selection")) as running:
        yield running


@pytest.mark.parametrize(
    "frame",
    [
        '{"action": "echo", "x": ' + "[" * 990 + "]" * 990 + "}",
        '{"action": "echo", "x": ' + "[" * 15_000 + "]" * 15_000 + "}",
        '{"action": "echo", "x": ' + "1" * 5000 + "}",
    ],
    ids=["nested-990", "nested-15000", "integer-5000-digits"],
)
def test_json_the_parser_cannot_hold_goes_to_default(emu: RunningEmulator, frame: str) -> None:
    with connect(emu.ws_url + "?token=allow:gina", max_size=2**20) as ws:
        ws.send(frame)
        reply = json.loads(ws.recv(timeout=20))
        assert (reply["route"], reply["body"]) == ("$default", frame)
        ws.send(json.dumps({"action": "no-such-route"}))
        assert json.loads(ws.recv(timeout=20))["route"] == "$default", "the connection still routes"
