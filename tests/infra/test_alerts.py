"""monitoring/: every alert has promtool unit tests (monitoring/alerts_test.yaml), and they
pass. promtool is Debian's prometheus package; CI installs it, so there it never skips."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from scripts import alert_rules
from tests.conftest import ROOT


def _alerts() -> set[str]:
    return {rule["alert"] for group in alert_rules.rule_groups() for rule in group["rules"] if "alert" in rule}


def test_every_alert_has_a_case_that_fires_and_one_that_does_not():
    tests = yaml.safe_load((ROOT / "monitoring" / "alerts_test.yaml").read_text())["tests"]
    firing, quiet = set(), set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    alerts = _alerts()
    assert len(alerts) >= 12
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested quiet"


def test_promtool_passes_the_alert_rules_unit_tests(tmp_path):
    if not shutil.which("promtool"):
        if os.environ.get("CI"):
            pytest.fail("promtool is missing in CI (apt-get install -y prometheus)")
        pytest.skip(
            "promtool is not installed (apt-get install -y prometheus): the alert rules' unit tests did not run"
        )
    tests = alert_rules.write(tmp_path)
    check = subprocess.run(
        ["promtool", "check", "rules", str(tmp_path / "alerts.rules.yaml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    done = subprocess.run(["promtool", "test", "rules", str(tests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
