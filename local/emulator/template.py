"""The SAM template as the emulator sees it: functions, layers, HTTP routes, WebSocket routes, Kafka triggers.

The template is read once (and again on reload), CloudFormation intrinsics are resolved against the
parameter defaults, overrides and the emulator's own identity, and the result is a frozen `Application`
that the HTTP API, the WebSocket API, the runtime and the Kafka mappings are built from.

Intrinsics resolved: Ref (parameters, pseudo parameters, resources), Fn::Sub (string and list forms),
Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::If / Fn::Equals / Fn::Not / Fn::And / Fn::Or with
Conditions, Fn::FindInMap, Fn::Base64. AWS-shaped execute-api URLs of this template's APIs found in
function environment variables are rewritten to the emulator's advertised URL, so a template that
derives the management endpoint from the WebSocket API works locally unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_TEMPLATE_HINT = Path(__file__).resolve().parents[2] / "template.yaml"
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"

_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class TemplateError(ValueError):
    """The template cannot be understood; the message names the resource and property."""


# ---------------------------------------------------------------------------- YAML with CFN tags


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type hints
    """A YAML loader that turns CloudFormation short-form tags (!Ref, !Sub ...) into their long form."""


def _construct_tag(loader: yaml.Loader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(), Loader=_CfnLoader)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or "Resources" not in data:
        raise TemplateError(f"{path}: not a CloudFormation/SAM template (no Resources)")
    return data


# ---------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Layer:
    logical_id: str
    content_dir: Path

    @property
    def python_dir(self) -> Path:
        """What Lambda puts on sys.path from a layer (/opt/python)."""
        return self.content_dir / "python"


@dataclass(frozen=True)
class Function:
    logical_id: str
    function_name: str
    code_dir: Path
    handler: str
    runtime: str
    timeout: float
    memory_size: int
    environment: Mapping[str, str]
    layers: tuple[Layer, ...]
    arn: str
    description: str = ""
    reserved_concurrency: int | None = None

    @property
    def python_path(self) -> tuple[Path, ...]:
        """The function's import path in Lambda's order: task root first, then each layer's python dir."""
        return (self.code_dir, *(layer.python_dir for layer in self.layers))

    @property
    def watched_dirs(self) -> tuple[Path, ...]:
        return (self.code_dir, *(layer.content_dir for layer in self.layers))


# API Gateway's integration timeouts (TimeoutInMillis): the most, and the default, an HTTP API waits for a Lambda
# integration, and a WebSocket API. Past it the client gets an error; the function's invocation carries on.
HTTP_INTEGRATION_TIMEOUT_MS = 30_000
WS_INTEGRATION_TIMEOUT_MS = 29_000
MIN_INTEGRATION_TIMEOUT_MS = 50


def integration_timeout_s(where: str, value: Any, most_ms: int) -> float:
    """A TimeoutInMillis from the template, in seconds (the most when unset); outside 50..most, a TemplateError."""
    if value is None:
        return most_ms / 1000
    try:
        ms = int(value)
    except (TypeError, ValueError):
        raise TemplateError(f"{where}: TimeoutInMillis must be a whole number of milliseconds, not {value!r}") from None
    if not MIN_INTEGRATION_TIMEOUT_MS <= ms <= most_ms:
        raise TemplateError(f"{where}: TimeoutInMillis must be {MIN_INTEGRATION_TIMEOUT_MS} to {most_ms}, not {ms}")
    return ms / 1000


