"""The CI deployer reaches the cluster through IAM but acts in it only through Kubernetes RBAC
(knative/deployer/rbac.yaml): the overlay's kinds in the kscribe namespace, its two
cluster-scoped rule objects and its Namespace — no Secret, no wildcard, nothing project-wide."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT
from tests.infra.test_terraform import resources

RBAC = [d for d in yaml.safe_load_all((ROOT / "knative" / "deployer" / "rbac.yaml").read_text()) if d]
DEPLOYER = "serviceAccount:${google_service_account.deployer[0].email}"


def _rules(kind: str) -> list[dict]:
    (doc,) = [d for d in RBAC if d["kind"] == kind]
    return doc["rules"]


def _plural(kind: str) -> str:
    lower = kind.lower()
    return lower if lower.endswith("s") else lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


def _allows(rules: list[dict], group: str, resource: str, name: str, verbs: set[str]) -> bool:
    granted: set[str] = set()
    for rule in rules:
        named = "resourceNames" not in rule or name in rule["resourceNames"]
        if group in rule["apiGroups"] and resource in rule["resources"] and named:
            granted |= set(rule["verbs"])
    return verbs <= granted


def test_the_deployer_holds_no_kubernetes_permission_through_iam():
    grants = [b["role"] for b in resources("google_project_iam_member").values() if b["member"] == DEPLOYER]
    assert not any(r.startswith("roles/container.") for r in grants), "a project-wide GKE role reads every Secret"
    role = resources("google_project_iam_custom_role")["deployer"]
    assert sorted(role["permissions"]) == ["container.clusters.connect", "container.clusters.get"]


def test_the_rbac_never_reaches_secrets_or_wildcards_and_binds_only_the_deployer():
    for doc in RBAC:
        if doc["kind"] in ("Role", "ClusterRole"):
            for rule in doc["rules"]:
                assert "secrets" not in rule["resources"], f"{doc['kind']} grants Secrets"
                assert "*" not in rule["resources"] + rule["verbs"] + rule["apiGroups"], f"{doc['kind']}: wildcard"
                assert not {"delete", "deletecollection", "escalate", "bind", "impersonate"} & set(rule["verbs"])
        if doc["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            assert doc["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "DEPLOYER_SA"}]
            assert doc["roleRef"]["name"] == "kscribe-deployer"
    (role,) = [d for d in RBAC if d["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "kscribe"
    cluster = _rules("ClusterRole")
    assert all("resourceNames" in r or r["verbs"] == ["create"] for r in cluster), "cluster-wide: named objects only"


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl renders the overlay")
def test_the_rbac_lets_the_deployer_apply_every_object_the_gke_overlay_renders():
    out = subprocess.run(
        ["kubectl", "kustomize", str(ROOT / "knative" / "overlays" / "gke")], capture_output=True, text=True, check=True
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    namespaced, cluster = _rules("Role"), _rules("ClusterRole")
    apply = {"get", "create", "patch"}
    for doc in docs:
        group = doc["apiVersion"].rsplit("/", 1)[0] if "/" in doc["apiVersion"] else ""
        resource, name = _plural(doc["kind"]), doc["metadata"]["name"]
        if doc["kind"] in ("Namespace", "ClusterRules", "GlobalRules"):  # cluster-scoped
            needed = {"get", "patch"}
            assert _allows(cluster, group, resource, name, needed), f"{doc['kind']}/{name}"
        else:
            assert doc["metadata"].get("namespace") == "kscribe", f"{doc['kind']}/{name} outside kscribe"
            assert _allows(namespaced, group, resource, name, apply), f"cannot apply {doc['kind']}/{name}"
    # scripts/rollout.py: read and patch Knative Services, wait on them.
    assert _allows(namespaced, "serving.knative.dev", "services", "api", {"get", "list", "watch", "patch"})
