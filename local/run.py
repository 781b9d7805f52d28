"""`make run`: the emulator on 127.0.0.1:8000 with code reload, over the services `make services` started.

    python -m local.run [--port 8000] [--env-vars local/env.json]

Prints what runs where (the services from local/stack.toml with Prometheus's and Zipkin's URLs, the
emulator's URLs), sends the functions' spans to Zipkin (OTEL_TRACES_EXPORTER=zipkin), gives the functions
the development JWT key through the template's parameters (as a deployment would pass real ones), and
serves template.yaml until Ctrl+C. Edits to a function or a layer recycle that function's workers; edits
to template.yaml reload routes and functions, without dropping WebSocket connections.

The node registers in the stack's ZooKeeper and shares the connection registry in Redis, so it is one
node of a cluster from the start: `make run-cluster` (local/cluster.py) runs two of these behind nginx.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from local.emulator.__main__ import banner
from local.emulator.settings import EmulatorSettings
from local.emulator.template import TemplateError, load_yaml
from local.services import port_open, state_dir
from local.stack import REPO, Stack, load_stack


def services_table(stack: Stack) -> str:
    rows = [
        ("PostgreSQL", stack.postgres.host, stack.postgres.port, stack.postgres.url()),
        ("Redis", stack.redis.host, stack.redis.port, stack.redis.url()),
        ("ZooKeeper", stack.zookeeper.host, stack.zookeeper.port, stack.zookeeper.hosts),
        ("Kafka", stack.kafka.host, stack.kafka.port, stack.kafka.bootstrap),
    ]
    if stack.prometheus is not None:
        rows.append(("Prometheus", stack.prometheus.host, stack.prometheus.port, f"{stack.prometheus.url}/graph  (alerts: /alerts)"))
    if stack.zipkin is not None:
        rows.append(("Zipkin", stack.zipkin.host, stack.zipkin.port, f"{stack.zipkin.url}/zipkin/  (one trace per answer)"))
    lines = ["services (local/stack.toml)"]
    for name, host, port, where in rows:
        state = "up" if port_open(host, port) else "NOT ANSWERING (make services)"
        lines.append(f"  {name:<15} {where:<55} {state}")
    return "\n".join(lines)


def dev_key_parameters(template: Path) -> dict[str, str]:
    """The development signing key for templates that take it as a parameter left empty for local runs."""
    declared = load_yaml(template).get("Parameters") or {}
    wanted = {"JwtPrivateKey": "JWT_PRIVATE_KEY", "JwtPublicKeys": "JWT_PUBLIC_KEYS"}
    if not any(name in declared and not (declared[name] or {}).get("Default") for name in wanted):
        return {}
    from local.devkeys import dev_env

    env = dev_env(state_dir())
    return {name: env[var] for name, var in wanted.items() if name in declared}


def stack_parameters(template: Path, stack: Stack) -> dict[str, str]:
    """Point the template's service parameters at the stack this launcher runs (local/stack.toml)."""
    declared = load_yaml(template).get("Parameters") or {}
    values = {
        "DatabaseUrl": stack.postgres.url(),
        "RedisUrl": stack.redis.url(),
        "KafkaBootstrapServers": stack.kafka.bootstrap,
        "ZookeeperHosts": stack.zookeeper.hosts,
    }
    values["SchedulerPrecisionSeconds"] = "0"  # the emulator's scheduler fires on the second
    return {name: value for name, value in values.items() if name in declared}


def trace_environment(stack: Stack, environ: dict[str, str]) -> dict[str, str]:
    """The OpenTelemetry variables that send the functions' spans to the stack's Zipkin, unless the caller
    chose an exporter already. The emulator passes OTEL_* on to every function's environment."""
    if stack.zipkin is None or environ.get("OTEL_TRACES_EXPORTER") or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return {}
    return {"OTEL_TRACES_EXPORTER": "zipkin", "OTEL_EXPORTER_ZIPKIN_ENDPOINT": stack.zipkin.spans_endpoint}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.run", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, default=REPO / "template.yaml")
    parser.add_argument("--port", type=int)
    parser.add_argument("--env-vars", type=Path, default=REPO / "local" / "env.json", help="used when the file exists")
    parser.add_argument("--host", help="listen address (default: local/stack.toml's, 127.0.0.1)")
    parser.add_argument(
        "--advertised-url",
        help="the URL other nodes and Prometheus reach this node at (default: http://HOST:PORT; set it when HOST is 0.0.0.0)",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="template parameters (docker-compose points the services here)",
    )
    args = parser.parse_args(argv)
    stack = load_stack()
    port = args.port or stack.emulator.port
    try:
        overrides = {**stack_parameters(args.template, stack), **dev_key_parameters(args.template)}
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for item in args.parameter_overrides:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--parameter-overrides expects NAME=VALUE, got {item!r}")
        overrides[name] = value
    settings = EmulatorSettings(
        template=args.template.resolve(),
        env_vars=args.env_vars.resolve() if args.env_vars.is_file() else None,
        parameter_overrides=overrides,
        host=args.host or stack.emulator.host,
        port=port,
        node_id=f"{socket.gethostname()}-{port}",
        advertised_url=args.advertised_url,
        # Shared through Redis so that a second node (behind nginx) sees the same connections.
        registry_url=stack.redis.url(),
        registry_prefix="quiz:emulator:",
        zookeeper_hosts=stack.zookeeper.hosts,
        zookeeper_root="/quiz/emulator",
        reload=True,
        kafka_bootstrap=stack.kafka.bootstrap,
    )
    if port_open(settings.host, port):
        print(f"error: something already listens on {settings.host}:{port} (another `make run`?)", file=sys.stderr)
        return 1
    os.environ.update(trace_environment(stack, dict(os.environ)))
    print(services_table(stack))
    print(banner(settings), flush=True)
    from local.emulator.server import serve

    try:
        serve(settings)
    except TemplateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
