"""Build, package and deploy template.yaml to AWS with boto3: what `sam build && sam package && sam deploy` do.

    python -m local.deploy build   [--no-deps]
    python -m local.deploy package --bucket BUCKET
    python -m local.deploy deploy  --stack-name NAME [--parameter-overrides K=V ...]

build    zips each AWS::Serverless::Function's CodeUri and the python3.11 layer (its ContentUri plus the
         runtime dependencies of requirements.txt, installed by pip for Lambda's platform and cached under
         .state/deploy/deps/ by the requirements file's hash). Zips are deterministic (sorted entries, fixed
         timestamps and modes), so unchanged code gives the same bytes and the same hash.
package  uploads the zips to S3 under content-addressed keys (an object already there is not sent again),
         writes the packaged SAM template (CodeUri/ContentUri -> s3:// URIs) and translates it with
         aws-sam-translator into plain CloudFormation, so the stack needs no Transform.
deploy   creates or updates the stack through a change set, waits, prints the outputs. A failure is one
         line: what went wrong (the first failed resource and its reason) and what to do.

The state lives under .state/deploy/ (``$QUIZ_STATE_DIR/deploy``). tests/integration/test_deploy_moto.py runs
all three steps against moto.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, WaiterError
from tqdm import tqdm

from local.emulator.template import TemplateError, load_yaml
from local.services import state_dir
from local.stack import REPO

DEFAULT_TEMPLATE = REPO / "template.yaml"
DEFAULT_REQUIREMENTS = REPO / "requirements.txt"
DEFAULT_CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")
# CloudFormation refuses a TemplateBody over 51,200 bytes; a larger template must come from S3.
TEMPLATE_BODY_LIMIT = 51_200
# Every entry of a zip gets this timestamp (the earliest a zip can hold), so the bytes depend on content only.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
LAMBDA_PIP_FLAGS = ("--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.11", "--only-binary=:all:")
_EXCLUDED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_EXCLUDED_SUFFIXES = {".pyc", ".pyo"}

# AWS-managed policies the translator may have to name beyond the map it bundles. SAM looks unknown names up
# in IAM (ListPolicies); a static map keeps the translation offline and reproducible.
STATIC_MANAGED_POLICIES = {
    name: f"arn:aws:iam::aws:policy/{path}"
    for name, path in {
        "AWSLambdaBasicExecutionRole": "service-role/AWSLambdaBasicExecutionRole",
        "AWSLambdaVPCAccessExecutionRole": "service-role/AWSLambdaVPCAccessExecutionRole",
        "AWSLambdaMSKExecutionRole": "service-role/AWSLambdaMSKExecutionRole",
        "AWSXrayWriteOnlyAccess": "AWSXrayWriteOnlyAccess",
        "AWSXRayDaemonWriteAccess": "AWSXRayDaemonWriteAccess",
    }.items()
}


class DeployError(Exception):
    """A step cannot go on; the message is one line saying what happened and what to do."""


def deploy_dir() -> Path:
    return state_dir() / "deploy"


# ---------------------------------------------------------------------------- build


def _included(path: Path, root: Path) -> bool:
    rel = path.relative_to(root)
    return not any(part in _EXCLUDED_DIRS for part in rel.parts) and path.suffix not in _EXCLUDED_SUFFIXES


def _tree(root: Path, prefix: str = "") -> dict[str, Path]:
    """Archive name -> file for every file under root worth shipping (no caches, no bytecode)."""
    return {prefix + p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file() and _included(p, root)}


def write_zip(entries: dict[str, Path], target: Path, *, label: str = "") -> str:
    """Write a deterministic zip of entries (archive name -> file) and return its sha256 (hex).

    Sorted names, a fixed timestamp, fixed permissions (0755 for executables, 0644 otherwise) and a fixed
    compression level: the same files always give the same bytes, whatever their mtimes or the walk order.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in tqdm(sorted(entries), desc=f"zip {label or target.name}", unit="file", disable=None, leave=False):
            path = entries[name]
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.create_system = 3  # Unix, so the modes above are honoured when unpacked
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    tmp.replace(target)
    return sha256_file(target)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def install_dependencies(requirements: Path, cache: Path) -> Path:
    """pip-install requirements for Lambda's platform into cache/<hash>/python, once per requirements file content."""
    key = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    done = cache / key
    if (done / "python").is_dir():
        return done / "python"
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=cache))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"]
    cmd += ["--target", str(work / "python"), *LAMBDA_PIP_FLAGS, "-r", str(requirements)]
    log = work / "pip.log"
    with (
        log.open("w") as sink,
        tqdm(total=None, desc=f"pip install -r {requirements.name} (Lambda platform)", bar_format="{desc}: {elapsed}", disable=None) as bar,
    ):
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            time.sleep(0.5)
            bar.update(0)
    output = log.read_text(errors="replace")
    if proc.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        last = next((line for line in reversed(output.splitlines()) if line.strip()), "no output")
        raise DeployError(f"pip could not install {requirements} for Lambda (manylinux2014_x86_64, cp311): {last}")
    log.unlink()
    shutil.rmtree(done, ignore_errors=True)
    work.rename(done)
    return done / "python"


