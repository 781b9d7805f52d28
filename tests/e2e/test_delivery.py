"""The delivery adapter (quiz.realtime.delivery) against a running emulator: the batch extension when
the endpoint offers it, boto3's PostToConnection one by one when it does not, and 410s reported."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack

import boto3
import pytest
import redis
from websockets.sync.client import ClientConnection, connect

from quiz.realtime.adapters.management_api import ManagementApiDelivery
from quiz.realtime.adapters.redis_registry import Membership, RedisQuizConnections
from quiz.realtime.fanout import BadSlice, Slice, SliceSender
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
    """boto3's client, counting PostToConnection calls and how many were in flight at once (each held
    `latency_s` first, as a round trip to AWS would)."""

    def __init__(self, endpoint: str, latency_s: float = 0.0) -> None:
        self.calls = 0
        self.in_flight = self.most_in_flight = 0
        self._latency_s = latency_s
        self._lock = threading.Lock()
        self._client = boto3.client(
            "apigatewaymanagementapi", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )

    def post_to_connection(self, **kw: object) -> object:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self._latency_s)
            return self._client.post_to_connection(**kw)
        finally:
            with self._lock:
                self.in_flight -= 1


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


def test_on_aws_a_tick_posts_every_players_frame_in_one_parallel_round(emu: RunningEmulator) -> None:
    """Without the batch extension, each player's own frame and the board go out together on the pool,
    not one round trip after another."""
    client = CountingClient(emu.url + "/dev", latency_s=0.3)
    delivery = ManagementApiDelivery(emu.url + "/dev", client=client)
    delivery._batch, _ = {}, delivery._probed.set()
    with ExitStack() as stack:
        sockets = open_sockets(emu, stack, 4)
        ids = [cid for cid, _ in sockets]
        personal = [([cid], json.dumps({"type": "your_rank", "rank": i}).encode()) for i, cid in enumerate(ids)]
        assert delivery.send_many([*personal, (ids, b'{"type":"leaderboard","seq":2}')]) == []
        for i, (_, ws) in enumerate(sockets):
            assert {json.loads(ws.recv(timeout=10))["type"] for _ in range(2)} == {"your_rank", "leaderboard"}, i
    assert client.calls == 8
    assert client.most_in_flight == 8, "all of the tick's posts were in flight at once"


def test_locally_a_large_room_past_the_first_shard_is_posted_asynchronously(emu: RunningEmulator) -> None:
    """As on AWS the pusher posts the first shard itself and the rest is delivered asynchronously: here
    by the emulator after its reply, in order, with the connections no node knows reported gone."""
    client = CountingClient(emu.url + "/dev")
    delivery = ManagementApiDelivery(emu.url + "/dev", client=client, shard_size=2)
    with ExitStack() as stack:
        sockets = open_sockets(emu, stack, 5)
        ids = [cid for cid, _ in sockets]
        for seq in (1, 2, 3):
            assert delivery.send([*ids, "goneConnId0001="], f'{{"type":"leaderboard","seq":{seq}}}'.encode()) == ["goneConnId0001="]
        for _, ws in sockets:
            assert [json.loads(ws.recv(timeout=10))["seq"] for _ in range(3)] == [1, 2, 3]
    assert client.calls == 0, "all through the batch extension"


def test_locally_a_ticks_own_frames_past_the_first_shard_are_posted_asynchronously(emu: RunningEmulator) -> None:
    """A question's close is a frame of its own to every player: past the first shard's posts (counted
    over the whole tick, not per frame) they go in an asynchronous call too, and all of them arrive."""
    delivery = ManagementApiDelivery(emu.url + "/dev", client=CountingClient(emu.url + "/dev"), shard_size=2)
    calls: list[tuple[int, bool]] = []
    post = delivery._post_batch

    def recording(messages: list[tuple[list[str], bytes]], *, later: bool = False) -> list[str] | None:
        calls.append((sum(len(ids) for ids, _ in messages), later))
        return post(messages, later=later)

    delivery._post_batch = recording  # type: ignore[method-assign]
    with ExitStack() as stack:
        sockets = open_sockets(emu, stack, 5)
        ids = [cid for cid, _ in sockets]
        personal = [([cid], json.dumps({"type": "your_rank", "rank": i}).encode()) for i, cid in enumerate(ids)]
        assert delivery.send_many([*personal, (["goneConnId0002="], b"{}")]) == ["goneConnId0002="]
        for i, (_, ws) in enumerate(sockets):
            assert json.loads(ws.recv(timeout=10)) == {"type": "your_rank", "rank": i}
    assert calls == [(2, False), (4, True)], "the first two posts waited for; the other four in one asynchronous call"


class RecordingShards:
    """The shards port: slices handed to other invocations, kept (as the invoke's payload) to be sent by a
    fan-out 'invocation' below."""

    def __init__(self) -> None:
        self.slices: list[dict[str, object]] = []

    def dispatch(self, messages: list[tuple[list[str], bytes]]) -> None:
        self.slices.append({"messages": [{"connectionIds": ids, "dataBase64": base64.b64encode(data).decode()} for ids, data in messages]})

    def connection_ids(self) -> list[list[str]]:
        return [[cid for m in piece["messages"] for cid in m["connectionIds"]] for piece in self.slices]  # type: ignore[attr-defined]


def test_a_large_room_on_aws_is_sharded_across_fan_out_invocations(emu: RunningEmulator, redis_url: str) -> None:
    """As on AWS (no batch extension): this invocation posts the first shard, each further slice goes to
    the fan-out function, which posts it and prunes the connections that are gone."""
    shards = RecordingShards()
    delivery = ManagementApiDelivery(emu.url + "/dev", client=CountingClient(emu.url + "/dev"), shards=shards, shard_size=2)
    delivery._batch, _ = {}, delivery._probed.set()
    registry = RedisQuizConnections(redis.Redis.from_url(redis_url))
    with ExitStack() as stack:
        sockets = open_sockets(emu, stack, 5)
        ids = [cid for cid, _ in sockets]
        for cid in [*ids, "goneConnId0000="]:
            registry.add(Membership(cid, "SHARDS", "u"))

        assert delivery.send([*ids, "goneConnId0000="], b'{"type":"leaderboard","seq":7}') == []
        assert shards.connection_ids() == [ids[2:4], [ids[4], "goneConnId0000="]]
        fan_out = SliceSender(ManagementApiDelivery(emu.url + "/dev", client=CountingClient(emu.url + "/dev")), registry)
        reports = [fan_out.send(Slice.parse(piece)) for piece in shards.slices]  # what each invocation does

        assert reports == [{"delivered": 2, "gone": 0}, {"delivered": 1, "gone": 1}]
        for _, ws in sockets:
            assert json.loads(ws.recv(timeout=10)) == {"type": "leaderboard", "seq": 7}
        assert "goneConnId0000=" not in registry.of_quiz("SHARDS")
        registry.remove_gone("SHARDS", ids)


def test_on_aws_a_ticks_own_frames_are_sharded_across_fan_out_invocations_too(emu: RunningEmulator, redis_url: str) -> None:
    """A question's close sends each player a frame of their own: the shards are counted in posts over
    the whole tick (the players' own frames first, then the board), so one invocation never posts
    thousands of them one by one."""
    shards = RecordingShards()
    client = CountingClient(emu.url + "/dev")
    delivery = ManagementApiDelivery(emu.url + "/dev", client=client, shards=shards, shard_size=3)
    delivery._batch, _ = {}, delivery._probed.set()
    registry = RedisQuizConnections(redis.Redis.from_url(redis_url))
    with ExitStack() as stack:
        sockets = open_sockets(emu, stack, 4)
        ids = [cid for cid, _ in sockets]
        for cid in ids:
            registry.add(Membership(cid, "SHARDS2", "u"))
        personal = [([cid], json.dumps({"type": "your_rank", "rank": i}).encode()) for i, cid in enumerate(ids)]

        assert delivery.send_many([*personal, (ids, b'{"type":"leaderboard","seq":9}')]) == []
        assert client.calls == 3, "this invocation posted its shard: the first three players' own frames"
        assert shards.connection_ids() == [[ids[3], *ids[:2]], ids[2:]]
        fan_out = SliceSender(ManagementApiDelivery(emu.url + "/dev", client=CountingClient(emu.url + "/dev")), registry)
        assert [fan_out.send(Slice.parse(piece)) for piece in shards.slices] == [{"delivered": 3, "gone": 0}, {"delivered": 2, "gone": 0}]

        for i, (_, ws) in enumerate(sockets):
            assert json.loads(ws.recv(timeout=10)) == {"type": "your_rank", "rank": i}
            assert json.loads(ws.recv(timeout=10)) == {"type": "leaderboard", "seq": 9}
        registry.remove_gone("SHARDS2", ids)


def test_a_slice_of_the_shape_sent_before_several_frames_fitted_in_one_is_still_read() -> None:
    """An invoke queued across a deploy: one frame to its connections."""
    piece = Slice.parse({"connectionIds": ["a", "b"], "dataBase64": base64.b64encode(b"{}").decode()})
    assert piece.messages == [(["a", "b"], b"{}")]


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"connectionIds": "abc", "dataBase64": ""},
        {"connectionIds": ["a"], "dataBase64": "%%%"},
        {"messages": []},
        {"messages": "abc"},
        {"messages": [{"connectionIds": ["a"], "dataBase64": "e30="}, {"connectionIds": ["b"], "dataBase64": "%%%"}]},
    ],
)
def test_a_malformed_slice_is_refused(event: dict[str, object]) -> None:
    with pytest.raises(BadSlice):
        Slice.parse(event)
