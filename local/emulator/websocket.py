"""API Gateway WebSocket API: $connect through the REQUEST authorizer, route selection, $disconnect, limits.

One `WebSocketGateway` serves every socket of this node at /ws (raw ASGI, so the close codes and the
HTTP status of a rejected upgrade are exactly what a client sees). Outbound frames for a connection leave
in the order they were given, whoever gives them (management API posts, route responses, error frames),
and a slow client never stalls a caller: see `LiveConnection`. One sweeper task per gateway enforces the
idle timeout and the maximum duration of every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from local.emulator import events
from local.emulator.connections import ConnectionRecord, ConnectionRegistry
from local.emulator.integration import IntegrationTimeout, within
from local.emulator.metrics import EmulatorMetrics
from local.emulator.runtime import FunctionError, InvocationError
from local.emulator.settings import WebSocketLimits
from local.emulator.template import WebSocketApi, WebSocketAuthorizer, WebSocketRoute

# API Gateway's message to a client whose route did not answer within its integration timeout.
ENDPOINT_TIMED_OUT = "Endpoint request timed out"

log = logging.getLogger("emulator.websocket")

AsyncInvoke = Callable[[str, Any], Awaitable[Any]]

GOING_AWAY = (1001, "Going away")
MESSAGE_TOO_BIG = (1009, "Message too big")
SLOW_CONSUMER = (1008, "Slow consumer: outbound queue full")
CLOSED_BY_API = (1000, "Connection closed by the management API")
SWEEP_PERIOD_S = 1.0  # how often the idle timeout and maximum duration are checked, at most
NODE_LOST = (1006, "node lost")  # $disconnect run by a surviving node for a connection of a node that died


class Rejected(Exception):
    """The upgrade is refused with an HTTP status, as API Gateway does on a failed $connect."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------------------- authorizer


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str) -> bool:
    # IAM wildcards: * and ?; no character classes.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def policy_allows(policy: Mapping[str, Any], method_arn: str) -> bool:
    """IAM evaluation of the authorizer's policy for execute-api:Invoke on the method ARN: explicit Deny wins."""
    allowed = False
    for statement in _as_list(policy.get("Statement")):
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        if not any(_wildcard(a.lower(), "execute-api:invoke") for a in actions):
            continue
        if not any(_wildcard(r, method_arn) for r in resources):
            continue
        if str(statement.get("Effect", "")).lower() == "deny":
            return False
        if str(statement.get("Effect", "")).lower() == "allow":
            allowed = True
    return allowed


def identity_present(source: str, observed: events.Observed) -> bool:
    """Is the declared identity source (route.request.header.X / route.request.querystring.Y) in the request?"""
    kind, _, name = source.removeprefix("route.request.").partition(".")
    if kind == "header":
        return bool(observed.header(name.lower()))
    if kind == "querystring":
        return any(k == name and v for k, v in observed.query_pairs())
    return True  # stage variables and context sources are always present locally


class InvalidAuthorizerContext(ValueError):
    """A context value API Gateway refuses (an object or an array): the caller gets a 500."""


def _context_value(key: str, value: Any) -> str | None:
    # AWS: context values are strings, numbers or booleans, passed on stringified ("123", "true"); a JSON
    # object or array is not valid (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html).
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise InvalidAuthorizerContext(f"context[{key!r}] is a {type(value).__name__}: only strings, numbers and booleans are allowed")


def authorizer_context(result: Any) -> dict[str, Any]:
    """requestContext.authorizer after an Allow: the principal and the authorizer's context, values stringified."""
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise InvalidAuthorizerContext(f"context must be an object, got {type(context).__name__}")
    return {"principalId": result.get("principalId"), **{str(k): _context_value(str(k), v) for k, v in context.items()}}


# ---------------------------------------------------------------------------- one connection


