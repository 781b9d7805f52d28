"""The files a user deploys or runs with Docker agree with the native launcher's configuration."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from local.stack import REPO, Stack, load_stack

COMPOSE = REPO / "docker-compose.yml"
TEMPLATE = REPO / "template.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict), "docker-compose.yml must parse to a mapping with services"
    return doc


def published(service: dict[str, Any]) -> dict[int, tuple[str, int]]:
    """container port -> (host address, host port) from compose's short port syntax."""
    out = {}
    for spec in service.get("ports", []):
        host_ip, host_port, container_port = str(spec).rsplit(":", 2) if str(spec).count(":") == 2 else ("0.0.0.0", *str(spec).split(":"))
        out[int(container_port)] = (host_ip, int(host_port))
    return out


def test_compose_has_the_seed_services(compose: dict[str, Any]) -> None:
    expected = {"postgres", "redis", "zookeeper", "kafka", "emulator", "prometheus", "grafana", "zipkin"}
    assert expected <= set(compose["services"])


@pytest.mark.parametrize("name", ["postgres", "redis", "zookeeper", "kafka", "emulator", "prometheus", "zipkin"])
def test_compose_ports_match_the_launcher_on_loopback(compose: dict[str, Any], stack: Stack, name: str) -> None:
    port = getattr(stack, name).port
    ports = published(compose["services"][name])
    assert ports.get(port) == ("127.0.0.1", port), f"{name} must publish 127.0.0.1:{port}:{port} like local/stack.toml"


def test_every_published_port_is_loopback_only(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for host_ip, _ in published(svc).values():
            assert host_ip == "127.0.0.1", f"{name} publishes on {host_ip}"


def test_compose_postgres_credentials_match_the_seed(compose: dict[str, Any], stack: Stack) -> None:
    env = compose["services"]["postgres"]["environment"]
    assert (env["POSTGRES_USER"], str(env["POSTGRES_PASSWORD"]), env["POSTGRES_DB"]) == (
        stack.postgres.user,
        stack.postgres.password,
        stack.postgres.database,
    )


def test_the_emulator_container_reads_a_stack_file_that_matches_compose(compose: dict[str, Any], stack: Stack) -> None:
    emulator = compose["services"]["emulator"]
    inside = load_stack(REPO / emulator["environment"]["QUIZ_STACK_FILE"])
    services = compose["services"]
    assert inside.postgres.host == "postgres" and inside.postgres.port == stack.postgres.port
    assert (inside.postgres.user, inside.postgres.password, inside.postgres.database) == (
        stack.postgres.user,
        stack.postgres.password,
        stack.postgres.database,
    )
    assert (inside.redis.host, inside.zookeeper.host, inside.kafka.host) == ("redis", "zookeeper", "kafka")
    assert f"INTERNAL://kafka:{inside.kafka.port}" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert inside.kafka.topics == stack.kafka.topics
    assert inside.emulator.port == stack.emulator.port and str(stack.emulator.port) in emulator["command"]
    assert emulator["command"][:3] == ["python", "-m", "local.run"], "the same entry point as `make run`"


def test_compose_creates_the_same_topics(compose: dict[str, Any], stack: Stack) -> None:
    script = " ".join(compose["services"]["kafka-init"]["command"])
    created = dict(re.findall(r"--topic (\S+) --partitions (\d+)", script))
    assert {name: int(n) for name, n in created.items()} == {t.name: t.partitions for t in stack.kafka.topics}


def test_compose_mounts_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts {source}, which is not in the repo"


def test_template_passes_cfn_lint() -> None:
    done = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), str(TEMPLATE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_template_function_code_exists() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load(TEMPLATE.read_text(), Loader=Loader)
    for logical_id, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            props = res["Properties"]
            module, _, func = props["Handler"].rpartition(".")
            source = Path(REPO, props["CodeUri"], *module.split(".")).with_suffix(".py")
            assert source.exists(), f"{logical_id}: {source} missing"
            assert re.search(rf"^(def {func}\b|{func}\s*=)", source.read_text(), re.M), f"{logical_id}: no {func} in {source}"
