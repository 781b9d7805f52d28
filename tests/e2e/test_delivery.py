"""The delivery adapter (quiz.realtime.delivery) against a running emulator: the batch extension when
the endpoint offers it, boto3's PostToConnection one by one when it does not, and 410s reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack

import boto3
import pytest
from websockets.sync.client import ClientConnection, connect

from quiz.realtime.delivery import ManagementApiDelivery
from tests.emulator.harness import RunningEmulator, start_emulator

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with start_emulator(tmp_path_factory.mktemp("delivery")) as running:
        yield running


def open_sockets(emu: RunningEmulator, stack: ExitStack, n: int) -> list[tuple[str, ClientConnection]]:
    out = []
    for i in range(n):
        ws = stack.enter_context(connect(f"{emu.ws_url}?token=allow:delivery{i}"))
        ws.send(json.dumps({"action": "echo"}))
        out.append((json.loads(ws.recv(timeout=20))["event"]["requestContext"]["connectionId"], ws))
    return out


class CountingClient:
    """boto3's client, counting PostToConnection calls."""

    def __init__(self, endpoint: str) -> None:
        self.calls = 0
        self._client = boto3.client(
            "apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )

    def post_to_connection(self, **kw: object) -> object:
        self.calls += 1
        return self._client.post_to_connection(**kw)


@pytest.mark.parametrize("batch", [True, False], ids=["batch-extension", "post-to-connection"])
def test_one_frame_to_many_and_own_frames_to_each(emu: RunningEmulator, batch: bool) -> None:
    client = CountingClient(emu.url + "/dev")
    delivery = ManagementApiDelivery(emu.url + "/dev", client=client)
    if not batch:
        delivery._batch, _ = {}, delivery._probed.set()  # as on AWS: no extension offered
    with ExitStack() as stack:
        sockets = open_sockets(emu, stack, 4)
        ids = [cid for cid, _ in sockets]
        gone = delivery.send([*ids, "unknownConnId="], b'{"type":"leaderboard","seq":1}')
        assert gone == ["unknownConnId="]
        for _, ws in sockets:
            assert json.loads(ws.recv(timeout=10)) == {"type": "leaderboard", "seq": 1}

        gone = delivery.send_many([([cid], json.dumps({"type": "your_rank", "rank": i}).encode()) for i, cid in enumerate(ids)])
        assert gone == []
        for i, (_, ws) in enumerate(sockets):
            assert json.loads(ws.recv(timeout=10)) == {"type": "your_rank", "rank": i}
    assert (delivery._batch_extension() != {}) is batch
    assert client.calls == (0 if batch else 5 + 4), "the batch extension replaces one call per connection"
