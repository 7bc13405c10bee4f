"""The dashboard and alert rules refer only to metrics kscribe exports."""

import json
import re

import yaml
from prometheus_client import REGISTRY

import kscribe.metrics  # noqa: F401 - registers the metrics
from tests.conftest import ROOT

_NAME = re.compile(r"\bkscribe_[a-z_]+")
# Metrics of the platform (kube-state-metrics, DCGM, Memorystore through Cloud Monitoring).
_PLATFORM = re.compile(r"\b(DCGM_FI_[A-Z_]+|kube_[a-z_]+|redis_googleapis_com:[a-z_]+)")


def exported() -> set[str]:
    names = set()
    for collector in list(REGISTRY._collector_to_names):
        for metric in collector.describe() if hasattr(collector, "describe") else []:
            for sample in ("", "_total", "_bucket", "_count", "_sum", "_created"):
                names.add(metric.name + sample)
    return names


def test_alerts_use_exported_metrics_and_are_well_formed():
    rules = yaml.safe_load((ROOT / "monitoring" / "alerts.yaml").read_text())["spec"]["groups"][0]["rules"]
    names = {r["alert"] for r in rules}
    assert {
        "KscribeJobErrorRateHigh",
        "KscribeJobsStuck",
        "KscribeEventsDeadLettered",
        "KscribeCallbacksFailing",
        "KscribeSpeechUncovered",
    } <= names
    for rule in rules:
        assert rule["labels"]["severity"] and rule["annotations"]["summary"]
        used = set(_NAME.findall(rule["expr"]))
        assert used and used <= exported(), f"{rule['alert']} uses unknown metrics {used - exported()}"


def _platform_metrics() -> set[str]:
    """The metrics of what kscribe runs on that monitoring/alerts-platform.yaml alerts on."""
    text = (ROOT / "monitoring" / "alerts-platform.yaml").read_text()
    return set(_PLATFORM.findall(text))


def test_dashboard_panels_use_exported_metrics():
    dashboard = json.loads((ROOT / "monitoring" / "dashboard.json").read_text())
    assert len(dashboard["panels"]) >= 10
    platform = _platform_metrics()
    assert {
        "DCGM_FI_DEV_GPU_UTIL",
        "kube_pod_status_phase",
        "redis_googleapis_com:stats_memory_usage_ratio",
    } <= platform
    shown = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used = set(_NAME.findall(target["expr"]))
            others = set(_PLATFORM.findall(target["expr"]))
            shown |= others
            # kscribe's own metrics, or the platform's its alerts use: nothing else.
            assert used or others, panel["title"]
            assert used <= exported(), f"{panel['title']}: {used - exported()}"
            assert others <= platform, f"{panel['title']}: {others - platform}"
    assert shown == platform, f"platform metrics alerted on but not shown: {platform - shown}"