@dataclass(frozen=True)
class Artifact:
    """One zip of the build: a function's code or a layer's content, named by its resource's logical id."""

    logical_id: str
    resource_type: str
    zip_path: Path
    sha256: str


def _serverless(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {lid: res for lid, res in template["Resources"].items() if isinstance(res, dict) and res.get("Type") == resource_type}


def _local_dir(template_dir: Path, uri: Any, logical_id: str, prop: str) -> Path:
    if not isinstance(uri, str) or uri.startswith("s3://"):
        raise DeployError(f"{logical_id}.{prop} must be a local directory to build (it is {uri!r})")
    path = (template_dir / uri).resolve()
    if not path.is_dir():
        raise DeployError(f"{logical_id}.{prop}: {path} is not a directory")
    return path


def build(
    template_path: Path = DEFAULT_TEMPLATE,
    build_dir: Path | None = None,
    *,
    requirements: Path = DEFAULT_REQUIREMENTS,
    with_deps: bool = True,
    deps_cache: Path | None = None,
) -> list[Artifact]:
    """Zip every function and layer of the template into build_dir and write build_dir/manifest.json."""
    build_dir = build_dir or deploy_dir() / "build"
    template = _load_template(template_path)
    base = template_path.resolve().parent
    artifacts: list[Artifact] = []

    for lid, res in _serverless(template, "AWS::Serverless::LayerVersion").items():
        method = str((res.get("Metadata") or {}).get("BuildMethod", ""))
        if method and not method.startswith("python3"):
            raise DeployError(f"{lid}: BuildMethod {method} is not supported (only python3.x layers are built)")
        content = _local_dir(base, res.get("Properties", {}).get("ContentUri"), lid, "ContentUri")
        entries: dict[str, Path] = {}
        if with_deps:
            entries.update(_tree(install_dependencies(requirements, deps_cache or deploy_dir() / "deps"), "python/"))
        entries.update(_tree(content))  # the layer's own package wins over a dependency of the same name
        zip_path = build_dir / f"{lid}.zip"
        artifacts.append(Artifact(lid, res["Type"], zip_path, write_zip(entries, zip_path, label=lid)))

    globals_code = ((template.get("Globals") or {}).get("Function") or {}).get("CodeUri")
    for lid, res in _serverless(template, "AWS::Serverless::Function").items():
        code = _local_dir(base, res.get("Properties", {}).get("CodeUri", globals_code), lid, "CodeUri")
        zip_path = build_dir / f"{lid}.zip"
        artifacts.append(Artifact(lid, res["Type"], zip_path, write_zip(_tree(code), zip_path, label=lid)))

    manifest = {
        "template": str(template_path.resolve()),
        "artifacts": {a.logical_id: {"type": a.resource_type, "zip": a.zip_path.name, "sha256": a.sha256} for a in artifacts},
    }
    (build_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return artifacts


def _load_template(path: Path) -> dict[str, Any]:
    try:
        return load_yaml(path)
    except (OSError, TemplateError) as exc:
        raise DeployError(f"cannot read the template: {exc}") from exc


def _read_manifest(build_dir: Path) -> tuple[Path, list[Artifact]]:
    try:
        manifest = json.loads((build_dir / "manifest.json").read_text())
    except FileNotFoundError as exc:
        raise DeployError(f"no build in {build_dir}: run `python -m local.deploy build` first") from exc
    artifacts = [Artifact(lid, a["type"], build_dir / a["zip"], a["sha256"]) for lid, a in sorted(manifest["artifacts"].items())]
    for a in artifacts:
        if not a.zip_path.is_file():
            raise DeployError(f"{a.zip_path} is missing: run `python -m local.deploy build` again")
    return Path(manifest["template"]), artifacts


# ---------------------------------------------------------------------------- package


@dataclass(frozen=True)
class PackageResult:
    sam_template: Path
    cfn_template: Path
    uploaded: list[str]  # S3 keys sent by this run
    reused: list[str]  # S3 keys that were already there


def artifact_key(prefix: str, artifact: Artifact) -> str:
    return f"{prefix.strip('/')}/{artifact.sha256}.zip".lstrip("/")


def _session(region: str | None) -> Any:
    session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
    if not session.region_name:
        raise DeployError("no AWS region: pass --region or set AWS_REGION")
    return session


def _require_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket"):
            raise DeployError(
                f"S3 bucket {bucket} does not exist: create it (aws s3 mb s3://{bucket} --region {region}) or pass another --bucket"
            ) from exc
        if code in ("403", "AccessDenied"):
            raise DeployError(f"S3 bucket {bucket} is not yours to write: pass a bucket of this account with --bucket") from exc
        raise


def _object_exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def _upload(s3: Any, path: Path, bucket: str, key: str) -> None:
    size = path.stat().st_size
    with tqdm(total=size, desc=f"upload {path.name}", unit="B", unit_scale=True, disable=None, leave=False) as bar:
        s3.upload_file(str(path), bucket, key, Callback=bar.update)


def package_template(template: dict[str, Any], uris: dict[str, str]) -> dict[str, Any]:
    """The SAM template with each built resource's CodeUri/ContentUri replaced by its s3:// URI (as `sam package` does)."""
    packaged = copy.deepcopy(template)
    for lid, uri in uris.items():
        res = packaged["Resources"][lid]
        prop = "ContentUri" if res["Type"] == "AWS::Serverless::LayerVersion" else "CodeUri"
        res.setdefault("Properties", {})[prop] = uri
    return packaged


def translate(sam_template: dict[str, Any], region: str, managed_policies: dict[str, str] | None = None) -> dict[str, Any]:
    """Plain CloudFormation from a (packaged) SAM template, offline: aws-sam-translator with a static policy map."""
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template

    policies = dict(STATIC_MANAGED_POLICIES if managed_policies is None else managed_policies)
    template = copy.deepcopy(sam_template)
    parameter_values: dict[str, Any] = {}
    to_py27_compatible_template(template, parameter_values)
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    try:
        translated = translator.translate(template, parameter_values=parameter_values, get_managed_policy_map=lambda: policies)
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause.message) for cause in exc.causes)
        raise DeployError(f"the SAM template does not translate to CloudFormation: {causes}") from exc
    result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    return result


