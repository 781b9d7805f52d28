"""local.deploy without AWS: deterministic zips, parameter overrides, the first failure of a failed stack."""

from __future__ import annotations

import datetime as dt
import os
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from local import deploy


def _tree(root: Path) -> None:
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text("VALUE = 1\n")
    (root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (root / "app.py").write_text("def handler(event, context):\n    return event\n")


def test_the_same_files_give_the_same_zip_whatever_their_mtimes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _tree(a)
    _tree(b)
    for i, path in enumerate(sorted(b.rglob("*.py"))):
        os.utime(path, (1_700_000_000 + i * 1000, 1_700_000_000 + i * 1000))
    sha_a = deploy.write_zip(deploy._tree(a), tmp_path / "a.zip")
    sha_b = deploy.write_zip(deploy._tree(b), tmp_path / "b.zip")
    assert sha_a == sha_b == deploy.sha256_file(tmp_path / "a.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()

    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        names = archive.namelist()
        assert names == sorted(names) == ["app.py", "pkg/__init__.py", "pkg/mod.py"]  # no __pycache__
        assert {info.date_time for info in archive.infolist()} == {deploy.ZIP_EPOCH}

    (b / "app.py").write_text("def handler(event, context):\n    return None\n")
    assert deploy.write_zip(deploy._tree(b), tmp_path / "b.zip") != sha_a


def test_parameter_overrides_are_key_value_pairs() -> None:
    assert deploy.parse_overrides(["Stage=prod", "DatabaseUrl=postgresql://u:p@h/db?x=1"]) == {
        "Stage": "prod",
        "DatabaseUrl": "postgresql://u:p@h/db?x=1",
    }
    with pytest.raises(deploy.DeployError, match="Key=Value"):
        deploy.parse_overrides(["Stage"])


def test_the_first_failure_of_a_failed_stack_is_the_one_reported() -> None:
    # moto raises instead of failing a stack (it models no rollback), so CloudFormation's events are stubbed.
    cfn = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def event(seconds: int, lid: str, status: str, reason: str = "") -> dict[str, object]:
        return {
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/quiz/1",
            "EventId": f"{lid}-{seconds}",
            "StackName": "quiz",
            "LogicalResourceId": lid,
            "ResourceType": "AWS::CloudFormation::Stack" if lid == "quiz" else "AWS::Lambda::Function",
            "Timestamp": t0 + dt.timedelta(seconds=seconds),
            "ResourceStatus": status,
            "ResourceStatusReason": reason,
        }

    newest_first = [
        event(4, "quiz", "ROLLBACK_COMPLETE"),
        event(3, "AuthFunction", "CREATE_FAILED", "Resource creation cancelled"),
        event(2, "quiz", "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [LeaderboardFunction]"),
        event(1, "LeaderboardFunction", "CREATE_FAILED", "Subnet subnet-0 does not exist"),
        event(0, "quiz", "CREATE_IN_PROGRESS", "User Initiated"),
    ]
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": newest_first}, {"StackName": "quiz"})
        reason = deploy._first_failure(cfn, "quiz", since=t0.timestamp())
    assert reason == "LeaderboardFunction (AWS::Lambda::Function): Subnet subnet-0 does not exist"