@dataclass(frozen=True)
class HttpRoute:
    function_id: str
    api_id: str
    method: str  # upper case, "ANY" for any method
    path: str  # "/quizzes/{quiz_id}", "/{proxy+}", or "$default"
    payload_format: str  # "1.0" or "2.0"
    event_name: str
    timeout_s: float = HTTP_INTEGRATION_TIMEOUT_MS / 1000  # the event's TimeoutInMillis: then 503 Service Unavailable

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class WebSocketAuthorizer:
    logical_id: str
    function_id: str
    identity_sources: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class WebSocketRoute:
    route_key: str
    function_id: str | None  # None when the route has no Lambda integration
    authorizer: WebSocketAuthorizer | None
    two_way: bool  # a RouteResponse is declared: the integration's body goes back to the client
    logical_id: str
    timeout_s: float = WS_INTEGRATION_TIMEOUT_MS / 1000  # the integration's TimeoutInMillis: then "Endpoint request timed out"


@dataclass(frozen=True)
class WebSocketApi:
    logical_id: str
    api_id: str
    name: str
    route_selection_expression: str
    stage: str
    routes: Mapping[str, WebSocketRoute]


@dataclass(frozen=True)
class ScheduleTrigger:
    """A ``Type: Schedule`` / ``ScheduleV2`` event: the function runs on ``expression`` with ``payload``."""

    function_id: str
    event_name: str
    expression: str
    payload: Any  # the parsed Input, or None for EventBridge's "Scheduled Event"


@dataclass(frozen=True)
class KafkaTrigger:
    function_id: str
    event_name: str
    event_type: str  # "MSK" or "SelfManagedKafka"
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class Application:
    """Everything the emulator needs from one template, intrinsics resolved."""

    template_path: Path
    functions: Mapping[str, Function]
    layers: Mapping[str, Layer]
    http_routes: tuple[HttpRoute, ...]
    http_stage: str
    http_api_id: str
    websocket: WebSocketApi | None
    kafka_triggers: tuple[KafkaTrigger, ...]
    region: str
    account_id: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    schedules: tuple[ScheduleTrigger, ...] = ()
    description: str = ""  # the template's Description: the API documents take their title from it

    def function_by_name(self, name: str) -> Function | None:
        for fn in self.functions.values():
            if name in (fn.function_name, fn.logical_id, fn.arn):
                return fn
        return None


def api_id_for(logical_id: str) -> str:
    """A stable 10-character id for an API, shaped like API Gateway's."""
    return hashlib.sha1(logical_id.encode()).hexdigest()[:10]


# ---------------------------------------------------------------------------- intrinsic resolution


class _NoValue:
    pass


NO_VALUE = _NoValue()


