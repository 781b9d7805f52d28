"""`python -m local.deploy build|package|deploy` end to end against moto (in-process, no server, no AWS account).

What moto cannot model, found in moto 5.2.5's own code and its CloudFormation coverage list:

- AWS::ApiGatewayV2::* (the HTTP API, the WebSocket API, their routes, integrations, authorizer and stages)
  have no CloudFormation model in moto: it warns "Tried to parse ... but it's not supported by moto's
  CloudFormation implementation", creates nothing and goes on. They stay in the deployed template (it is the
  real one); the test records those warnings and asserts that they name only ApiGatewayV2 types. Both stack
  outputs are built from these APIs, so moto reports no outputs and the test cannot check them.
- AWS::Lambda::EventInvokeConfig (the FanoutFunction's asynchronous retry settings) has no CloudFormation model
  in moto either: the same warning, nothing created. The translated template is checked for it instead.
- AWS::Lambda::EventSourceMapping for a self-managed Kafka cluster: moto's Lambda accepts only SQS, DynamoDB
  and Kinesis sources and requires EventSourceArn, which a SelfManagedEventSource mapping has none of; the
  error escapes CloudFormation as an unparseable response. That one resource is removed from the template
  moto deploys (`moto_deployable`), and the test checks the translated mapping itself instead.
- A function's Layers: moto's CloudFormation model of AWS::Lambda::Function ignores it on create (it keeps only
  Description, MemorySize, Publish, Timeout, VpcConfig, Environment, ReservedConcurrentExecutions; Tracing and
  Architectures are dropped too), and on update hands the LayerVersion object where an ARN belongs and fails
  (AttributeError in moto's split_layer_arn). So moto's copy of the template has no function Layers; moto
  creates the layer version itself from the S3 zip (checked by its CodeSha256), and the translated template is
  checked to give every function that layer version.

Everything else (the layer version, every function with its role, permissions, the schedule rule, S3) is
created by moto's CloudFormation from the packaged and translated template, and checked as a user would.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local import deploy
from local.emulator.template import load_yaml
from local.stack import REPO

REGION = "us-east-1"
BUCKET = "quiz-deploy-artifacts"
STACK = "quiz-test"
MOTO_UNSUPPORTED_PREFIX = ("AWS::ApiGatewayV2::", "AWS::Lambda::EventInvokeConfig")

# moto repeats its "not supported" warning for the ApiGatewayV2 resources each time it lists the stack's
# resources; deploy_to_moto records the ones the deploy raises and checks them, the repeats are noise.
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.+(ApiGatewayV2|EventInvokeConfig).+not supported by moto:UserWarning")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the template and the code it names (so a test can edit code), with its own state directory."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(REPO / "template.yaml", root / "template.yaml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "functions", root / "functions", ignore=ignore)
    shutil.copytree(REPO / "layers", root / "layers", ignore=ignore)
    monkeypatch.setenv("QUIZ_STATE_DIR", str(tmp_path / "state"))
    return root


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


def build(project: Path) -> list[deploy.Artifact]:
    return deploy.build(project / "template.yaml", with_deps=False)


def moto_deployable(cfn_template: Path) -> tuple[Path, dict[str, Any]]:
    """The translated template less what moto cannot create (see the module docstring); returns it and what was removed."""
    template = json.loads(cfn_template.read_text())
    removed = {
        lid: res
        for lid, res in template["Resources"].items()
        if res["Type"] == "AWS::Lambda::EventSourceMapping" and "SelfManagedEventSource" in res["Properties"]
    }
    for lid in removed:
        del template["Resources"][lid]
    for res in template["Resources"].values():
        if res["Type"] == "AWS::Lambda::Function":
            res["Properties"].pop("Layers", None)  # see the module docstring: moto ignores it on create, crashes on update
    target = cfn_template.with_name("packaged.moto.json")
    target.write_text(json.dumps(template, indent=1))
    return target, removed


def deploy_to_moto(template: Path) -> tuple[deploy.DeployResult, set[str]]:
    """Deploy, and return the resource types moto said it skipped."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = deploy.deploy(STACK, template_file=template, parameters={"Stage": "test"}, region=REGION, poll_s=0.05)
    skipped = set()
    for w in caught:
        text = str(w.message)
        if "not supported by moto's CloudFormation implementation" in text:
            skipped.add(text.split("Tried to parse ", 1)[1].split(" ", 1)[0])
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)  # anything else stays an error
    return result, skipped


def stack_resources(cfn: Any) -> dict[str, dict[str, Any]]:
    summaries = cfn.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    return {s["LogicalResourceId"]: s for s in summaries if s["LogicalResourceId"]}


def expected_functions(project: Path) -> dict[str, dict[str, Any]]:
    """What template.yaml declares for each AWS::Serverless::Function, with its Globals applied."""
    template = load_yaml(project / "template.yaml")
    glob = template["Globals"]["Function"]
    out = {}
    for lid, res in template["Resources"].items():
        if res["Type"] != "AWS::Serverless::Function":
            continue
        props = res["Properties"]
        env = set(glob["Environment"]["Variables"]) | set((props.get("Environment") or {}).get("Variables", {}))
        out[lid] = {
            "handler": props["Handler"],
            "runtime": props.get("Runtime", glob["Runtime"]),
            "timeout": props.get("Timeout", glob["Timeout"]),
            "env": env,
        }
    return out


def code_hashes(awslambda: Any, resources: dict[str, dict[str, Any]], names: list[str]) -> dict[str, str]:
    return {lid: awslambda.get_function(FunctionName=resources[lid]["PhysicalResourceId"])["Configuration"]["CodeSha256"] for lid in names}