def package(
    bucket: str,
    *,
    prefix: str = "quiz",
    region: str | None = None,
    build_dir: Path | None = None,
    output_dir: Path | None = None,
) -> PackageResult:
    """Upload the build's zips (content-addressed) and write packaged.sam.yaml and packaged.cfn.json."""
    build_dir = build_dir or deploy_dir() / "build"
    output_dir = output_dir or deploy_dir()
    template_path, artifacts = _read_manifest(build_dir)
    session = _session(region)
    s3 = session.client("s3")
    _require_bucket(s3, bucket, session.region_name)

    uploaded: list[str] = []
    reused: list[str] = []
    uris: dict[str, str] = {}
    for artifact in artifacts:
        key = artifact_key(prefix, artifact)
        uris[artifact.logical_id] = f"s3://{bucket}/{key}"
        if key in uploaded or key in reused:
            continue  # functions sharing a CodeUri share the object
        if _object_exists(s3, bucket, key):
            reused.append(key)
        else:
            _upload(s3, artifact.zip_path, bucket, key)
            uploaded.append(key)

    template = _load_template(template_path)
    packaged = package_template(template, uris)
    cfn = translate(packaged, session.region_name)
    output_dir.mkdir(parents=True, exist_ok=True)
    sam_out = output_dir / "packaged.sam.yaml"
    cfn_out = output_dir / "packaged.cfn.json"
    sam_out.write_text(yaml.safe_dump(packaged, sort_keys=False, width=140))
    cfn_out.write_text(json.dumps(cfn, indent=1, sort_keys=True) + "\n")
    (output_dir / "package.json").write_text(json.dumps({"bucket": bucket, "prefix": prefix, "region": session.region_name}) + "\n")
    return PackageResult(sam_out, cfn_out, uploaded, reused)