def data_message(data: bytes | str) -> Message:
    """The ASGI message that sends `data`: a text frame when it is UTF-8, else a binary one (as API Gateway)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return {"type": "websocket.send", "bytes": data}
    return {"type": "websocket.send", "text": data}


def wire_frame(message: Message) -> bytes:
    """The bytes of a `websocket.send` message as an unmasked, unfragmented, uncompressed frame: what
    the server writes to any of its sockets for it, so a fan-out serialises it once, not once per socket."""
    text = message.get("text")
    frame = Frame(Opcode.TEXT, text.encode()) if text is not None else Frame(Opcode.BINARY, message["bytes"])
    return frame.serialize(mask=False)


class Wire:
    """A direct line to one socket's transport, past the server's per-frame ASGI `send`.

    uvicorn's `send` re-encodes and re-frames the payload for every socket; a board frame to 5,000
    sockets paid that 5,000 times (most of a fan-out's CPU). `write` puts a frame serialised once on the
    transport instead, under exactly the conditions in which `send` would have written it at once: the
    handshake done, the connection OPEN with no extension and no fragmented message in progress, nothing
    closing, and the transport not paused for flow control. Otherwise it declines and the frame takes the
    ASGI path (which waits for a paused transport and raises on a closed one)."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    @staticmethod
    def of(send: Send) -> Wire | None:
        protocol = getattr(send, "__self__", None)
        if not isinstance(protocol, WebSocketsSansIOProtocol):  # another server: every frame goes through `send`
            return None
        return Wire(protocol)

    def write(self, frame: bytes) -> bool:
        p = self._protocol
        conn = p.conn
        if (
            not p.handshake_complete or p.initial_response is not None or p.close_sent or p.disconnected
            or not p.writable.is_set() or conn.state is not State.OPEN or conn.extensions or conn.expect_continuation_frame
            or p.transport.is_closing()
        ):  # fmt: skip
            return False
        p.transport.write(frame)
        return True


def run_until_suspended(step: Awaitable[Any]) -> Coroutine[Any, Any, None] | None:
    """Run an awaitable now, on the caller's turn of the event loop, up to its first suspension, as Python
    3.12's eager tasks do: None when it finished there (its exception, if any, is raised here), else a
    coroutine to await in a task, which finishes it."""
    steps = step.__await__()
    try:
        blocker = steps.send(None)
    except StopIteration:
        return None
    return _finish(steps, blocker)


async def _finish(steps: Generator[Any, None, Any], blocker: Any) -> None:
    try:
        while True:
            # Wait for what the step waits on, then let it go on: it reads that future's result or error itself.
            if blocker is None:  # a bare yield (asyncio.sleep(0))
                await asyncio.sleep(0)
            else:
                await asyncio.wait([blocker])
            blocker = steps.send(None)
    except StopIteration:
        return
    finally:
        steps.close()  # cancelled while waiting: unwind the step too (its own finally blocks run)


@dataclass(eq=False, slots=True)
class LiveConnection:
    """A socket this node owns.

    Frames leave in the order they were given. While nothing waits, a frame is handed to the server at once,
    on the caller's turn of the event loop: the server's send returns without suspending unless the
    client's buffers are full, and for a fan-out to thousands of sockets a task woken per socket and frame
    was most of the cost. When a send has to wait, a writer task finishes it and what is given meanwhile
    queues behind it, up to the outbound limit; past that the client is too slow and is closed with 1008."""

    info: events.WsConnection
    send: Send
    authorizer: dict[str, Any] | None
    outbound_limit: int
    connected_mono: float = field(default_factory=time.monotonic)
    last_active_mono: float = field(default_factory=time.monotonic)
    last_active_ms: int = field(default_factory=events.now_ms)
    last_touch_mono: float = 0.0
    close_code: int | None = None  # set when the server closes, so $disconnect reports our code
    close_reason: str = ""
    closing: bool = False
    gone: bool = False
    # Only while a send waits for the client: the task finishing it, and the frames given meanwhile.
    writer: asyncio.Task[None] | None = None
    wire: Wire | None = None  # the socket's transport, when the server lets frames be written to it directly
    backlog: deque[tuple[Message, bytes | None]] | None = None  # each message with its serialised frame, if any

    @property
    def connection_id(self) -> str:
        return self.info.connection_id

    def mark_active(self) -> None:
        self.last_active_mono = time.monotonic()
        self.last_active_ms = events.now_ms()

    def enqueue(self, message: Message, frame: bytes | None = None) -> bool:
        """Send a frame, or queue it behind one that waits; False if closing or the client is too slow to keep up.
        `frame` is the message already serialised (`wire_frame`), written as is when the socket allows."""
        if self.closing or self.gone:
            return False
        if self.backlog is None:
            if frame is None or self.wire is None or not self.wire.write(frame):
                self._send_now(message)
        elif len(self.backlog) >= self.outbound_limit:
            self.close(*SLOW_CONSUMER)
            return False
        else:
            self.backlog.append((message, frame))
        return True

    def send_data(self, data: bytes | str) -> bool:
        message = data_message(data)
        return self.enqueue(message, wire_frame(message) if self.wire is not None else None)

    def close(self, code: int, reason: str) -> None:
        """Close from the server side; the reason and code are what $disconnect will report."""
        if self.closing or self.gone:
            return
        self.closing = True
        self.close_code, self.close_reason = code, reason
        message: Message = {"type": "websocket.close", "code": code, "reason": reason}
        # Frames given before are delivered first; the close frame is the one allowed past the limit.
        if self.backlog is None:
            self._send_now(message)
        else:
            self.backlog.append((message, None))

    def stop(self) -> None:
        """The socket is gone: drop what still waits to be sent."""
        self.gone = True
        if self.writer is not None:
            self.writer.cancel()

    def _send_now(self, message: Message) -> None:
        try:
            waiting = run_until_suspended(self.send(message))
        except Exception:  # the client went away mid-send; the receive loop sees the disconnect
            self.gone = True
            return
        if waiting is not None:
            backlog: deque[tuple[Message, bytes | None]] = deque()
            self.backlog = backlog
            self.writer = asyncio.ensure_future(self._write_backlog(waiting, backlog))

    async def _write_backlog(self, waiting: Coroutine[Any, Any, None], backlog: deque[tuple[Message, bytes | None]]) -> None:
        """Finish the send that waits, then the frames queued behind it, in order. Each goes straight to
        the transport while it takes writes again (the writes that refill its buffer pause it), and
        through the server's send, which waits for the client, once it does not: a slow client's
        frames cost a transport write each, not a send each."""
        try:
            await waiting
            while backlog:
                message, frame = backlog.popleft()
                if frame is not None and self.wire is not None and self.wire.write(frame):
                    continue
                await self.send(message)
                if message["type"] == "websocket.close":
                    break
        except Exception:  # the client went away mid-send; the receive loop sees the disconnect
            self.gone = True
        finally:
            # Nothing waits now (no await since the backlog was seen empty): the next frame is sent at once.
            self.writer = self.backlog = None


class WebSocketGateway:
    """The WebSocket API of one template on this node."""

    def __init__(
        self,
        api: WebSocketApi,
        identity: events.ApiIdentity,
        invoke: AsyncInvoke,
        limits: WebSocketLimits,
        registry: ConnectionRegistry,
        node_id: str,
        server_port: int,
        region: str,
        metrics: EmulatorMetrics | None = None,
    ) -> None:
        self.api = api
        self.metrics = metrics or EmulatorMetrics()
        self.region = region
        self._tasks: set[asyncio.Task[None]] = set()
        self.identity = identity
        self.invoke = invoke
        self.limits = limits
        self.registry = registry
        self.node_id = node_id
        self.server_port = server_port
        self.connections: dict[str, LiveConnection] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._selection_path = api.route_selection_expression.removeprefix("$request.body.").split(".")

    def method_arn(self, route_key: str) -> str:
        return f"arn:aws:execute-api:{self.region}:{self.identity.account_id}:{self.api.api_id}/{self.api.stage}/{route_key}"

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ $connect

    async def _authorize(self, authorizer: WebSocketAuthorizer, observed: events.Observed, conn: events.WsConnection) -> dict[str, Any]:
        if not all(identity_present(s, observed) for s in authorizer.identity_sources):
            # API Gateway answers 401 without calling the authorizer when an identity source is missing.
            raise Rejected(401, "Unauthorized")
        method_arn = self.method_arn("$connect")
        event = events.ws_authorizer_event(observed, self.identity, conn, method_arn)
        try:
            result = await self.invoke(authorizer.function_id, event)
        except FunctionError as exc:
            if exc.error_message == "Unauthorized":  # Lambda authorizers' documented way to say 401
                raise Rejected(401, "Unauthorized") from exc
            log.error("authorizer %s failed: %s", authorizer.function_id, exc)
            raise Rejected(500, "Internal Server Error") from exc
        except InvocationError as exc:
            log.error("authorizer %s failed: %s", authorizer.function_id, exc)
            raise Rejected(500, "Internal Server Error") from exc
        if result == "Unauthorized":
            raise Rejected(401, "Unauthorized")
        if not isinstance(result, dict) or not isinstance(result.get("policyDocument"), dict) or "principalId" not in result:
            log.error("authorizer %s returned no principalId/policyDocument", authorizer.function_id)
            raise Rejected(500, "Internal Server Error")
        if not policy_allows(result["policyDocument"], method_arn):
            raise Rejected(403, "Forbidden")
        try:
            return authorizer_context(result)
        except InvalidAuthorizerContext as exc:
            log.error("authorizer %s returned an invalid context: %s", authorizer.function_id, exc)
            raise Rejected(500, "Internal Server Error") from exc

    async def _connect(self, observed: events.Observed, conn: events.WsConnection) -> dict[str, Any] | None:
        route = self.api.routes.get("$connect")
        if route is None:
            return None
        authorizer = await self._authorize(route.authorizer, observed, conn) if route.authorizer else None
        if route.function_id is None:
            return authorizer
        event = events.ws_connect_event(observed, self.identity, conn, authorizer)
        try:
            result = await self.invoke(route.function_id, event)
        except InvocationError as exc:
            log.error("$connect %s failed: %s", route.function_id, exc)
            raise Rejected(500, "Internal Server Error") from exc
        if isinstance(result, dict) and "statusCode" in result:
            status = int(result["statusCode"])
            if not 200 <= status < 300:
                body = result.get("body")
                raise Rejected(status, body if isinstance(body, str) and body else "Forbidden")
        return authorizer

    # ------------------------------------------------------------------ the ASGI endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        live = await self._open(scope, receive, send)
        if live is None:
            return
        conn = live.info
        code, reason = 1006, ""
        claimed = True  # if the registry cannot be reached, run $disconnect anyway (best effort)
        try:
            code, reason = await self._receive_loop(live, receive)
        finally:
            live.stop()
            self.connections.pop(conn.connection_id, None)
            with contextlib.suppress(Exception):
                claimed = await self.registry.remove(conn.connection_id)
        if live.close_code is not None:
            code, reason = live.close_code, live.close_reason
        if not claimed:
            # Another node took this one for dead and already ran $disconnect (its ZooKeeper session expired).
            log.info("disconnect %s (%d %s): $disconnect already ran on another node", conn.connection_id, code, reason)
            return
        log.info("disconnect %s (%d %s)", conn.connection_id, code, reason)
        self.metrics.ws_disconnect(code)
        await self._disconnect(live.info, live.authorizer, code, reason)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> LiveConnection | None:
        """$connect: the accepted connection, or None when it was refused. What only $connect needs (the
        request's headers, the authorizer's event) lives in this call, not for the connection's whole life."""
        first = await receive()
        if first["type"] != "websocket.connect":
            return None
        client = scope.get("client") or ("127.0.0.1", 0)
        observed = events.Observed(
            method="GET",
            raw_path=scope.get("path", "/ws"),
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            source_ip=client[0],
            host_header="",
            server_port=self.server_port,
        )
        conn = events.WsConnection(events.new_id(), observed.epoch_ms, observed.source_ip, observed.user_agent)
        try:
            authorizer = await self._connect(observed, conn)
        except Rejected as exc:
            # The connection id and status are logged; the query string (it carries the token) never is.
            log.info("connect %s rejected with %d", conn.connection_id, exc.status)
            self.metrics.ws_connect(str(exc.status))
            await self._reject(scope, send, exc)
            return None
        await send({"type": "websocket.accept"})
        self.metrics.ws_connect("accepted")
        live = LiveConnection(conn, send, authorizer, self.limits.outbound_queue, wire=Wire.of(send))
        self.connections[conn.connection_id] = live
        self._sweep_soon()
        await self.registry.add(
            ConnectionRecord(
                conn.connection_id,
                self.node_id,
                conn.connected_at_ms,
                conn.connected_at_ms,
                conn.source_ip,
                conn.user_agent or "",
                authorizer,
            ),
            ttl_s=self.limits.max_duration_s,
        )
        log.info("connect %s accepted (principal %s)", conn.connection_id, (authorizer or {}).get("principalId"))
        return live

    async def _reject(self, scope: Scope, send: Send, exc: Rejected) -> None:
        if "websocket.http.response" in scope.get("extensions", {}):
            body = json.dumps({"message": exc.message}).encode()
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": exc.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # servers without the denial-response extension answer 403 to a close before accept
            await send({"type": "websocket.close", "code": 1008})

    async def _receive_loop(self, live: LiveConnection, receive: Receive) -> tuple[int, str]:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return int(message.get("code", 1005)), str(message.get("reason") or "")
            if message["type"] != "websocket.receive":
                continue
            data: str | bytes | None = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
            if size > self.limits.message_bytes:
                live.close(*MESSAGE_TOO_BIG)
                continue
            if live.closing:
                continue
            live.mark_active()
            if live.last_active_mono - live.last_touch_mono > 1.0:
                live.last_touch_mono = live.last_active_mono
                self._spawn(self._touch(live), "ws-touch")
            self._spawn(self._dispatch(live, data), f"ws-message-{live.connection_id}")

    async def _touch(self, live: LiveConnection) -> None:
        with contextlib.suppress(Exception):
            await self.registry.touch(live.connection_id, live.last_active_ms)

    def _sweep_soon(self) -> None:
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name="ws-sweeper")

    async def _sweep(self) -> None:
        """API Gateway's idle timeout and maximum duration, for every socket of this node: one task looking a
        few times per limit (at most every second), rather than a sleeping task per socket. A socket is
        closed (1001 "Going away") at most one period after its limit, never before. Ends with the last socket."""
        limits = self.limits
        period = max(0.01, min(SWEEP_PERIOD_S, limits.idle_timeout_s / 4, limits.max_duration_s / 4))
        while self.connections:
            await asyncio.sleep(period)
            now = time.monotonic()
            idle_since, opened_since = now - limits.idle_timeout_s, now - limits.max_duration_s
            for live in list(self.connections.values()):
                if live.last_active_mono <= idle_since or live.connected_mono <= opened_since:
                    live.close(*GOING_AWAY)

    # ------------------------------------------------------------------ messages

    def select_route(self, body: str | bytes) -> WebSocketRoute | None:
        """Route selection on $request.body.<path>; $default when the body is not JSON or names no route."""
        key: Any = None
        if isinstance(body, str):
            try:
                key = json.loads(body)
            except (ValueError, RecursionError):
                # Not JSON, or JSON the parser cannot hold (nested past the recursion limit, an integer
                # past Python's digit limit): API Gateway routes what it cannot select on to $default.
                key = None
            for part in self._selection_path:
                key = key.get(part) if isinstance(key, dict) else None
        if isinstance(key, str) and key in self.api.routes and not key.startswith("$"):
            return self.api.routes[key]
        return self.api.routes.get("$default")

    async def _dispatch(self, live: LiveConnection, body: str | bytes) -> None:
        route = self.select_route(body)
        self.metrics.ws_message(route.route_key if route is not None else "none")
        if route is None:
            live.send_data(json.dumps({"message": "Forbidden", "connectionId": live.connection_id, "requestId": events.new_id()}))
            return
        if route.function_id is None:
            return
        event = events.ws_message_event(live.info, self.identity, route.route_key, body, live.authorizer)
        try:
            result = await within(self.invoke(route.function_id, event), route.function_id, route.timeout_s)
        except IntegrationTimeout as exc:
            log.warning("route %s: %s", route.route_key, exc)
            request_id = event["requestContext"]["requestId"]
            live.send_data(json.dumps({"message": ENDPOINT_TIMED_OUT, "connectionId": live.connection_id, "requestId": request_id}))
            return
        except InvocationError as exc:
            log.error("route %s -> %s failed: %s", route.route_key, route.function_id, exc)
            request_id = event["requestContext"]["requestId"]
            live.send_data(json.dumps({"message": "Internal server error", "connectionId": live.connection_id, "requestId": request_id}))
            return
        if route.two_way:
            frame = route_response_body(result)
            if frame is not None:
                live.send_data(frame)

    async def _disconnect(self, info: events.WsConnection, authorizer: dict[str, Any] | None, code: int, reason: str) -> None:
        route = self.api.routes.get("$disconnect")
        if route is None or route.function_id is None:
            return
        event = events.ws_disconnect_event(info, self.identity, code, reason, authorizer)
        try:
            await self.invoke(route.function_id, event)
        except InvocationError as exc:
            log.error("$disconnect %s failed: %s", route.function_id, exc)

    # ------------------------------------------------------------------ what the management API uses

    def post(self, connection_id: str, data: bytes) -> bool:
        """Send to a socket of this node; False when it is unknown here or already closing (410)."""
        return self.post_many((connection_id,), data)[0] == 1

    def post_many(self, connection_ids: Iterable[str], data: bytes) -> tuple[int, list[str], list[str]]:
        """One payload to many sockets of this node, turned into a message once for all of them.

        Returns (delivered, gone: here but closing or too slow, elsewhere: not a socket of this node)."""
        message = data_message(data)
        frame = wire_frame(message)
        now_mono, now_ms = time.monotonic(), events.now_ms()
        delivered, gone, elsewhere = 0, [], []
        connections = self.connections
        for connection_id in connection_ids:
            live = connections.get(connection_id)
            if live is None:
                elsewhere.append(connection_id)
            elif live.enqueue(message, frame):
                live.last_active_mono, live.last_active_ms = now_mono, now_ms
                delivered += 1
            else:
                gone.append(connection_id)
        return delivered, gone, elsewhere

    def close(self, connection_id: str) -> bool:
        live = self.connections.get(connection_id)
        if live is None or live.closing:
            return False
        live.close(*CLOSED_BY_API)
        return True

    async def disconnect_lost(self, record: ConnectionRecord, code: int = NODE_LOST[0], reason: str = NODE_LOST[1]) -> None:
        """Run $disconnect for a connection claimed from a node that died, through the same runtime path as ours."""
        info = events.WsConnection(record.connection_id, record.connected_at_ms, record.source_ip, record.user_agent or None)
        log.info("disconnect %s of lost node %s (%d %s)", record.connection_id, record.node_id, code, reason)
        self.metrics.ws_disconnect(code)
        await self._disconnect(info, dict(record.authorizer) if record.authorizer is not None else None, code, reason)

    def close_all(self, code: int, reason: str) -> None:
        for live in list(self.connections.values()):
            live.close(code, reason)

    async def drain(self, timeout_s: float) -> None:
        """Close every socket of this node (1001 Going away) and wait, bounded, until their clients are gone.

        Called before the server's own shutdown closes them abruptly, so that clients and $disconnect see
        API Gateway's code and reason rather than the ASGI server's."""
        self.close_all(*GOING_AWAY)
        deadline = time.monotonic() + timeout_s
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def shutdown(self) -> None:
        self.close_all(*GOING_AWAY)
        if self._sweeper is not None:
            self._sweeper.cancel()


def route_response_body(result: Any) -> str | None:
    """What a two-way route sends back: the proxy response's body, or the whole result as JSON."""
    if result is None:
        return None
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body")
        return body if isinstance(body, str) else (json.dumps(body) if body is not None else None)
    if isinstance(result, str):
        return result
    return json.dumps(result)
