"""Write the Prometheus rule groups of monitoring/'s Rules, ClusterRules and GlobalRules
resources as one plain rule file, beside a copy of monitoring/alerts_test.yaml, for
`promtool test rules` (`make test-alerts`, tests/infra/test_alerts.py).

    python scripts/alert_rules.py OUT_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

MONITORING = Path(__file__).resolve().parent.parent / "monitoring"
SOURCES = ("alerts.yaml", "alerts-platform.yaml")
KINDS = {"Rules", "ClusterRules", "GlobalRules"}


def rule_groups() -> list[dict]:
    """Every rule group of the rule resources in monitoring/, in file order."""
    groups: list[dict] = []
    for name in SOURCES:
        for doc in yaml.safe_load_all((MONITORING / name).read_text()):
            if doc and doc.get("kind") in KINDS:
                groups.extend(doc["spec"]["groups"])
    return groups


def write(out: Path) -> Path:
    """The rule file and the test file in ``out``; returns the test file's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "alerts.rules.yaml").write_text(
        yaml.safe_dump({"groups": rule_groups()}, allow_unicode=True, sort_keys=False)
    )
    return Path(shutil.copy(MONITORING / "alerts_test.yaml", out / "alerts_test.yaml"))


if __name__ == "__main__":
    print(write(Path(sys.argv[1])))
