"""The template reader: intrinsics, Globals, layers, env-vars file, API URL rewriting, Kafka wiring."""

from __future__ import annotations

import asyncio
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from local.emulator.app import Emulator
from local.emulator.settings import EmulatorSettings
from local.emulator.template import REPO_TEMPLATE_HINT, TemplateError, api_id_for, load_application, load_env_file
from tests.emulator.harness import ALT_TEMPLATE, HERE, TEMPLATE

KAFKA_TEMPLATE = HERE / "template-kafka.yaml"


def test_test_template_resolves() -> None:
    app = load_application(TEMPLATE, advertised_url="http://127.0.0.1:9999")
    http = app.functions["HttpFunction"]
    assert http.code_dir == (HERE / "functions" / "http").resolve()
    assert http.python_path == (http.code_dir, (HERE / "layers" / "shared" / "python").resolve())
    assert (http.timeout, http.memory_size) == (10.0, 256)
    assert app.functions["SlowFunction"].timeout == 1.0
    env = app.functions["EnvAFunction"].environment
    assert env["PROBE_NAME"] == "a" and env["GREETING"] == "hello" and env["REGION_GREETING"] == "hello-us-east-1"
    assert env["MANAGEMENT_ENDPOINT"] == "http://127.0.0.1:9999/dev"
    assert app.http_stage == "dev"
    assert {(r.method, r.path, r.payload_format) for r in app.http_routes} >= {
        ("GET", "/echo/{name}", "2.0"),
        ("ANY", "/v1/{proxy+}", "1.0"),
    }
    ws = app.websocket
    assert ws is not None and ws.stage == "dev"
    connect = ws.routes["$connect"]
    assert connect.authorizer is not None and connect.authorizer.function_id == "WsAuthorizerFunction"
    assert connect.authorizer.identity_sources == ("route.request.querystring.token",)
    assert ws.routes["echo"].two_way and not ws.routes["boom"].two_way
    assert ws.routes["echo"].function_id == "WsFunction"


def test_integration_timeouts_default_to_api_gateways_most_and_follow_timeout_in_millis() -> None:
    app = load_application(TEMPLATE)
    http = {r.path: r.timeout_s for r in app.http_routes}
    assert (http["/slow/{seconds}"], http["/hurried/{seconds}"]) == (30.0, 0.3)  # an HTTP API waits 30 s at most
    assert app.websocket is not None
    assert (app.websocket.routes["slow"].timeout_s, app.websocket.routes["hurried"].timeout_s) == (29.0, 0.3)  # a WebSocket API 29 s


@pytest.mark.parametrize(("value", "why"), [(49, "50 to 30000, not 49"), (30_001, "50 to 30000, not 30001"), ("soon", "whole number")])
def test_an_integration_timeout_outside_api_gateways_range_is_refused(tmp_path: Path, value: Any, why: str) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: x\n      Handler: app.handler\n"
        f"      Events: {{Get: {{Type: HttpApi, Properties: {{Path: /x, Method: GET, TimeoutInMillis: {value}}}}}}}\n"
    )
    with pytest.raises(TemplateError, match=f"Fn.Get: TimeoutInMillis must be .*{why}"):
        load_application(template)


def test_parameter_overrides_and_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "env.json"
    env_file.write_text('{"Parameters": {"GREETING": "hi-all"}, "EnvBFunction": {"GREETING": "hi-b", "NEW": "1"}}')
    app = load_application(TEMPLATE, parameter_overrides={"Stage": "qa"}, env_overrides=load_env_file(env_file))
    assert app.functions["EnvAFunction"].environment["GREETING"] == "hi-all"
    assert app.functions["EnvBFunction"].environment["GREETING"] == "hi-b"
    assert app.functions["EnvBFunction"].environment["NEW"] == "1"
    assert app.functions["EnvAFunction"].environment["STAGE"] == "qa"
    assert app.http_stage == "qa"


def test_websocket_url_is_rewritten_without_the_stage(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        "Resources:\n"
        "  Api: {Type: AWS::ApiGatewayV2::Api, Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}}\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: x\n      Handler: app.handler\n"
        "      Environment: {Variables: {WS: !Sub 'wss://${Api}.execute-api.${AWS::Region}.amazonaws.com/dev', EP: !GetAtt Api.ApiEndpoint,"
        " OTHER: 'https://example.com/x'}}\n"
    )
    env = load_application(template, advertised_url="http://h:1").functions["Fn"].environment
    assert env == {
        "WS": "ws://h:1/ws",
        "EP": "ws://h:1/ws",
        "OTHER": "https://example.com/x",
        # every function's SDK reaches this node's EventBridge Scheduler API
        "AWS_ENDPOINT_URL_SCHEDULER": "http://h:1/_aws/scheduler",
    }
    assert api_id_for("Api") != api_id_for("Other")


def test_bad_templates_say_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("Parameters: {Need: {Type: String}}\nResources: {}\n")
    with pytest.raises(TemplateError, match="Need"):
        load_application(bad)
    bad.write_text(
        "Resources:\n  Fn: {Type: AWS::Serverless::Function, Properties: {CodeUri: x, Handler: a.b, Layers: [arn:aws:lambda:x:1:layer:y:1]}}\n"
    )
    with pytest.raises(TemplateError, match="external layers"):
        load_application(bad)


def test_product_template_loads() -> None:
    app = load_application(REPO_TEMPLATE_HINT)
    assert app.functions and app.websocket is not None


def test_alt_template_default_routes() -> None:
    app = load_application(ALT_TEMPLATE)
    assert [r.path for r in app.http_routes] == ["$default"]
    assert app.websocket is not None and "$default" not in app.websocket.routes


class FakeMapping:
    instances: ClassVar[list[FakeMapping]] = []

    def __init__(
        self, *, function_name: str, properties: dict[str, Any], invoke: Any, bootstrap_servers: str, consumer_config: dict[str, Any]
    ) -> None:
        self.function_name, self.properties, self.invoke, self.bootstrap_servers = function_name, properties, invoke, bootstrap_servers
        self.consumer_config = consumer_config
        self.started = self.stopped = False
        FakeMapping.instances.append(self)

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True


def test_one_kafka_mapping_per_event_started_and_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_kafka_mappings(monkeypatch))


async def _kafka_mappings(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("local.emulator.kafka_esm")
    module.KafkaEventSourceMapping = FakeMapping  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "local.emulator.kafka_esm", module)
    FakeMapping.instances.clear()
    emulator = Emulator(EmulatorSettings(template=KAFKA_TEMPLATE, kafka_bootstrap="127.0.0.1:19092"))
    await emulator.startup()
    try:
        by_topic = {tuple(m.properties["Topics"]): m for m in FakeMapping.instances}
        assert set(by_topic) == {("emu.test",), ("emu.test.self",)}
        assert by_topic[("emu.test",)].bootstrap_servers == "127.0.0.1:19092"  # MSK: the emulator's option
        assert by_topic[("emu.test.self",)].bootstrap_servers == "127.0.0.1:9092"  # declared KafkaBootstrapServers
        assert by_topic[("emu.test.self",)].properties["ConsumerGroupId"] == "emu.test-group"  # intrinsics resolved
        assert all(m.started and m.function_name == "LeaderboardFunction" for m in FakeMapping.instances)
        # The node is named in each consumer's client id, so the group's description tells who owns what.
        assert all(m.consumer_config["client_id"].endswith(f"@{emulator.settings.node_id}") for m in FakeMapping.instances)
    finally:
        await emulator.shutdown()
    assert all(m.stopped for m in FakeMapping.instances)
