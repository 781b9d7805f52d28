"""The alert and recording rules (local/observability/alerts.yml) pass their promtool unit tests, and both
Prometheus configurations (native and compose) load them. promtool comes with the Debian `prometheus`
package that `make services` installs."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from local.stack import REPO

OBSERVABILITY = REPO / "local" / "observability"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: `make services` installs the Debian prometheus package (or apt-get install -y prometheus)")
    return found


def test_every_alert_rule_passes_its_promtool_unit_tests(promtool: str) -> None:
    done = subprocess.run([promtool, "test", "rules", "alerts.test.yml"], cwd=OBSERVABILITY, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_file_is_valid(promtool: str) -> None:
    done = subprocess.run([promtool, "check", "rules", "alerts.yml"], cwd=OBSERVABILITY, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_native_prometheus_configuration_is_valid_with_its_rules(promtool: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from local.services import write_prometheus_config
    from local.stack import load_stack

    config = write_prometheus_config(load_stack(), tmp_path_factory.mktemp("prometheus"))
    done = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout and "9 rules found" in done.stdout, done.stdout
