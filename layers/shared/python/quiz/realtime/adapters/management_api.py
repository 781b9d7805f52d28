"""Pushing frames to WebSocket connections through the API Gateway management API.

One port (`quiz.realtime.ports.Delivery`), one adapter. On AWS it calls PostToConnection once per connection, in
parallel over a pooled client; a 410 (GoneException) marks the connection gone and delivery to the
others continues. A call with more posts than one invocation makes in good time is sharded: this
invocation posts the first `shard_size` (connection, frame) pairs, in the order given (a tick's players'
own frames first), and hands each further slice of at most `shard_size` to a concurrent invocation of
the fan-out function (`Shards`, an asynchronous Lambda invoke), which posts it and prunes what is gone.
So a question's close, a frame of its own to each of 5,000 players, is ten invocations' work, as a
board to 5,000 is. Against the local emulator it uses the emulator's batch extension when the endpoint
offers it, so a tick to a 5,000-player quiz is one HTTP call, not 5,000, and splits the same way: the
first `shard_size` posts wait for the reply, the rest go in asynchronous calls (`batch-post-async`) that
the emulator delivers after replying, as the fan-out function's invocations deliver theirs on AWS; so
the leaderboard's next batch does not wait for thousands of sends.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from urllib3 import PoolManager, Timeout
from urllib3.exceptions import HTTPError

from quiz.realtime.ports import Message, Shards

log = logging.getLogger("quiz.delivery")


class LambdaShards:
    """`Shards` as asynchronous invocations of the fan-out function (one Event invoke per slice).

    An Event invoke is queued by Lambda and retried on failure, and each slice runs in its own
    execution environment, so a 10,000-player tick posts from ten environments at once."""

    def __init__(self, function_name: str, *, client: Any | None = None) -> None:
        self._function = function_name
        self._client = client
        self._lock = threading.Lock()

    def _lambda(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3  # on first dispatch: see ManagementApiDelivery._management
                from botocore.config import Config

                self._client = boto3.client("lambda", config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=2))
            return self._client

    def dispatch(self, messages: list[Message]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        payload = {"messages": [{"connectionIds": ids, "dataBase64": base64.b64encode(data).decode()} for ids, data in messages]}
        try:
            self._lambda().invoke(FunctionName=self._function, InvocationType="Event", Payload=json.dumps(payload).encode())
        except (BotoCoreError, ClientError) as exc:
            # Frames are best effort (docs/websocket.md): a lost slice misses one tick, the next one catches up.
            log.warning("fan-out of %d connections to %s failed: %s", sum(len(ids) for ids, _ in messages), self._function, exc)


class ManagementApiDelivery:
    """`Delivery` over boto3's ``apigatewaymanagementapi`` client (works against AWS and the emulator)."""

    def __init__(
        self,
        endpoint_url: str,
        *,
        client: Any | None = None,
        max_workers: int = 32,
        region: str | None = None,
        shards: Shards | None = None,
        shard_size: int = 500,
    ) -> None:
        self._endpoint = endpoint_url.rstrip("/")
        self._client = client
        self._region = region
        self._max_workers = max_workers
        self._client_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="push")
        self._http = PoolManager(maxsize=4, timeout=Timeout(connect=2, read=10))
        self._batch: dict[str, Any] | None = None  # the batch extension's limits, once probed
        self._probed = threading.Event()
        self._shards = shards
        self._shard_size = max(1, shard_size)

    def _management(self) -> Any:
        """boto3's client, built on the first post that needs it. boto3 and its service model cost a cold
        start ~0.2 s, and against the local gateway every frame goes through the batch extension instead."""
        if self._client is not None:  # the push threads' common case: no lock once built
            return self._client
        with self._client_lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                self._client = boto3.client(
                    "apigatewaymanagementapi",
                    endpoint_url=self._endpoint,
                    region_name=self._region or boto3.session.Session().region_name or "us-east-1",
                    config=Config(
                        max_pool_connections=self._max_workers,
                        retries={"max_attempts": 2, "mode": "standard"},
                        connect_timeout=2,
                        read_timeout=5,
                    ),
                )
            return self._client

    def _batch_extension(self) -> dict[str, Any]:
        """The local gateway's batch extension, if this endpoint offers it (AWS does not: {})."""
        if not self._probed.is_set():
            try:
                reply = self._http.request("GET", self._endpoint + "/@connections", retries=False)
                doc = json.loads(reply.data) if reply.status == 200 else {}
                self._batch = doc if isinstance(doc, dict) and "batch-post" in doc.get("extensions", []) else {}
            except (HTTPError, ValueError, OSError):
                self._batch = {}
            self._probed.set()
        return self._batch or {}

    def _post_batch(self, messages: list[Message], *, later: bool = False) -> list[str] | None:
        """One call for many connections (`later`: delivered after the reply); None when the call failed
        (the caller falls back)."""
        doc: dict[str, Any] = {
            "messages": [{"connectionIds": ids, "dataBase64": base64.b64encode(data).decode()} for ids, data in messages]
        }
        if later:
            doc["async"] = True
        try:
            reply = self._http.request(
                "POST", self._endpoint + "/@connections", body=json.dumps(doc), headers={"content-type": "application/json"}
            )
            if reply.status != (202 if later else 200):
                log.warning("batch push answered %s; falling back to one call per connection", reply.status)
                return None
            return list(json.loads(reply.data)["gone"])
        except (HTTPError, ValueError, KeyError, OSError) as exc:
            log.warning("batch push failed (%s); falling back to one call per connection", exc)
            return None

    def _post(self, connection_id: str, data: bytes) -> bool:
        """True when delivered; False when the connection is gone."""
        from botocore.exceptions import BotoCoreError, ClientError  # loaded with the client (_management)

        try:
            self._management().post_to_connection(ConnectionId=connection_id, Data=data)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "GoneException":
                return False
            log.warning("push to %s failed: %s", connection_id, exc.response.get("Error", {}).get("Code"))
            return True  # not gone: keep the connection, the next frame will try again
        except BotoCoreError as exc:
            log.warning("push to %s failed: %s", connection_id, type(exc).__name__)
            return True

    def _one_by_one(self, posts: list[tuple[str, bytes]]) -> list[str]:
        """PostToConnection for each (connection, frame), in parallel on the pool (started in this
        order); returns the connections that are gone."""
        if len(posts) == 1:
            ((cid, data),) = posts
            return [] if self._post(cid, data) else [cid]
        delivered = self._pool.map(lambda post: self._post(*post), posts)
        return [cid for (cid, _), ok in zip(posts, delivered, strict=True) if not ok]

    def send(self, connection_ids: list[str], data: bytes) -> list[str]:
        if not connection_ids:
            return []
        return self.send_many([(connection_ids, data)])

    def send_many(self, messages: list[Message]) -> list[str]:
        messages = [(ids, data) for ids, data in messages if ids]
        if not messages:
            return []
        ext = self._batch_extension()
        if not ext:
            if self._shards is None:  # no fan-out function: every post from here
                return self._one_by_one([(cid, data) for ids, data in messages for cid in ids])
            mine, *others = _slices(messages, self._shard_size, SLICE_MAX_BYTES)
            for piece in others:
                self._shards.dispatch(piece)
            # One parallel round for this invocation's share of the tick (a frame per player one after
            # another cost a round trip each).
            return self._one_by_one([(cid, data) for ids, data in mine for cid in ids])
        limit = int(ext.get("maxConnectionIds", 1000))
        grouped = "batch-post-messages" in ext.get("extensions", [])
        now, later = messages, []
        if "batch-post-async" in ext.get("extensions", []):
            now, *others = _slices(messages, self._shard_size, None)
            later = [m for piece in others for m in piece]
        gone: list[str] = []
        for part, asynchronous in ((now, False), (later, True)):
            for chunk in _chunks(part, limit, grouped):
                lost = self._post_batch(chunk, later=asynchronous)
                if lost is None:  # that call failed as a whole: deliver its part one by one
                    lost = self._one_by_one([(cid, data) for ids, data in chunk for cid in ids])
                gone.extend(lost)
        return gone


