"""What a first deploy on GKE needs and a day 2 keeps, read from the rendered overlays and the
Terraform as they would be applied: images a kubelet can pull, probes and timeouts Knative
honours, the api's disruption budget, the storage extract uses, the Eventarc trigger's roles,
no service-account key, Redis that never evicts job state, bounded input retention, and the
alert rules deployed to Managed Service for Prometheus."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ROOT
from tests.infra.test_knative import container, of_kind, rendered, services
from tests.infra.test_terraform import HCL, resources

# A registry-qualified image: a host with a dot (or a port) before the first slash. A bare
# name (kscribe-gpu) is pulled from docker.io/library, which does not have it.
QUALIFIED = re.compile(r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?/.+")
# The steps whose requests run to 600 s (timeoutSeconds).
LONG = {"extract", "transcribe", "diarize"}


def _quantity_gib(value: str) -> float:
    units = {"Gi": 1, "Mi": 1 / 1024, "Ti": 1024, "G": 1e9 / 2**30, "M": 1e6 / 2**30}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value) / 2**30


# 1. Images.


def test_every_image_in_the_gke_overlay_is_registry_qualified():
    images = {name: container(svc)["image"] for name, svc in services("gke").items()}
    bare = {name: image for name, image in images.items() if not QUALIFIED.match(image)}
    assert not bare, f"images a kubelet would pull from docker.io: {bare}"
    assert "kscribe-gpu" in images["transcribe"]


# 7. Probes, response-start timeouts, the api's two pods and its PodDisruptionBudget.


@pytest.mark.parametrize("overlay", ["local", "gke"])
def test_every_service_is_probed_for_readiness_and_liveness(overlay):
    for name, svc in services(overlay).items():
        c = container(svc)
        assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready", name
        live = c["livenessProbe"]
        assert live["httpGet"]["path"] == "/health/live", name
        # Never so tight that a pod busy with a long request is killed for being slow.
        assert live["periodSeconds"] * live["failureThreshold"] >= 60, name


@pytest.mark.parametrize("overlay", ["local", "gke"])
def test_long_services_have_a_response_start_timeout_as_long_as_their_timeout(overlay):
    for name, svc in services(overlay).items():
        spec = svc["spec"]["template"]["spec"]
        if spec["timeoutSeconds"] > 300:  # Knative's default response-start timeout
            assert name in LONG, name
            assert spec.get("responseStartTimeoutSeconds", 0) >= spec["timeoutSeconds"], name
    for name in LONG:
        assert services(overlay)[name]["spec"]["template"]["spec"]["timeoutSeconds"] > 300


def test_the_api_runs_two_pods_under_a_disruption_budget():
    api = services("gke")["api"]
    assert int(api["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"]) >= 2
    pdbs = of_kind("gke", "PodDisruptionBudget", "policy/")
    assert "api" in pdbs, "no PodDisruptionBudget for the api"
    spec = pdbs["api"]["spec"]
    assert spec["minAvailable"] == 1
    # Knative puts serving.knative.dev/service on every pod of the Service's revisions.
    assert spec["selector"] == {"matchLabels": {"serving.knative.dev/service": "api"}}


# 5. extract's scratch.


def test_extract_requests_the_ephemeral_storage_its_scratch_may_fill():
    svc = services("gke")["extract"]
    resources_ = container(svc)["resources"]
    requested = _quantity_gib(resources_["requests"]["ephemeral-storage"])
    limit = _quantity_gib(resources_["limits"]["ephemeral-storage"])
    scratch = next(v for v in svc["spec"]["template"]["spec"]["volumes"] if v["name"] == "scratch")
    size = _quantity_gib(scratch["emptyDir"]["sizeLimit"])
    concurrency = svc["spec"]["template"]["spec"]["containerConcurrency"]
    # A source is at most KSCRIBE_MAX_INPUT_BYTES (20 GiB); each request in flight holds one.
    assert requested >= 20 * concurrency and requested <= limit and size <= limit
    # The CPU pool's boot disk holds at least one such pod beside the system's share.
    cpu = resources("google_container_node_pool")["cpu"]["node_config"][0]
    assert cpu["disk_size_gb"] >= requested * 1.074 + 50


# 4. GPU cold start.


def test_transcribe_starts_no_gpu_pod_on_deploy_and_waits_out_a_gpu_cold_start():
    annotations = services("gke")["transcribe"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/initial-scale"] == "0"
    minutes = int(annotations["serving.knative.dev/progress-deadline"].rstrip("m"))
    assert minutes >= 15
    gpu = resources("google_container_node_pool")["gpu"]["node_config"][0]
    assert gpu["gcfs_config"][0]["enabled"] is True  # image streaming


# 2, 3, 6, 11. Terraform.


def test_the_eventarc_trigger_account_holds_every_role_a_gke_destination_needs():
    grants = resources("google_project_iam_member")["eventarc"]
    assert grants["member"] == "serviceAccount:${google_service_account.eventarc.email}"
    roles = set(re.findall(r"roles/[\w.]+", str(grants["for_each"])))
    assert roles >= {"roles/eventarc.eventReceiver", "roles/pubsub.subscriber", "roles/monitoring.metricWriter"}
    trigger = resources("google_eventarc_trigger")["uploads"]
    assert trigger["service_account"] == "${google_service_account.eventarc.email}"
    assert "${google_project_iam_member.eventarc}" in trigger["depends_on"]


def test_no_service_account_key_is_created():
    assert not resources("google_service_account_key")
    bootstrap = {}
    for path in (ROOT / "terraform" / "bootstrap").glob("*.tf"):
        bootstrap[path.name] = path.read_text()
    assert not any('resource "google_service_account_key"' in text for text in bootstrap.values())


def test_redis_never_evicts_job_state():
    redis = resources("google_redis_instance")["kscribe"]
    assert redis["redis_configs"]["maxmemory-policy"] == "noeviction"


def test_inputs_are_kept_a_bounded_time_by_default():
    variables = {name: body for block in HCL["variable"] for name, body in block.items()}
    retention = variables["input_retention_days"]
    # The purge promise: a job may ask to be kept at most KSCRIBE_MAX_RETENTION_DAYS (30).
    assert 1 <= retention["default"] <= 30
    assert ">= 1" in retention["validation"][0]["condition"]
    for path in (ROOT / "terraform" / "environments").glob("*.tfvars"):
        for line in path.read_text().splitlines():
            if line.split("=")[0].strip() == "input_retention_days":
                assert int(line.split("=")[1]) >= 1, path


# 10. Alerts deployed.


def test_the_alert_rules_are_rendered_as_a_managed_prometheus_rules_resource():
    source = yaml.safe_load((ROOT / "monitoring" / "alerts.yaml").read_text())
    assert source["apiVersion"] == "monitoring.googleapis.com/v1" and source["kind"] == "Rules"
    deployed = of_kind("gke", "Rules", "monitoring.googleapis.com/")
    assert list(deployed) == ["kscribe"], deployed
    rules = deployed["kscribe"]
    assert rules["metadata"]["namespace"] == "kscribe"
    assert rules["spec"]["groups"] == source["spec"]["groups"]
    alerts = {r["alert"] for g in rules["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert {"KscribeEventsDeadLettered", "KscribeJobsStuck"} <= alerts
    # The PodMonitoring that feeds them is applied with the overlay too.
    # And the platform's alerts (other namespaces' metrics, Cloud Monitoring's).
    assert list(of_kind("gke", "ClusterRules", "monitoring.googleapis.com/")) == ["kscribe-platform"]
    assert list(of_kind("gke", "GlobalRules", "monitoring.googleapis.com/")) == ["kscribe-cloud"]
    monitors = {d["metadata"]["name"] for d in rendered("gke") if d["kind"] == "PodMonitoring"}
    assert monitors == {"kscribe", "kscribe-api"}