class Resolver:
    """Resolves CloudFormation intrinsics against parameters, pseudo parameters and the template's resources."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str], region: str, account_id: str, stack_name: str) -> None:
        self.template = template
        self.resources: Mapping[str, Any] = template.get("Resources", {})
        self.mappings: Mapping[str, Any] = template.get("Mappings", {}) or {}
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.parameters = dict(parameters)
        self._conditions: dict[str, bool] = {}

    # Refs and attributes -------------------------------------------------

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(f"!Ref {name}: no such parameter or resource")
        rtype = resource.get("Type", "")
        if rtype in ("AWS::ApiGatewayV2::Api", "AWS::Serverless::HttpApi", "AWS::Serverless::Api"):
            return api_id_for(name)
        if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            return self.function_name(name)
        if rtype == "AWS::Serverless::LayerVersion":
            return f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{name}:1"
        # Routes, integrations, authorizers, stages...: the logical id stands in for the physical id.
        return name

    def function_name(self, logical_id: str) -> str:
        props = self.resources[logical_id].get("Properties", {}) or {}
        name = props.get("FunctionName")
        return str(self.resolve(name)) if name is not None else logical_id

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        rtype = resource.get("Type", "")
        if rtype in ("AWS::Serverless::Function", "AWS::Lambda::Function") and attribute == "Arn":
            return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name(logical_id)}"
        if rtype == "AWS::ApiGatewayV2::Api" and attribute == "ApiEndpoint":
            props = resource.get("Properties", {}) or {}
            scheme = "wss" if props.get("ProtocolType") == "WEBSOCKET" else "https"
            return f"{scheme}://{api_id_for(logical_id)}.execute-api.{self.region}.amazonaws.com"
        if attribute in ("ApiId", "Id"):
            return api_id_for(logical_id)
        if attribute == "Arn":
            return f"arn:aws:local:{self.region}:{self.account_id}:{logical_id}"
        return f"{logical_id}.{attribute}"

    # Conditions ------------------------------------------------------------

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions", {}) or {}
            if name not in conditions:
                raise TemplateError(f"Condition {name}: not declared")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    # The resolver ---------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg))
            if key == "Condition" and isinstance(arg, str):
                return self.condition(arg)
            if key.startswith("Fn::"):
                return self._fn(key[4:], arg)
        out = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _fn(self, name: str, arg: Any) -> Any:
        if name == "Sub":
            return self._sub(arg)
        if name == "GetAtt":
            parts = arg.split(".", 1) if isinstance(arg, str) else [self.resolve(a) for a in arg]
            return self.get_att(str(parts[0]), str(parts[1]))
        if name == "Join":
            sep, items = arg
            return str(self.resolve(sep)).join(str(i) for i in self.resolve(items))
        if name == "Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if name == "Split":
            sep, text = arg
            return str(self.resolve(text)).split(str(self.resolve(sep)))
        if name == "If":
            cond, then, other = arg
            return self.resolve(then) if self.condition(cond) else self.resolve(other)
        if name == "Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "And":
            return all(self.resolve(a) for a in arg)
        if name == "Or":
            return any(self.resolve(a) for a in arg)
        if name == "FindInMap":
            mapping, top, second = (self.resolve(a) for a in arg)
            return self.mappings[mapping][top][second]
        if name == "Base64":
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if name == "GetAZs":
            return [f"{self.region}{z}" for z in "abc"]
        if name == "ImportValue":
            raise TemplateError(f"Fn::ImportValue {arg!r}: cross-stack imports cannot be resolved locally; pass the value as a parameter")
        raise TemplateError(f"Fn::{name}: not supported by the local emulator")

    _SUB = re.compile(r"\$\{([^}]+)\}")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(name))

        return self._SUB.sub(replace, str(text))


# ---------------------------------------------------------------------------- building the Application


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _target_id(target: str) -> str:
    """'integrations/WsConnectIntegration' -> 'WsConnectIntegration'."""
    return target.rsplit("/", 1)[-1]


_FUNCTION_IN_URI = re.compile(r"functions/(arn:[^/]+)/invocations")


def _function_from_uri(app_functions: Mapping[str, Function], uri: str, where: str) -> str:
    match = _FUNCTION_IN_URI.search(uri)
    name = match.group(1) if match else uri
    for fn in app_functions.values():
        if name in (fn.arn, fn.function_name, fn.logical_id):
            return fn.logical_id
    raise TemplateError(f"{where}: integration URI {uri!r} names no function of this template")


def load_application(
    template_path: Path,
    *,
    parameter_overrides: Mapping[str, str] | None = None,
    env_overrides: Mapping[str, Mapping[str, str]] | None = None,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT,
    advertised_url: str = "http://127.0.0.1:8000",
) -> Application:
    """Read a SAM template and resolve it into an `Application`.

    `env_overrides` has the SAM CLI `--env-vars` shape: {"FunctionLogicalId": {...}, "Parameters": {...}};
    "Parameters" applies to every function, a logical id's entry to that function (and wins).
    """
    template_path = template_path.resolve()
    base = template_path.parent
    raw = load_yaml(template_path)
    params: dict[str, str] = {}
    for name, spec in (raw.get("Parameters") or {}).items():
        if "Default" in (spec or {}):
            default = spec["Default"]
            params[name] = ",".join(map(str, default)) if isinstance(default, list) else str(default)
    params.update(parameter_overrides or {})
    missing = [n for n in (raw.get("Parameters") or {}) if n not in params]
    if missing:
        raise TemplateError(f"parameters without a Default need a value (--parameter-overrides): {', '.join(missing)}")

    resolver = Resolver(raw, params, region, account_id, stack_name=template_path.stem)
    resources: dict[str, Any] = raw["Resources"]
    globals_fn: dict[str, Any] = resolver.resolve((raw.get("Globals") or {}).get("Function", {}) or {})
    env_overrides = env_overrides or {}
    api_rewrites = _api_url_rewrites(resources, resolver, advertised_url)

    def included(res: Mapping[str, Any]) -> bool:
        cond = res.get("Condition")
        return cond is None or resolver.condition(cond)

    layers: dict[str, Layer] = {}
    for lid, res in resources.items():
        if res.get("Type") in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion") and included(res):
            props = resolver.resolve(res.get("Properties", {}) or {})
            content = props.get("ContentUri") or (props.get("Content") or {}).get("S3Key")
            if not isinstance(content, str):
                raise TemplateError(f"{lid}: ContentUri must be a local directory for the emulator")
            layers[lid] = Layer(lid, (base / content).resolve())

    layer_arns = {resolver.ref(lid): lid for lid in layers}

    functions: dict[str, Function] = {}
    http_routes: list[HttpRoute] = []
    kafka: list[KafkaTrigger] = []
    schedules: list[ScheduleTrigger] = []
    for lid, res in resources.items():
        if res.get("Type") != "AWS::Serverless::Function" or not included(res):
            continue
        props = resolver.resolve(res.get("Properties", {}) or {})
        merged = {**globals_fn, **props}
        env_vars = {
            **((globals_fn.get("Environment") or {}).get("Variables") or {}),
            **((props.get("Environment") or {}).get("Variables") or {}),
        }
        env = {k: _env_value(v, api_rewrites) for k, v in env_vars.items()}
        # SDK clients in the function reach this node's EventBridge Scheduler API (boto3 reads
        # AWS_ENDPOINT_URL_<SERVICE>); a template or env file that sets it wins.
        env.setdefault("AWS_ENDPOINT_URL_SCHEDULER", advertised_url.rstrip("/") + "/_aws/scheduler")
        env.update({k: str(v) for k, v in (env_overrides.get("Parameters") or {}).items()})
        env.update({k: str(v) for k, v in (env_overrides.get(lid) or {}).items()})
        code_uri = merged.get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{lid}: CodeUri must be a local directory for the emulator")
        if "Handler" not in merged:
            raise TemplateError(f"{lid}: Handler is required")
        fn_layers: list[Layer] = []
        for ref in _as_list(globals_fn.get("Layers")) + [
            x for x in _as_list(props.get("Layers")) if x not in _as_list(globals_fn.get("Layers"))
        ]:
            layer_id = layer_arns.get(ref)
            if layer_id is None:
                raise TemplateError(
                    f"{lid}: layer {ref!r} is not a LayerVersion of this template (external layers cannot be loaded locally)"
                )
            fn_layers.append(layers[layer_id])
        name = resolver.function_name(lid)
        functions[lid] = Function(
            logical_id=lid,
            function_name=name,
            code_dir=(base / code_uri).resolve(),
            handler=str(merged["Handler"]),
            runtime=str(merged.get("Runtime", "python3.11")),
            timeout=float(merged.get("Timeout", 3)),
            memory_size=int(merged.get("MemorySize", 128)),
            environment=env,
            layers=tuple(fn_layers),
            arn=f"arn:aws:lambda:{region}:{account_id}:function:{name}",
            description=str(merged.get("Description", "") or ""),
            reserved_concurrency=int(merged["ReservedConcurrentExecutions"]) if "ReservedConcurrentExecutions" in merged else None,
        )
        for event_name, event in (props.get("Events") or {}).items():
            etype = event.get("Type")
            eprops = event.get("Properties") or {}
            if etype == "HttpApi":
                http_routes.append(_http_route(lid, event_name, eprops, resources))
            elif etype in ("MSK", "SelfManagedKafka"):
                kafka.append(KafkaTrigger(lid, event_name, etype, eprops))
            elif etype in ("Schedule", "ScheduleV2"):
                expression = eprops.get("Schedule") or eprops.get("ScheduleExpression")
                raw_input = eprops.get("Input")
                payload = json.loads(raw_input) if isinstance(raw_input, str) and raw_input else None
                if isinstance(expression, str) and eprops.get("Enabled", True) is not False and eprops.get("State") != "DISABLED":
                    schedules.append(ScheduleTrigger(lid, event_name, expression, payload))

    http_api_lid = next((lid for lid, r in resources.items() if r.get("Type") == "AWS::Serverless::HttpApi"), "ServerlessHttpApi")
    http_stage = "$default"
    if http_api_lid in resources:
        stage_name = resolver.resolve((resources[http_api_lid].get("Properties") or {}).get("StageName"))
        http_stage = str(stage_name) if stage_name else "$default"

    return Application(
        template_path=template_path,
        functions=functions,
        layers=layers,
        http_routes=tuple(http_routes),
        http_stage=http_stage,
        http_api_id=api_id_for(http_api_lid),
        websocket=_websocket_api(resources, resolver, functions),
        kafka_triggers=tuple(kafka),
        schedules=tuple(schedules),
        region=region,
        account_id=account_id,
        parameters=params,
        description=str(raw.get("Description") or ""),
    )


def _env_value(value: Any, rewrites: Mapping[str, str]) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value)
    else:
        text = str(value)
    for pattern, local in rewrites.items():
        text = re.sub(pattern, local, text)
    return text


def _api_url_rewrites(resources: Mapping[str, Any], resolver: Resolver, advertised_url: str) -> dict[str, str]:
    """AWS execute-api URL prefixes of this template's APIs -> the emulator's URLs."""
    rewrites: dict[str, str] = {}
    advertised = advertised_url.rstrip("/")
    ws_url = re.sub(r"^http", "ws", advertised) + "/ws"
    for lid, res in resources.items():
        if res.get("Type") not in ("AWS::ApiGatewayV2::Api", "AWS::Serverless::HttpApi"):
            continue
        host = f"{api_id_for(lid)}.execute-api.{resolver.region}.amazonaws.com"
        # The management API lives under https://{api}/{stage}; the emulator serves it under /{stage} too.
        rewrites[rf"^https://{re.escape(host)}"] = advertised.replace("\\", "\\\\")
        # The WebSocket URL's stage path has no local meaning: every stage is served at /ws.
        rewrites[rf"^wss://{re.escape(host)}(/[^/?#]*)?"] = ws_url.replace("\\", "\\\\")
    return rewrites


def _http_route(function_id: str, event_name: str, props: Mapping[str, Any], resources: Mapping[str, Any]) -> HttpRoute:
    path = props.get("Path")
    method = str(props.get("Method", "ANY")).upper()
    if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
        method = "ANY"
    if method != "ANY" and method not in _HTTP_METHODS:
        raise TemplateError(f"{function_id}.{event_name}: unsupported Method {method}")
    api = props.get("ApiId")
    api_lid = str(api) if api else "ServerlessHttpApi"
    # Ref of an HttpApi resolves to its id; map it back to the logical id for the route's owner.
    for lid in resources:
        if api_id_for(lid) == api_lid:
            api_lid = lid
    return HttpRoute(
        function_id=function_id,
        api_id=api_id_for(api_lid),
        method=method,
        path=str(path) if path else "$default",
        payload_format=str(props.get("PayloadFormatVersion", "2.0")),
        event_name=event_name,
        timeout_s=integration_timeout_s(f"{function_id}.{event_name}", props.get("TimeoutInMillis"), HTTP_INTEGRATION_TIMEOUT_MS),
    )


def _websocket_api(resources: Mapping[str, Any], resolver: Resolver, functions: Mapping[str, Function]) -> WebSocketApi | None:
    apis = [
        lid
        for lid, r in resources.items()
        if r.get("Type") == "AWS::ApiGatewayV2::Api" and (r.get("Properties") or {}).get("ProtocolType") == "WEBSOCKET"
    ]
    if not apis:
        return None
    if len(apis) > 1:
        raise TemplateError(f"the emulator serves one WebSocket API; the template declares {', '.join(apis)}")
    api_lid = apis[0]
    api_id = api_id_for(api_lid)
    api_props = resolver.resolve(resources[api_lid].get("Properties") or {})

    def of_api(rtype: str) -> dict[str, dict[str, Any]]:
        out = {}
        for lid, r in resources.items():
            if r.get("Type") == rtype:
                props = resolver.resolve(r.get("Properties") or {})
                if props.get("ApiId") == api_id:
                    out[lid] = props
        return out

    lambda_integrations = {lid: p for lid, p in of_api("AWS::ApiGatewayV2::Integration").items() if p.get("IntegrationType") == "AWS_PROXY"}
    integrations = {lid: _function_from_uri(functions, str(p.get("IntegrationUri", "")), lid) for lid, p in lambda_integrations.items()}
    timeouts = {
        lid: integration_timeout_s(lid, p.get("TimeoutInMillis"), WS_INTEGRATION_TIMEOUT_MS) for lid, p in lambda_integrations.items()
    }
    authorizers = {
        lid: WebSocketAuthorizer(
            logical_id=lid,
            function_id=_function_from_uri(functions, str(p.get("AuthorizerUri", "")), lid),
            identity_sources=tuple(_as_list(p.get("IdentitySource"))),
            name=str(p.get("Name", lid)),
        )
        for lid, p in of_api("AWS::ApiGatewayV2::Authorizer").items()
        if p.get("AuthorizerType", "REQUEST") == "REQUEST"
    }
    route_responses = {str(p.get("RouteId")) for p in of_api("AWS::ApiGatewayV2::RouteResponse").values()}
    routes: dict[str, WebSocketRoute] = {}
    for lid, p in of_api("AWS::ApiGatewayV2::Route").items():
        key = str(p["RouteKey"])
        target = p.get("Target")
        integration = _target_id(str(target)) if target else ""  # "": no integration, API Gateway's default timeout
        function_id = integrations.get(integration)
        if target and function_id is None:
            raise TemplateError(f"{lid}: Target {target!r} is not an AWS_PROXY integration of this API")
        authorizer = None
        if p.get("AuthorizationType") == "CUSTOM":
            authorizer = authorizers.get(str(p.get("AuthorizerId")))
            if authorizer is None:
                raise TemplateError(f"{lid}: AuthorizerId {p.get('AuthorizerId')!r} is not a REQUEST authorizer of this API")
        routes[key] = WebSocketRoute(
            key,
            function_id,
            authorizer,
            two_way=lid in route_responses,
            logical_id=lid,
            timeout_s=timeouts.get(integration, WS_INTEGRATION_TIMEOUT_MS / 1000),
        )

    stage = "$default"
    for p in of_api("AWS::ApiGatewayV2::Stage").values():
        stage = str(p.get("StageName", stage))
    return WebSocketApi(
        logical_id=api_lid,
        api_id=api_id,
        name=str(api_props.get("Name", api_lid)),
        route_selection_expression=str(api_props.get("RouteSelectionExpression", "$request.body.action")),
        stage=stage,
        routes=routes,
    )


def load_env_file(path: Path) -> dict[str, dict[str, str]]:
    """A SAM CLI `--env-vars` JSON file: {"FunctionLogicalId": {"VAR": "v"}, "Parameters": {"VAR": "v"}}."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read the env-vars file: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise TemplateError(f'{path}: expected {{"FunctionLogicalId": {{"VAR": "value"}}, "Parameters": {{...}}}}')
    return {str(k): {str(n): str(v) for n, v in vars_.items()} for k, vars_ in data.items()}
