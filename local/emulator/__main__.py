"""python -m local.emulator --template template.yaml --port 8000 [--env-vars local/env.json] [--reload]"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path

from local.emulator.settings import EmulatorSettings, WebSocketLimits
from local.emulator.template import TemplateError


def parse_args(argv: list[str] | None = None) -> EmulatorSettings:
    defaults = WebSocketLimits()
    p = argparse.ArgumentParser(prog="python -m local.emulator", description="Local API Gateway (HTTP + WebSocket) and Lambda emulator.")
    p.add_argument("--template", type=Path, default=Path("template.yaml"), help="SAM template (default: template.yaml)")
    p.add_argument("--env-vars", type=Path, help='SAM CLI style env file: {"FunctionLogicalId": {...}, "Parameters": {...}}')
    p.add_argument(
        "--parameter-overrides",
        nargs="*",
        action="extend",
        default=[],
        metavar="NAME=VALUE",
        help="template parameter values (may be repeated)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--node-id", help="this node's id in the connection registry (default: hostname-port)")
    p.add_argument("--advertised-url", help="how functions and other nodes reach this node (default: http://host:port)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--registry", default="memory", help="connection registry: 'memory' or a redis:// URL shared by nodes")
    p.add_argument("--registry-prefix", default="emulator:", help="key prefix of the Redis registry")
    p.add_argument(
        "--zookeeper", metavar="HOSTS", help="ZooKeeper hosts (host:port,...): register this node, find owners, purge lost nodes"
    )
    p.add_argument("--zookeeper-root", default="/quiz/emulator", help="znode under which nodes register (default: /quiz/emulator)")
    p.add_argument(
        "--zookeeper-session-timeout", type=float, default=10.0, help="seconds before a dead node's znode vanishes (default: 10)"
    )
    p.add_argument("--max-concurrency", type=int, default=4, help="workers per function unless the template reserves concurrency")
    p.add_argument(
        "--init-concurrency",
        type=int,
        help="workers of all functions that may cold-start at once; the rest queue (default: the CPU count, at least 2)",
    )
    p.add_argument(
        "--warm",
        type=int,
        default=0,
        metavar="N",
        help="start N workers per function at start-up, in the background, like provisioned concurrency (default: 0, on demand)",
    )
    p.add_argument(
        "--kafka-bootstrap", help="bootstrap servers for Kafka triggers without KafkaBootstrapServers (default: local/stack.toml)"
    )
    p.add_argument("--no-kafka", action="store_true", help="do not start the Kafka event source mappings")
    p.add_argument(
        "--reload", action="store_true", help="recycle a function's workers when its code or a layer changes; reload the template"
    )
    p.add_argument("--idle-timeout", type=float, default=defaults.idle_timeout_s, help="WebSocket idle timeout, seconds")
    p.add_argument("--max-duration", type=float, default=defaults.max_duration_s, help="WebSocket maximum connection duration, seconds")
    p.add_argument("--frame-limit", type=int, default=defaults.frame_bytes, help="WebSocket frame size limit, bytes")
    p.add_argument("--message-limit", type=int, default=defaults.message_bytes, help="WebSocket message size limit, bytes")
    a = p.parse_args(argv)
    overrides = {}
    for item in a.parameter_overrides:
        name, sep, value = item.partition("=")
        if not sep:
            p.error(f"--parameter-overrides expects NAME=VALUE, got {item!r}")
        overrides[name] = value
    return EmulatorSettings(
        template=a.template.resolve(),
        env_vars=a.env_vars.resolve() if a.env_vars else None,
        parameter_overrides=overrides,
        host=a.host,
        port=a.port,
        node_id=a.node_id or f"{socket.gethostname()}-{a.port}",
        advertised_url=a.advertised_url,
        region=a.region,
        limits=WebSocketLimits(a.idle_timeout, a.max_duration, a.frame_limit, a.message_limit),
        registry_url=a.registry,
        registry_prefix=a.registry_prefix,
        zookeeper_hosts=a.zookeeper,
        zookeeper_root=a.zookeeper_root.rstrip("/") or "/",
        zookeeper_session_timeout_s=a.zookeeper_session_timeout,
        max_concurrency=a.max_concurrency,
        init_concurrency=a.init_concurrency,
        warm=max(0, a.warm),
        reload=a.reload,
        kafka_bootstrap=a.kafka_bootstrap,
        kafka_enabled=not a.no_kafka,
    )


def banner(settings: EmulatorSettings) -> str:
    cluster = (
        f"ZooKeeper {settings.zookeeper_hosts} {settings.zookeeper_root}/nodes/{settings.node_id}"
        if settings.zookeeper_hosts
        else "single node (no ZooKeeper)"
    )
    return "\n".join(
        [
            f"emulator node {settings.node_id} ({settings.template})",
            f"  HTTP API        {settings.url}/",
            f"  WebSocket API   {settings.ws_url}?token=<access token>",
            f"  management API  {settings.url}/@connections/{{connectionId}}  (also under /{{stage}}/@connections)",
            f"  Swagger UI      {settings.url}/docs   OpenAPI {settings.url}/openapi.json",
            f"  WebSocket docs  {settings.url}/docs/websocket   AsyncAPI {settings.url}/asyncapi.yaml",
            f"  metrics         {settings.url}/metrics",
            f"  cluster         {cluster}",
            f"  reload          {'on' if settings.reload else 'off'}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    from local.emulator.server import serve

    print(banner(settings), flush=True)
    try:
        serve(settings)
    except TemplateError as exc:
        logging.getLogger("emulator").error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
