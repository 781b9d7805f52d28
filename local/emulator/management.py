"""The API Gateway management API (@connections), as boto3's `apigatewaymanagementapi` client calls it.

    POST   /@connections/{id}     PostToConnection: body = the frame; 410 GoneException, 413 PayloadTooLargeException
    GET    /@connections/{id}     GetConnection: connectedAt, lastActiveAt, identity{sourceIp, userAgent}
    DELETE /@connections/{id}     DeleteConnection: 204, the socket closes and $disconnect runs

Each is also served under /{stage}/@connections/..., so `endpoint_url="http://127.0.0.1:8000/dev"` works
like `https://{api}.execute-api.{region}.amazonaws.com/dev` on AWS. Errors carry `x-amzn-ErrorType`
and a {"message"} body, which is how botocore picks the modeled exception (client.exceptions.GoneException).

Local extension (not on AWS), for coalesced fan-out (DESIGN principle 5):

    GET  /@connections            {"extensions": ["batch-post", "batch-post-messages", "batch-post-async"], "maxConnectionIds": N, "maxPayloadBytes": N}
    POST /@connections            {"connectionIds": [...], "data": "<text>"} or {..., "dataBase64": "<bytes>"}
                                  or {"messages": [{"connectionIds": [...], "data": ...}, ...]} (a payload per group)
                                  -> 200 {"delivered": n, "gone": [ids that were unknown or closed]}
                                  with "async": true -> 202 {"accepted": n, "gone": [ids unknown now]} at once,
                                  delivered afterwards, in the order the async calls came (the local stand-in
                                  for the fan-out function's asynchronous invocations on AWS)

A call for a connection owned by another node is forwarded to that node: the registry says which node,
ZooKeeper (or, without it, the registry) says where it is.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from local.emulator.connections import ConnectionRegistry
from local.emulator.metrics import EmulatorMetrics
from local.emulator.websocket import WebSocketGateway

log = logging.getLogger("emulator.management")

FORWARDED = "x-emulator-forwarded"
MAX_BATCH_IDS = 10_000
FANOUT_SLICE = 1_000  # sockets sent to per turn of the event loop (~20 ms)

NodeUrl = Callable[[str], Awaitable[str | None]]  # a node id -> its advertised URL, None when it is not alive


def aws_error(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers={"x-amzn-ErrorType": error_type})


def gone(connection_id: str) -> JSONResponse:
    return aws_error(410, "GoneException", f"Connection {connection_id} is gone")


def _message(doc: Any) -> tuple[list[str], bytes]:
    ids = doc["connectionIds"]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise TypeError("connectionIds must be a list of strings")
    data = base64.b64decode(doc["dataBase64"], validate=True) if "dataBase64" in doc else str(doc["data"]).encode("utf-8")
    return ids, data


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ManagementApi:
    """@connections for this node's gateway, forwarding to the owner node when the connection lives elsewhere."""

    def __init__(
        self,
        gateway: WebSocketGateway,
        registry: ConnectionRegistry,
        node_id: str,
        message_limit: int,
        metrics: EmulatorMetrics | None = None,
        node_url: NodeUrl | None = None,
    ) -> None:
        self.gateway = gateway
        self.node_url = node_url or registry.node_url
        self.metrics = metrics or EmulatorMetrics()
        self.registry = registry
        self.node_id = node_id
        self.message_limit = message_limit
        self._http: httpx.AsyncClient | None = None
        self._in_order = asyncio.Lock()  # asynchronous batches go out one after another, in the order they came
        self._later: set[asyncio.Task[None]] = set()

    def routes(self) -> list[Route]:
        one = ["GET", "POST", "DELETE"]
        return [
            Route("/@connections", self.batch, methods=["GET", "POST"]),
            Route("/@connections/{connection_id}", self.connection, methods=one),
            Route("/{stage}/@connections", self.batch, methods=["GET", "POST"]),
            Route("/{stage}/@connections/{connection_id}", self.connection, methods=one),
        ]

    async def close(self) -> None:
        if self._later:  # asynchronous batches accepted but not yet delivered: a few seconds to finish
            await asyncio.wait(set(self._later), timeout=5)
        if self._http is not None:
            await self._http.aclose()

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        return self._http

    async def _owner_url(self, connection_id: str) -> str | None:
        """The base URL of the node that owns a connection this node does not have, if any."""
        record = await self.registry.get(connection_id)
        if record is None or record.node_id == self.node_id:
            return None
        return await self.node_url(record.node_id)

    async def connection(self, request: Request) -> Response:
        connection_id = request.path_params["connection_id"]
        method = request.method
        body = await request.body() if method == "POST" else b""
        if method == "POST" and len(body) > self.message_limit:
            return aws_error(413, "PayloadTooLargeException", f"Message payload exceeds the {self.message_limit} byte limit")
        live = self.gateway.connections.get(connection_id)
        if live is None:
            owner = None if request.headers.get(FORWARDED) else await self._owner_url(connection_id)
            if owner is None:
                if method == "POST":
                    self.metrics.posted("post_to_connection", gone=1)
                return gone(connection_id)
            return await self._forward(owner, method, f"/@connections/{connection_id}", body, request.headers.get("content-type"))
        if method == "POST":
            delivered = self.gateway.post(connection_id, body)
            self.metrics.posted("post_to_connection", delivered=int(delivered), gone=int(not delivered))
            return Response(status_code=200) if delivered else gone(connection_id)
        if method == "DELETE":
            return Response(status_code=204) if self.gateway.close(connection_id) else gone(connection_id)
        # Both are required members of GetConnection's Identity in AWS's API model, so a client that sent
        # no User-Agent still gets the key (empty) rather than a KeyError in code that runs fine on AWS.
        identity = {"sourceIp": live.info.source_ip, "userAgent": live.info.user_agent or ""}
        return JSONResponse(
            {"connectedAt": _iso(live.info.connected_at_ms), "identity": identity, "lastActiveAt": _iso(live.last_active_ms)},
        )

    async def _forward(self, base_url: str, method: str, path: str, body: bytes, content_type: str | None) -> Response:
        headers = {FORWARDED: self.node_id}
        if content_type:
            headers["content-type"] = content_type
        try:
            reply = await self._client().request(method, base_url.rstrip("/") + path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("forwarding %s %s to %s failed: %s", method, path, base_url, exc)
            if method == "POST":
                self.metrics.posted("post_to_connection", gone=1)
            return aws_error(410, "GoneException", "The node owning this connection is unreachable")
        passed = {k: v for k, v in reply.headers.items() if k.lower() in ("content-type", "x-amzn-errortype")}
        return Response(reply.content, status_code=reply.status_code, headers=passed)

    # ------------------------------------------------------------------ the batch extension

    async def batch(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(
                {
                    "extensions": ["batch-post", "batch-post-messages", "batch-post-async"],
                    "maxConnectionIds": MAX_BATCH_IDS,
                    "maxPayloadBytes": self.message_limit,
                }
            )
        try:
            doc = json.loads(await request.body())
            messages = [_message(m) for m in doc["messages"]] if "messages" in doc else [_message(doc)]
        except (ValueError, KeyError, TypeError, RecursionError, binascii.Error) as exc:
            return aws_error(
                400, "BadRequestException", f'expected {{"connectionIds": [...], "data": "..."}} or {{"messages": [...]}}: {exc}'
            )
        if sum(len(ids) for ids, _ in messages) > MAX_BATCH_IDS:
            return aws_error(400, "BadRequestException", f"at most {MAX_BATCH_IDS} connectionIds per call")
        if any(len(data) > self.message_limit for _, data in messages):
            return aws_error(413, "PayloadTooLargeException", f"Message payload exceeds the {self.message_limit} byte limit")
        forwarded = bool(request.headers.get(FORWARDED))
        if not forwarded:  # a forwarded part was counted as one call by the node the function called
            self.metrics.batch_call(sum(len(ids) for ids, _ in messages))
        if doc.get("async") is True:
            return await self._accept(messages, forwarded)
        delivered, gone_ids = 0, []
        for ids, data in messages:
            sent, lost = await self._deliver(ids, data, forwarded)
            delivered += sent
            gone_ids.extend(lost)
        return JSONResponse({"delivered": delivered, "gone": gone_ids})

    async def _accept(self, messages: list[tuple[list[str], bytes]], forwarded: bool) -> Response:
        """An asynchronous batch: the ids known to no node are reported gone now; the frames go out after
        the reply, behind the asynchronous batches accepted before (so two boards reach a socket in order)."""
        gone_ids: list[str] = []
        accepted = 0
        for ids, _ in messages:
            for connection_id in dict.fromkeys(ids):
                if connection_id in self.gateway.connections:
                    accepted += 1
                elif forwarded or await self._owner_url(connection_id) is None:
                    gone_ids.append(connection_id)
                else:
                    accepted += 1
        task = asyncio.create_task(self._deliver_in_order(messages, forwarded))
        self._later.add(task)
        task.add_done_callback(self._later.discard)
        return JSONResponse({"accepted": accepted, "gone": gone_ids}, status_code=202)

    async def _deliver_in_order(self, messages: list[tuple[list[str], bytes]], forwarded: bool) -> None:
        async with self._in_order:
            for ids, data in messages:
                try:
                    await self._deliver(ids, data, forwarded)
                except Exception:  # nobody waits for this reply: log, and let the next batch go
                    log.exception("an asynchronous batch of %d connections failed", len(ids))

    async def _deliver(self, ids: list[str], data: bytes, forwarded: bool) -> tuple[int, list[str]]:
        """One payload to many connections: local ones directly, the others through their owner node."""
        # Every local socket first (see LiveConnection: sent at once, or queued behind a send that waits), so
        # no registry lookup for a remote connection holds the others' frame back; in slices, so that a
        # 10,000-socket batch lets the event loop serve other sockets and requests in between.
        unique = list(dict.fromkeys(ids))
        delivered, gone_ids, elsewhere = 0, [], []
        for start in range(0, len(unique), FANOUT_SLICE):
            if start:
                await asyncio.sleep(0)
            sent, lost, away = self.gateway.post_many(unique[start : start + FANOUT_SLICE], data)
            delivered += sent
            gone_ids.extend(lost)
            elsewhere.extend(away)
        remote: dict[str, list[str]] = defaultdict(list)
        if forwarded:  # the node that forwarded them found them here: not here now means gone
            gone_ids.extend(elsewhere)
            elsewhere = []
        for connection_id in elsewhere:
            owner = await self._owner_url(connection_id)
            if owner is None:
                gone_ids.append(connection_id)
            else:
                remote[owner].append(connection_id)
        self.metrics.posted("batch", delivered=delivered, gone=len(gone_ids))  # the owners count what is forwarded to them
        for owner, owner_ids in remote.items():
            sent, lost = await self._forward_batch(owner, owner_ids, data)
            delivered += sent
            gone_ids.extend(lost)
        return delivered, gone_ids

    async def _forward_batch(self, base_url: str, ids: list[str], data: bytes) -> tuple[int, list[str]]:
        payload: dict[str, Any] = {"connectionIds": ids, "dataBase64": base64.b64encode(data).decode()}
        try:
            reply = await self._client().post(base_url.rstrip("/") + "/@connections", json=payload, headers={FORWARDED: self.node_id})
            result = reply.json()
            return int(result["delivered"]), list(result["gone"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("forwarding a batch of %d to %s failed: %s", len(ids), base_url, exc)
            self.metrics.posted("batch", gone=len(ids))
            return 0, ids