# ---------------------------------------------------------------------------- deploy


@dataclass(frozen=True)
class DeployResult:
    stack_name: str
    status: str
    changed: bool
    outputs: dict[str, str]


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """K=V pairs (as `sam deploy --parameter-overrides` takes them) into a dict; a value may contain '='."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DeployError(f"--parameter-overrides takes Key=Value pairs, not {pair!r}")
        values[key] = value
    return values


def _stack_status(cfn: Any, stack_name: str) -> str | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            return None  # CloudFormation's answer for a stack that does not exist
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def _first_failure(cfn: Any, stack_name: str, since: float) -> str:
    events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    for event in reversed(events):  # oldest first: the first failure is the cause, the rest follow from it
        when = event.get("Timestamp")
        if when is not None and when.timestamp() < since - 1:
            continue
        if str(event.get("ResourceStatus", "")).endswith("_FAILED") and event.get("LogicalResourceId") != stack_name:
            reason = event.get("ResourceStatusReason") or "no reason given"
            return f"{event['LogicalResourceId']} ({event.get('ResourceType')}): {reason}"
    return "no failed resource reported"


def _template_argument(session: Any, body: str, bucket: str | None, prefix: str) -> dict[str, str]:
    if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    if not bucket:
        raise DeployError(
            f"the template is {len(body.encode())} bytes, over CloudFormation's {TEMPLATE_BODY_LIMIT}: pass --bucket (or run package first) so it goes through S3"
        )
    s3 = session.client("s3")
    _require_bucket(s3, bucket, session.region_name)
    key = f"{prefix.strip('/')}/templates/{hashlib.sha256(body.encode()).hexdigest()}.json".lstrip("/")
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    return {"TemplateURL": f"https://{bucket}.s3.{session.region_name}.amazonaws.com/{key}"}


def _wait_change_set(cfn: Any, stack_name: str, name: str, poll_s: float) -> dict[str, Any]:
    while True:
        described: dict[str, Any] = cfn.describe_change_set(StackName=stack_name, ChangeSetName=name)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE"):
            return described
        time.sleep(poll_s)


def deploy(
    stack_name: str,
    *,
    template_file: Path | None = None,
    parameters: dict[str, str] | None = None,
    capabilities: Sequence[str] = DEFAULT_CAPABILITIES,
    region: str | None = None,
    bucket: str | None = None,
    prefix: str | None = None,
    poll_s: float = 5.0,
) -> DeployResult:
    """Create or update the stack from the packaged CloudFormation template through a change set; wait for it."""
    template_file = template_file or deploy_dir() / "packaged.cfn.json"
    if not template_file.is_file():
        raise DeployError(f"{template_file} does not exist: run `python -m local.deploy package --bucket BUCKET` first")
    recorded = template_file.with_name("package.json")
    packaged = json.loads(recorded.read_text()) if recorded.is_file() else {}
    session = _session(region or packaged.get("region"))
    cfn = session.client("cloudformation")
    body = template_file.read_text()
    template = json.loads(body)
    declared = template.get("Parameters") or {}
    unknown = sorted(set(parameters or {}) - set(declared))
    if unknown:
        raise DeployError(f"unknown parameter(s) {', '.join(unknown)}: the template declares {', '.join(sorted(declared))}")
    params: list[dict[str, Any]] = [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted((parameters or {}).items())]

    status = _stack_status(cfn, stack_name)
    if status == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {stack_name} is ROLLBACK_COMPLETE (its first create failed): delete it (aws cloudformation delete-stack --stack-name {stack_name}) and deploy again"
        )
    if status is not None and status.endswith("_IN_PROGRESS"):
        raise DeployError(f"stack {stack_name} is {status}: wait until it settles and deploy again")
    change_type = "CREATE" if status is None else "UPDATE"
    if status is not None:
        # Parameters this run does not set keep the values the stack has, as `sam deploy` does.
        params += [{"ParameterKey": k, "UsePreviousValue": True} for k in sorted(set(declared) - set(parameters or {}))]

    argument = _template_argument(session, body, bucket or packaged.get("bucket"), prefix or packaged.get("prefix", "quiz"))
    change_set = f"local-deploy-{int(time.time())}"
    started = time.time()
    cfn.create_change_set(
        StackName=stack_name,
        ChangeSetName=change_set,
        ChangeSetType=change_type,
        Parameters=params,
        Capabilities=list(capabilities),
        **argument,
    )
    described = _wait_change_set(cfn, stack_name, change_set, poll_s)
    if described["Status"] == "FAILED":
        if change_type == "UPDATE" and not described.get("Changes"):
            # CloudFormation fails a change set that changes nothing; that is a successful no-op deploy.
            cfn.delete_change_set(StackName=stack_name, ChangeSetName=change_set)
            return DeployResult(stack_name, status or "", False, _outputs(cfn, stack_name))
        raise DeployError(f"CloudFormation refused the change set for {stack_name}: {described.get('StatusReason', 'no reason given')}")

    cfn.execute_change_set(StackName=stack_name, ChangeSetName=change_set)
    waiter = cfn.get_waiter("stack_create_complete" if change_type == "CREATE" else "stack_update_complete")
    try:
        waiter.wait(StackName=stack_name, WaiterConfig={"Delay": max(1, int(poll_s)), "MaxAttempts": 720})
    except WaiterError as exc:
        final = _stack_status(cfn, stack_name) or "gone"
        raise DeployError(f"stack {stack_name} is {final}: first failure: {_first_failure(cfn, stack_name, started)}") from exc
    return DeployResult(stack_name, _stack_status(cfn, stack_name) or "", True, _outputs(cfn, stack_name))


def _outputs(cfn: Any, stack_name: str) -> dict[str, str]:
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: str(o.get("OutputValue", "")) for o in stack.get("Outputs") or []}


# ---------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local.deploy", description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="zip the functions and the layer (with its dependencies for Lambda)")
    b.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    b.add_argument("--build-dir", type=Path, default=None, help="default .state/deploy/build")
    b.add_argument("--requirements", type=Path, default=DEFAULT_REQUIREMENTS, help="the layer's runtime dependencies")
    b.add_argument("--no-deps", action="store_true", help="leave the dependencies out of the layer (tests)")

    p = sub.add_parser("package", help="upload the zips to S3 and write the packaged CloudFormation template")
    p.add_argument("--bucket", required=True, help="an existing S3 bucket in the region")
    p.add_argument("--prefix", default="quiz", help="key prefix in the bucket")
    p.add_argument("--region", default=None)
    p.add_argument("--build-dir", type=Path, default=None)
    p.add_argument("--output-dir", type=Path, default=None, help="default .state/deploy")

    d = sub.add_parser("deploy", help="create or update the stack and wait for it")
    d.add_argument("--stack-name", required=True)
    d.add_argument("--template-file", type=Path, default=None, help="default .state/deploy/packaged.cfn.json")
    d.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    d.add_argument("--capabilities", nargs="+", default=list(DEFAULT_CAPABILITIES))
    d.add_argument("--region", default=None)
    d.add_argument("--bucket", default=None, help="for a template over 51,200 bytes (default: the package bucket)")
    return parser


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "build":
            artifacts = build(args.template, args.build_dir, requirements=args.requirements, with_deps=not args.no_deps)
            for a in artifacts:
                out(f"built {a.logical_id:<24} {a.zip_path}  sha256 {a.sha256[:12]}  {a.zip_path.stat().st_size:,} bytes")
        elif args.command == "package":
            result = package(args.bucket, prefix=args.prefix, region=args.region, build_dir=args.build_dir, output_dir=args.output_dir)
            out(f"uploaded {len(result.uploaded)} zip(s), {len(result.reused)} already in s3://{args.bucket}")
            out(f"packaged SAM template: {result.sam_template}")
            out(f"CloudFormation template: {result.cfn_template}")
        else:
            done = deploy(
                args.stack_name,
                template_file=args.template_file,
                parameters=parse_overrides(args.parameter_overrides),
                capabilities=args.capabilities,
                region=args.region,
                bucket=args.bucket,
            )
            out(f"stack {done.stack_name}: {done.status}" + ("" if done.changed else " (no changes)"))
            for key, value in sorted(done.outputs.items()):
                out(f"  {key} = {value}")
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except NoCredentialsError:
        print("error: no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", file=sys.stderr)
        return 1
    except NoRegionError:
        print("error: no AWS region: pass --region or set AWS_REGION", file=sys.stderr)
        return 1
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(f"error: AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
