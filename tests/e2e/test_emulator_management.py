"""The management API (@connections) through boto3 and its batch extension, against a running emulator."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.emulator.harness import RunningEmulator, start_emulator

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    with start_emulator(tmp_path_factory.mktemp("mgmt")) as running:
        yield running


def management(endpoint: str) -> Any:
    return boto3.client(
        "apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="local", aws_secret_access_key="local"
    )


def connection_id(ws: ClientConnection) -> str:
    ws.send(json.dumps({"action": "echo"}))
    cid: str = json.loads(ws.recv(timeout=20))["event"]["requestContext"]["connectionId"]
    return cid


@pytest.mark.parametrize("suffix", ["/dev", ""])
def test_post_get_delete_with_boto3(emu: RunningEmulator, suffix: str) -> None:
    client = management(emu.url + suffix)
    with connect(emu.ws_url + "?token=allow:mgmt") as ws:
        cid = connection_id(ws)
        client.post_to_connection(ConnectionId=cid, Data=b'{"type":"leaderboard"}')
        assert ws.recv(timeout=20) == '{"type":"leaderboard"}'
        info = client.get_connection(ConnectionId=cid)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert info["Identity"]["UserAgent"].startswith("Python/")
        assert info["LastActiveAt"] >= info["ConnectedAt"]
        client.delete_connection(ConnectionId=cid)
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=20)
    assert emu.recorded("disconnect", cid)["requestContext"]["disconnectStatusCode"] == 1000
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=cid, Data=b"late")
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId=cid)
    with pytest.raises(client.exceptions.GoneException):
        client.delete_connection(ConnectionId=cid)


def test_get_connection_always_has_both_identity_members(emu: RunningEmulator) -> None:
    # SourceIp and UserAgent are required in GetConnection's Identity (AWS API model), even without a User-Agent.
    client = management(emu.url)
    with connect(emu.ws_url + "?token=allow:no-ua", user_agent_header=None) as ws:
        info = client.get_connection(ConnectionId=connection_id(ws))
    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": ""}


def test_unknown_connection_is_gone(emu: RunningEmulator) -> None:
    client = management(emu.url + "/dev")
    with pytest.raises(client.exceptions.GoneException) as gone:
        client.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x")
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_payload_over_128kb_is_413(emu: RunningEmulator) -> None:
    client = management(emu.url + "/dev")
    with connect(emu.ws_url + "?token=allow:big-post", max_size=None) as ws:
        cid = connection_id(ws)
        with pytest.raises(client.exceptions.PayloadTooLargeException):
            client.post_to_connection(ConnectionId=cid, Data=b"x" * (128 * 1024 + 1))
        client.post_to_connection(ConnectionId=cid, Data=b"x" * (128 * 1024))
        assert len(ws.recv(timeout=20)) == 128 * 1024


def test_a_handler_pushes_through_the_endpoint_the_template_derives(emu: RunningEmulator) -> None:
    with connect(emu.ws_url + "?token=allow:pusher") as ws:
        ws.send(json.dumps({"action": "push"}))
        assert json.loads(ws.recv(timeout=20)) == {"pushed": True}
        assert json.loads(ws.recv(timeout=20)) == {"sourceIp": "127.0.0.1"}


def test_batch_extension_fans_out_and_reports_gone(emu: RunningEmulator) -> None:
    with httpx.Client(base_url=emu.url, timeout=20) as http:
        assert http.get("/dev/@connections").json()["extensions"] == ["batch-post", "batch-post-messages", "batch-post-async"]
        with (
            connect(emu.ws_url + "?token=allow:p1") as a,
            connect(emu.ws_url + "?token=allow:p2") as b,
            connect(emu.ws_url + "?token=allow:p3") as c,
        ):
            ids = [connection_id(ws) for ws in (a, b, c)]
            reply = http.post("/dev/@connections", json={"connectionIds": [*ids, "GoneGoneGone123=", "Nope"], "data": '{"tick":1}'})
            assert reply.status_code == 200
            assert reply.json() == {"delivered": 3, "gone": ["GoneGoneGone123=", "Nope"]}
            assert [ws.recv(timeout=20) for ws in (a, b, c)] == ['{"tick":1}'] * 3
            binary = http.post("/@connections", json={"connectionIds": ids[:1], "dataBase64": base64.b64encode(b"\xff\x00").decode()})
            assert binary.json() == {"delivered": 1, "gone": []}
            assert a.recv(timeout=20) == b"\xff\x00"
            too_big = http.post("/@connections", json={"connectionIds": ids, "data": "x" * (128 * 1024 + 1)})
            assert too_big.status_code == 413 and too_big.headers["x-amzn-errortype"] == "PayloadTooLargeException"
            bad = http.post("/@connections", json={"connections": ids})
            assert bad.status_code == 400


def test_an_asynchronous_batch_is_accepted_at_once_and_delivered_in_order(emu: RunningEmulator) -> None:
    with (
        httpx.Client(base_url=emu.url, timeout=20) as http,
        connect(emu.ws_url + "?token=allow:p1") as a,
        connect(emu.ws_url + "?token=allow:p2") as b,
    ):
        ids = [connection_id(ws) for ws in (a, b)]
        replies = [
            http.post("/dev/@connections", json={"connectionIds": [*ids, "GoneGoneGone123="], "data": f'{{"seq":{n}}}', "async": True})
            for n in range(1, 21)
        ]
        assert {r.status_code for r in replies} == {202}
        assert replies[0].json() == {"accepted": 2, "gone": ["GoneGoneGone123="]}, "what no node knows is reported at once"
        for ws in (a, b):
            assert [json.loads(ws.recv(timeout=20))["seq"] for _ in range(20)] == list(range(1, 21)), "in the order they came"


@pytest.mark.integration
@pytest.mark.parametrize("body", ["[" * 5_000 + "]" * 5_000, '{"connectionIds": "x"}', "not json"])
def test_a_malformed_batch_is_a_400_not_a_500(emu: RunningEmulator, body: str) -> None:
    reply = httpx.post(f"{emu.url}/@connections", content=body, headers={"content-type": "application/json"}, timeout=10)
    assert reply.status_code == 400 and reply.headers["x-amzn-ErrorType"] == "BadRequestException"


def test_redis_registry_records_the_owner_and_nodes_forward(tmp_path_factory: pytest.TempPathFactory, redis_url: str, unique: str) -> None:
    import redis

    prefix = f"test:emulator:{unique}:"
    shared = {"registry_url": redis_url, "registry_prefix": prefix}
    store = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with (
            start_emulator(tmp_path_factory.mktemp("node-a"), **shared) as node_a,
            start_emulator(tmp_path_factory.mktemp("node-b"), **shared) as node_b,
        ):
            with connect(node_a.ws_url + "?token=allow:roamer") as ws:
                cid = connection_id(ws)
                record = store.hgetall(f"{prefix}conn:{cid}")
                assert record["node_id"] == node_a.settings.node_id
                assert store.ttl(f"{prefix}conn:{cid}") > 0
                # A management call reaching the wrong node is forwarded to the owner.
                management(node_b.url + "/dev").post_to_connection(ConnectionId=cid, Data=b"via node b")
                assert ws.recv(timeout=20) == "via node b"
                assert management(node_b.url).get_connection(ConnectionId=cid)["Identity"]["SourceIp"] == "127.0.0.1"
                batch = httpx.post(node_b.url + "/@connections", json={"connectionIds": [cid, "Missing"], "data": "batched"}, timeout=20)
                assert batch.json() == {"delivered": 1, "gone": ["Missing"]}
                assert ws.recv(timeout=20) == "batched"
            node_a.recorded("disconnect", cid)
            assert not store.exists(f"{prefix}conn:{cid}")
    finally:
        for key in store.scan_iter(f"{prefix}*"):
            store.delete(key)
        store.close()
