"""Fan-out through the management API to clients that read and to one that stops reading, over real sockets."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Close, Opcode
from websockets.http11 import Response
from websockets.sync.client import connect
from websockets.uri import parse_uri

from local.emulator.settings import WebSocketLimits
from tests.emulator.harness import RunningEmulator, start_emulator

pytestmark = pytest.mark.e2e

OUTBOUND_LIMIT = 4


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with start_emulator(tmp_path_factory.mktemp("fanout"), limits=WebSocketLimits(outbound_queue=OUTBOUND_LIMIT)) as running:
        yield running


class StalledClient:
    """A WebSocket client on a plain socket with a tiny receive buffer, which reads only when told to."""

    def __init__(self, ws_url: str) -> None:
        self.protocol = ClientProtocol(parse_uri(ws_url), max_size=None)
        uri = parse_uri(ws_url)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect, so the window stays small
        self.sock.settimeout(20)
        self.sock.connect((uri.host, uri.port))
        self.protocol.send_request(self.protocol.connect())
        self._flush()
        while not any(isinstance(e, Response) for e in self._read()):
            pass

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.sock.sendall(data)

    def _read(self) -> list[Any]:
        chunk = self.sock.recv(65536)
        if chunk:
            self.protocol.receive_data(chunk)
        else:
            self.protocol.receive_eof()
        self._flush()  # answers pings and the close handshake
        return self.protocol.events_received()

    def ask(self, message: dict[str, Any]) -> Any:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()
        while True:
            for event in self._read():
                return json.loads(event.data)

    def read_until_closed(self, timeout: float = 30) -> tuple[list[str], int | None]:
        frames: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self._read():
                if event.opcode is Opcode.CLOSE:
                    return frames, Close.parse(event.data).code
                if event.opcode is Opcode.TEXT:  # pings are answered by the protocol
                    frames.append(event.data.decode())
            if self.protocol.close_code is not None:
                return frames, self.protocol.close_code
        raise AssertionError(f"no close frame after {len(frames)} frames in {timeout:.0f} s")

    def close(self) -> None:
        self.sock.close()


def test_one_batch_reaches_every_socket_once_in_order(emu: RunningEmulator) -> None:
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(connect(emu.ws_url + f"?token=allow:fan{i}")) for i in range(20)]
        ids = []
        for ws in clients:
            ws.send(json.dumps({"action": "echo"}))
            ids.append(json.loads(ws.recv(timeout=20))["event"]["requestContext"]["connectionId"])
        with httpx.Client(base_url=emu.url, timeout=20) as http:
            for tick in range(5):
                messages = [{"connectionIds": ids[: 10 + tick], "data": f"tick {tick} a"}, {"connectionIds": ids, "data": f"tick {tick} b"}]
                reply = http.post("/@connections", json={"messages": messages})
                assert reply.json() == {"delivered": 10 + tick + 20, "gone": []}
        for n, ws in enumerate(clients):
            expected = [f"tick {t} {part}" for t in range(5) for part in ("a", "b") if part == "b" or n < 10 + t]
            assert [ws.recv(timeout=20) for _ in expected] == expected


def test_a_client_that_stops_reading_is_closed_1008_after_the_frames_it_was_given_in_order(emu: RunningEmulator) -> None:
    stalled = StalledClient(emu.ws_url + "?token=allow:stalled")
    try:
        cid = stalled.ask({"action": "echo"})["event"]["requestContext"]["connectionId"]
        pad = "x" * 60_000
        accepted = 0
        with httpx.Client(base_url=emu.url, timeout=20) as http:
            # Kernel buffers first, then the server's own, then OUTBOUND_LIMIT frames; the next post finds it closing.
            for seq in range(2_000):
                status = http.post(f"/@connections/{cid}", content=json.dumps({"seq": seq, "pad": pad})).status_code
                if status == 410:
                    break
                assert status == 200
                accepted += 1
        assert 0 < accepted < 2_000, "the client was never found too slow"
        frames, code = stalled.read_until_closed()
    finally:
        stalled.close()
    assert code == 1008
    assert [json.loads(f)["seq"] for f in frames] == list(range(accepted))  # every accepted frame, in order, then the close
    context = emu.recorded("disconnect", cid)["requestContext"]
    assert context["disconnectStatusCode"] == 1008
    assert context["disconnectReason"] == "Slow consumer: outbound queue full"