# An asynchronous invoke carries at most 1 MB (Lambda's Invoke API); a slice stays well under it even
# when its frames are large and all different.
SLICE_MAX_BYTES = 768 * 1024


def _slices(messages: list[Message], size: int, max_bytes: int | None) -> list[list[Message]]:
    """The messages cut, in order, into slices of at most ``size`` (connection, frame) pairs (and about
    ``max_bytes`` of payload once base64-encoded, when given); a message may span slices. The first
    slice is what the caller posts itself."""
    out: list[list[Message]] = []
    piece: list[Message] = []
    count = weight = 0
    for ids, data in messages:
        cost = 4 * ((len(data) + 2) // 3) + 64  # its base64 and the JSON around it
        start = 0
        while start < len(ids):
            if piece and (count == size or (max_bytes is not None and weight + cost > max_bytes)):
                out.append(piece)
                piece, count, weight = [], 0, 0
            part = ids[start : start + size - count]
            piece.append((part, data))
            count += len(part)
            weight += cost + sum(len(cid) + 3 for cid in part)
            start += len(part)
    if piece:
        out.append(piece)
    return out


def _chunks(messages: list[Message], limit: int, grouped: bool) -> Iterable[list[Message]]:
    """Calls of at most ``limit`` connection ids; one message per call unless the gateway takes groups."""
    batch: list[Message] = []
    count = 0
    for ids, data in messages:
        for start in range(0, len(ids), limit):
            part = ids[start : start + limit]
            if batch and (not grouped or count + len(part) > limit):
                yield batch
                batch, count = [], 0
            batch.append((part, data))
            count += len(part)
    if batch:
        yield batch
