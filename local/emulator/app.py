"""The emulator's ASGI application: the composition root that wires template, runtime, APIs, docs and Kafka.

/ws                              WebSocket API
/@connections[/{id}]             management API (+ /{stage}/@connections[/{id}]) and its batch extension
/docs, /docs/websocket           Swagger UI (local assets) and the WebSocket protocol page
/openapi.json                    generated from the template's HTTP routes
/asyncapi.yaml, /asyncapi.json   docs/asyncapi.yaml, the WebSocket API (AsyncAPI 3.0), its local server's URL filled in
/metrics                         Prometheus metrics of this node (local/emulator/metrics.py)
/@emulator                       this node: id, URL, functions and warm workers, live connections
/play/                           the browser client (clients/web, same origin as the APIs)
/_aws/scheduler/schedules/{name} EventBridge Scheduler one-time schedules (functions reach it through
                                 AWS_ENDPOINT_URL_SCHEDULER); template Schedule rate() events run here too
everything else                  the HTTP API routes of the template (404 {"message":"Not Found"} if none)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from local.emulator import docs, events
from local.emulator.connections import InMemoryConnectionRegistry, registry_from_url
from local.emulator.discovery import ClusterNode, ZooKeeperMembership
from local.emulator.http_api import HttpApi
from local.emulator.management import ManagementApi
from local.emulator.metrics import EmulatorMetrics
from local.emulator.runtime import Runtime
from local.emulator.scheduler import ScheduleFile, Scheduler
from local.emulator.settings import EmulatorSettings
from local.emulator.template import Application, TemplateError, WebSocketApi, load_application, load_env_file
from local.emulator.websocket import WebSocketGateway

log = logging.getLogger("emulator")

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
WEB_CLIENT = Path(__file__).resolve().parents[2] / "clients" / "web"


def read_application(settings: EmulatorSettings) -> Application:
    env = load_env_file(settings.env_vars) if settings.env_vars else {}
    return load_application(
        settings.template,
        parameter_overrides=settings.parameter_overrides,
        env_overrides=env,
        region=settings.region,
        account_id=settings.account_id,
        advertised_url=settings.url,
    )


class Emulator:
    """One emulator node: what it serves and the state behind it."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.application = read_application(settings)
        self.metrics = EmulatorMetrics()
        self.runtime = Runtime(
            self.application.functions, settings.region, settings.max_concurrency, self.metrics, init_concurrency=settings.init_concurrency
        )
        self.executor = ThreadPoolExecutor(max_workers=256, thread_name_prefix="invoke")
        self._turns: dict[str, tuple[int, asyncio.Semaphore]] = {}  # per function: (its concurrency, the invocations let through)
        self.registry = registry_from_url(settings.registry_url, settings.registry_prefix)
        host = f"{settings.host}:{settings.port}"
        self.http_api = HttpApi(self.application.http_routes, self._http_identity(host), self.invoke_async, settings.port)
        ws_api = self.application.websocket or WebSocketApi("None", "none", "none", "$request.body.action", "$default", {})
        self.gateway = WebSocketGateway(
            ws_api,
            events.ApiIdentity(ws_api.api_id, ws_api.stage, host, settings.account_id),
            self.invoke_async,
            settings.limits,
            self.registry,
            settings.node_id,
            settings.port,
            settings.region,
            self.metrics,
        )
        self.cluster: ClusterNode | None = None
        if settings.zookeeper_hosts:
            membership = ZooKeeperMembership(
                settings.zookeeper_hosts, settings.zookeeper_root, settings.node_id, settings.url, settings.zookeeper_session_timeout_s
            )
            self.cluster = ClusterNode(membership, self.registry, self.gateway)
        self.management = ManagementApi(
            self.gateway,
            self.registry,
            settings.node_id,
            settings.limits.message_bytes,
            self.metrics,
            # With ZooKeeper, a node without a znode is dead: its URL is not looked up anywhere else.
            node_url=self.cluster.owner_url if self.cluster is not None else None,
        )
        self.scheduler = Scheduler(
            resolve_arn=self._function_for_arn,
            invoke=self.invoke_async,
            region=settings.region,
            account_id=settings.account_id,
            store=ScheduleFile(settings.schedule_store_path),
        )
        self.kafka_mappings: list[Any] = []
        self.metrics.watch_runtime(self.runtime.pools)
        self.metrics.watch_connections(lambda: len(self.gateway.connections))
        self.metrics.watch_kafka(lambda: list(self.kafka_mappings))
        self._reloader: threading.Thread | None = None
        self._stop_reload = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def _http_identity(self, host: str) -> events.ApiIdentity:
        return events.ApiIdentity(self.application.http_api_id, self.application.http_stage, host, self.settings.account_id)

    def _function_for_arn(self, arn: str) -> str | None:
        fn = self.application.function_by_name(arn)
        return fn.logical_id if fn else None

    async def invoke_async(self, function_id: str, event: Any) -> Any:
        """Invoke from the event loop. An invocation waits for its function's turn here, as a coroutine,
        and only then takes one of the executor's threads (which waits in the pool for a worker): with
        the threads taken by whatever the pool cannot serve yet, a backlog of one function (thousands of
        answers) would queue every other function's invocation behind it, a question's clock included.
        On Lambda each function's concurrency is its own."""
        gate = self._turns.get(function_id)
        size = self.runtime.pool(function_id).max_concurrency  # raises UnknownFunction, as invoke would
        if gate is None or gate[0] != size:  # new, or the template's concurrency changed on a reload
            gate = self._turns[function_id] = (size, asyncio.Semaphore(size))
        async with gate[1]:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, self.runtime.invoke, function_id, event)

    # ------------------------------------------------------------------ lifecycle

    async def startup(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.cluster is not None:
            if isinstance(self.registry, InMemoryConnectionRegistry):
                log.warning("ZooKeeper without a shared registry (--registry redis://...): other nodes cannot find this node's connections")
            await self.cluster.start()
        else:
            await self.registry.register_node(self.settings.node_id, self.settings.url)
        await asyncio.to_thread(self._start_kafka)
        if self.settings.warm:
            # In the background: the node serves at once, and a burst that comes early just cold-starts as usual.
            threading.Thread(target=self._prewarm, name="emulator-prewarm", daemon=True).start()
        self.scheduler.resume()
        for trigger in self.application.schedules:
            self.scheduler.start_periodic(trigger.function_id, trigger.expression, trigger.payload)
        if self.settings.reload:
            self._reloader = threading.Thread(target=self._watch, name="emulator-reload", daemon=True)
            self._reloader.start()
        log.info("emulator node %s serving %s (%d functions)", self.settings.node_id, self.settings.url, len(self.application.functions))

    async def shutdown(self) -> None:
        self._stop_reload.set()
        await self.gateway.shutdown()
        if self.cluster is not None:
            await self.cluster.stop()  # after this node's sockets are closed, so survivors find nothing to purge
        await self.scheduler.stop()
        await asyncio.to_thread(self.stop_kafka)
        self.runtime.close()
        await self.management.close()
        await self.registry.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        if self._reloader is not None:
            self._reloader.join(timeout=5)

    def _start_kafka(self) -> None:
        if not self.settings.kafka_enabled or not self.application.kafka_triggers:
            return
        from local.emulator.kafka_esm import KafkaEventSourceMapping  # kafka-python: loaded only when a template has a Kafka event

        default_bootstrap = self.settings.kafka_bootstrap
        if default_bootstrap is None:
            from local.stack import load_stack

            default_bootstrap = load_stack().kafka.bootstrap
        for trigger in self.application.kafka_triggers:
            declared = trigger.properties.get("KafkaBootstrapServers")
            bootstrap = ",".join(declared) if isinstance(declared, list) else (declared or default_bootstrap)
            mapping = KafkaEventSourceMapping(
                function_name=trigger.function_id,
                properties=dict(trigger.properties),
                invoke=self.metrics.timed_kafka_invoke(trigger.function_id, functools.partial(self.runtime.invoke, trigger.function_id)),
                bootstrap_servers=str(bootstrap),
                # The node in the client id: the group's description (kafka-consumer-groups --describe,
                # AdminClient.describe_consumer_groups) then tells which node owns which partition.
                consumer_config={"client_id": f"lambda-esm-{trigger.function_id}@{self.settings.node_id}"},
            )
            mapping.start()
            self.kafka_mappings.append(mapping)
            log.info("Kafka mapping %s.%s started on %s", trigger.function_id, trigger.event_name, bootstrap)
            if not self.settings.warm:  # --warm starts every function's workers already
                # The mapping's first batch may come when this node takes over a dead node's partitions,
                # the worst moment for a cold start (1.5 s measured on a busy machine): one worker is
                # started now, in the background, as the steady state of any consuming node has it anyway.
                pool = self.runtime.pool(trigger.function_id)
                if pool.warm == 0:
                    threading.Thread(target=pool.prewarm, args=(1,), name=f"prewarm-{trigger.function_id}", daemon=True).start()

    def _prewarm(self) -> None:
        started = time.monotonic()
        count = self.runtime.prewarm(self.settings.warm)
        log.info("pre-warmed %d workers (%d per function) in %.1fs", count, self.settings.warm, time.monotonic() - started)

    def stop_kafka(self) -> None:
        """Stop every Kafka mapping (their consumers leave the group); idempotent, called first at shutdown."""
        mappings, self.kafka_mappings = self.kafka_mappings, []
        for mapping in mappings:
            try:
                mapping.stop()
            except Exception:
                log.exception("stopping a Kafka mapping failed")

    # ------------------------------------------------------------------ reload

    def _watch(self) -> None:
        import watchfiles

        while not self._stop_reload.is_set():
            paths = {self.settings.template.resolve()}
            for fn in self.application.functions.values():
                paths.update(d for d in fn.watched_dirs if d.exists())
            generation = self.application
            for changes in watchfiles.watch(*paths, stop_event=self._stop_reload, debounce=300, step=50, raise_interrupt=False):
                changed = {Path(p).resolve() for _, p in changes}
                if self.settings.template.resolve() in changed:
                    self._reload_template()
                else:
                    self._recycle_for(changed)
                if self.application is not generation:
                    break  # the watched directories may have changed with the template

    def _recycle_for(self, changed: set[Path]) -> None:
        affected = [
            fid for fid, fn in self.application.functions.items() if any(p.is_relative_to(d) for p in changed for d in fn.watched_dirs)
        ]
        if affected:
            log.info("code changed (%s): recycling %s", ", ".join(sorted(p.name for p in changed)), ", ".join(sorted(affected)))
            self.runtime.recycle(affected)

    def _reload_template(self) -> None:
        try:
            application = read_application(self.settings)
        except (TemplateError, OSError) as exc:
            log.error("template reload failed, keeping the running version: %s", exc)
            return
        log.info("template changed: reloading %d functions", len(application.functions))
        self.runtime.replace_functions(application.functions)
        self.application = application
        host = f"{self.settings.host}:{self.settings.port}"
        self.http_api = HttpApi(application.http_routes, self._http_identity(host), self.invoke_async, self.settings.port)
        if application.websocket is not None:
            self.gateway.api = application.websocket
        if self._loop is not None and self.application.kafka_triggers != ():
            self.stop_kafka()
            self._start_kafka()

    # ------------------------------------------------------------------ endpoints

    async def http(self, request: Request) -> Response:
        http_api = self.http_api
        response = await http_api.handle(request)
        found = http_api.router.find(request.method.upper(), unquote(http_api._strip_stage(request.url.path)))
        self.metrics.http_request(found[0].route_key if found else "none", response.status_code)
        return response

    async def prometheus(self, request: Request) -> Response:
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.application.websocket is None:
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.gateway(scope, receive, send)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(docs.openapi_document(self.application, self.settings.url))

    async def swagger(self, request: Request) -> Response:
        return HTMLResponse(docs.swagger_page())

    async def asyncapi(self, request: Request) -> Response:
        """docs/asyncapi.yaml (the WebSocket API), as written or as JSON; 404 when the project has none."""
        document = docs.asyncapi_document(self.settings.docs_dir, self.settings.ws_url)
        if document is None:
            return JSONResponse({"message": "this project has no docs/asyncapi.yaml"}, status_code=404)
        if request.url.path.endswith(".json"):
            return JSONResponse(document)
        return PlainTextResponse(docs.as_yaml(document), media_type="application/yaml")

    async def swagger_init(self, request: Request) -> Response:
        return PlainTextResponse(docs.SWAGGER_INIT, media_type="application/javascript")

    async def websocket_docs(self, request: Request) -> Response:
        return HTMLResponse(docs.websocket_page(self.application, self.settings.docs_dir, self.settings.ws_url, self.settings.url))

    async def status(self, request: Request) -> Response:
        return JSONResponse(
            {
                "nodeId": self.settings.node_id,
                "url": self.settings.url,
                "websocketUrl": self.settings.ws_url,
                "functions": {fid: {"warm": self.runtime.pool(fid).warm} for fid in self.runtime.functions()},
                "connections": len(self.gateway.connections),
                "kafkaMappings": len(self.kafka_mappings),
                "cluster": self._cluster_status(),
            }
        )

    def _cluster_status(self) -> dict[str, Any] | None:
        if self.cluster is None:
            return None
        return {
            "zookeeper": self.cluster.membership.path,
            "nodes": sorted(self.cluster.live),
            "lostConnectionsDisconnected": self.cluster.lost_connections_disconnected,
            "purgesRunning": self.cluster.purges_running,
        }


class _WebSocketFirst:
    """Hands /ws to the gateway before Starlette's routing and exception layers, so the gateway gets the
    server's own `send` (which lets fan-out write frames directly, see `websocket.Wire`) and answers the
    upgrade itself (its close codes and the HTTP status of a refused upgrade are exactly what a client sees)."""

    def __init__(self, app: ASGIApp, gateway: ASGIApp) -> None:
        self.app, self.gateway = app, gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope.get("path") == "/ws":
            await self.gateway(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def create_app(settings: EmulatorSettings) -> Starlette:
    emulator = Emulator(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emulator.startup()
        try:
            yield
        finally:
            await emulator.shutdown()

    routes = [
        Route("/openapi.json", emulator.openapi, methods=["GET"]),
        Route("/asyncapi.yaml", emulator.asyncapi, methods=["GET"]),
        Route("/asyncapi.json", emulator.asyncapi, methods=["GET"]),
        Route("/docs", emulator.swagger, methods=["GET"]),
        Route("/docs/websocket", emulator.websocket_docs, methods=["GET"]),
        Route("/docs/assets/init.js", emulator.swagger_init, methods=["GET"]),
        Mount("/docs/assets", StaticFiles(directory=docs.SWAGGER_ASSETS), name="swagger-assets"),
        Route("/@emulator", emulator.status, methods=["GET"]),
        Route("/metrics", emulator.prometheus, methods=["GET"]),
        Route("/play", lambda request: RedirectResponse("/play/"), methods=["GET"]),  # relative asset URLs need the slash
        Mount("/play", StaticFiles(directory=WEB_CLIENT, html=True), name="web-client"),
        *emulator.management.routes(),
        *emulator.scheduler.routes(),
        Route("/{path:path}", emulator.http, methods=ALL_METHODS),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(_WebSocketFirst, gateway=emulator.websocket)])
    app.state.emulator = emulator
    return app