def deployed_sha256(sam_template: Path, logical_id: str) -> str:
    """Lambda's CodeSha256 (base64 of the zip's sha256) of the artifact the packaged template points at."""
    res = load_yaml(sam_template)["Resources"][logical_id]["Properties"]
    uri = res.get("CodeUri") or res["ContentUri"]
    return base64.b64encode(bytes.fromhex(uri.rsplit("/", 1)[1].removesuffix(".zip"))).decode()


def s3_zip(s3: Any, uri: str) -> zipfile.ZipFile:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


def test_build_package_deploy_update(project: Path, aws: None) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    cfn = boto3.client("cloudformation", region_name=REGION)
    awslambda = boto3.client("lambda", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)

    build(project)
    first = deploy.package(BUCKET, region=REGION)
    assert first.uploaded and not first.reused
    template, removed = moto_deployable(first.cfn_template)
    result, skipped = deploy_to_moto(template)

    # The stack is up; what moto skipped is the API Gateway v2 resources and nothing else.
    assert result.status == "CREATE_COMPLETE"
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert skipped and all(t.startswith(MOTO_UNSUPPORTED_PREFIX) for t in skipped), skipped
    translated = json.loads(first.cfn_template.read_text())
    assert "Transform" not in translated
    assert skipped == {r["Type"] for r in translated["Resources"].values() if r["Type"].startswith(MOTO_UNSUPPORTED_PREFIX)}
    [invoke_config] = [r["Properties"] for r in translated["Resources"].values() if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert invoke_config["MaximumRetryAttempts"] == 0, "a late fan-out slice is stale: the next tick replaces it"

    # The Kafka trigger moto cannot create is in the template CloudFormation gets, as template.yaml declares it.
    [(_, mapping)] = removed.items()
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": "LeaderboardFunction"}
    assert props["SelfManagedEventSource"] == {"Endpoints": {"KafkaBootstrapServers": [{"Ref": "KafkaBootstrapServers"}]}}
    assert props["Topics"] == [{"Ref": "ScoresTopic"}]
    assert props["BatchSize"] == 500 and props["StartingPosition"] == "TRIM_HORIZON"
    assert {c["Type"] for c in props["SourceAccessConfigurations"]} == {"VPC_SUBNET", "VPC_SECURITY_GROUP"}

    # Every function of template.yaml exists with its handler, runtime, timeout, environment and the layer.
    resources = stack_resources(cfn)
    [layer_id] = [lid for lid, r in resources.items() if r["ResourceType"] == "AWS::Lambda::LayerVersion"]
    # moto names a layer "<stack>-<logical id>-<suffix>" whatever its LayerName says.
    [layer] = [entry for entry in awslambda.list_layers()["Layers"] if f"-{layer_id}-" in entry["LayerName"]]
    assert layer["LatestMatchingVersion"]["CompatibleRuntimes"] == ["python3.11"]
    layer_version = awslambda.get_layer_version(LayerName=layer["LayerName"], VersionNumber=layer["LatestMatchingVersion"]["Version"])
    assert layer_version["Content"]["CodeSha256"] == deployed_sha256(first.sam_template, "SharedLayer")
    # moto cannot attach a layer through CloudFormation (module docstring): the template CloudFormation gets
    # gives every function that layer version.
    expected = expected_functions(project)
    assert len(expected) == 10
    for lid, want in expected.items():
        assert resources[lid]["ResourceType"] == "AWS::Lambda::Function"
        config = awslambda.get_function(FunctionName=resources[lid]["PhysicalResourceId"])["Configuration"]
        assert config["Handler"] == want["handler"], lid
        assert config["Runtime"] == want["runtime"] == "python3.11", lid
        assert config["Timeout"] == want["timeout"], lid
        assert set(config["Environment"]["Variables"]) == want["env"], lid
        assert config["Environment"]["Variables"]["STAGE"] == "test", lid
        assert translated["Resources"][lid]["Properties"]["Layers"] == [{"Ref": layer_id}], lid

    # The zips in S3 hold each handler's module and the layer's package.
    packaged = load_yaml(first.sam_template)["Resources"]
    for lid, want in expected.items():
        module = want["handler"].rsplit(".", 1)[0] + ".py"
        names = s3_zip(s3, packaged[lid]["Properties"]["CodeUri"]).namelist()
        assert module in names and not any("__pycache__" in n for n in names), lid
    layer_names = s3_zip(s3, packaged["SharedLayer"]["Properties"]["ContentUri"]).namelist()
    assert "python/quiz/__init__.py" in layer_names

    # Packaging again with no code change sends nothing (content-addressed keys).
    objects_before = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    build(project)
    again = deploy.package(BUCKET, region=REGION)
    assert again.uploaded == []
    assert set(again.reused) == set(first.uploaded)
    assert {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]} == objects_before

    # A code change in one function updates exactly that function's code.
    before = code_hashes(awslambda, resources, list(expected))
    app = project / "functions" / "ws_connect" / "app.py"
    app.write_text(app.read_text() + "\n# a change that only WsConnectFunction ships\n")
    build(project)
    changed = deploy.package(BUCKET, region=REGION)
    assert len(changed.uploaded) == 1
    template, _ = moto_deployable(changed.cfn_template)
    updated, _ = deploy_to_moto(template)
    assert updated.status == "UPDATE_COMPLETE" and updated.changed
    after = code_hashes(awslambda, stack_resources(cfn), list(expected))
    assert {lid for lid in expected if after[lid] != before[lid]} == {"WsConnectFunction"}


def test_package_to_a_missing_bucket_says_what_to_do(project: Path, aws: None, capsys: pytest.CaptureFixture[str]) -> None:
    build(project)
    assert deploy.main(["package", "--bucket", "no-such-bucket-here", "--region", REGION]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.startswith("error: S3 bucket no-such-bucket-here does not exist: create it")
