"""terraform/: formatting, and the invariants the deploy must keep, read from the HCL itself.
(`terraform validate` needs the Google provider, which cannot be downloaded here.)"""

from __future__ import annotations

import re
import shutil
import subprocess

import hcl2
import pytest

from tests.conftest import ROOT

TERRAFORM = ROOT / "terraform"
FUNCTIONS = {"ingest", "extract", "transcribe", "diarize", "publish", "notify", "dead-letter", "api", "reconcile"}


def _clean(value):
    """python-hcl2 keeps quotes and adds bookkeeping keys: strip both."""
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _load(directory=TERRAFORM) -> dict[str, list]:
    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        with open(path) as f:
            for key, blocks in _clean(hcl2.load(f)).items():
                merged.setdefault(key, []).extend(blocks if isinstance(blocks, list) else [blocks])
    return merged


HCL = _load()


def resources(kind: str, hcl: dict | None = None) -> dict[str, dict]:
    found = {}
    for block in (HCL if hcl is None else hcl).get("resource", []):
        for name, body in block.get(kind, {}).items():
            found[name] = body
    return found


def local(name: str):
    for block in HCL.get("locals", []):
        if name in block:
            return block[name]
    raise KeyError(name)


def test_terraform_fmt():
    if not shutil.which("terraform"):
        pytest.skip("terraform is not installed")
    done = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff"], cwd=TERRAFORM, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_input_has_a_description_a_type_and_a_validation():
    variables = {name: body for block in HCL["variable"] for name, body in block.items()}
    assert len(variables) >= 20
    for name, body in variables.items():
        assert body.get("description"), f"{name} has no description"
        assert body.get("type"), f"{name} has no type"
        # For a bool the type is the whole validation; a condition could never fail.
        assert body.get("validation") or body["type"] == "bool", f"{name} has no validation"


def test_versions_are_pinned():
    terraform = HCL["terraform"][0]
    assert terraform["required_version"].startswith(">=")
    google = terraform["required_providers"][0]["google"]
    assert google["source"] == "hashicorp/google" and google["version"].startswith("~>")


def test_the_gpu_pool_scales_to_zero_and_is_tainted():
    gpu = resources("google_container_node_pool")["gpu"]
    assert gpu["autoscaling"][0]["min_node_count"] == 0 and gpu["initial_node_count"] == 0
    node = gpu["node_config"][0]
    assert node["taint"][0] == {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
    accelerator = node["guest_accelerator"][0]
    assert accelerator["type"] == "${var.gpu_accelerator_type}" and accelerator["gpu_driver_installation_config"]
    assert node["workload_metadata_config"][0]["mode"] == "GKE_METADATA"


def test_the_cluster_has_workload_identity_and_private_nodes():
    cluster = resources("google_container_cluster")["kscribe"]
    assert cluster["workload_identity_config"][0]["workload_pool"] == "${var.project_id}.svc.id.goog"
    assert cluster["private_cluster_config"][0]["enable_private_nodes"] is True
    assert cluster["remove_default_node_pool"] is True


def test_every_bucket_has_uniform_access_and_enforced_public_access_prevention():
    buckets = resources("google_storage_bucket")
    assert set(buckets) == {"kscribe", "logs"}
    for name, bucket in buckets.items():
        assert bucket["uniform_bucket_level_access"] is True, name
        assert bucket["public_access_prevention"] == "enforced", name
    assert set(local("buckets")) == {"input", "work", "output"}
    assert local("buckets")["work"]["retention_days"] == "${var.work_retention_days}"


def test_only_the_input_bucket_notifies_ingest():
    assert not resources("google_storage_notification"), "notifications go through the Eventarc trigger only"
    trigger = resources("google_eventarc_trigger")["uploads"]
    criteria = {c["attribute"]: c["value"] for c in trigger["matching_criteria"]}
    assert criteria == {
        "type": "google.cloud.storage.object.v1.finalized",
        "bucket": '${google_storage_bucket.kscribe["input"].name}',
    }
    assert trigger["destination"][0]["gke"][0]["service"] == "ingest"


def test_no_primitive_roles_anywhere():
    text = "\n".join(p.read_text() for p in TERRAFORM.rglob("*.tf"))
    assert not re.search(r"roles/(owner|editor|viewer)\b", text)


def test_redis_has_auth_and_tls_and_a_private_network():
    redis = resources("google_redis_instance")["kscribe"]
    assert redis["auth_enabled"] is True
    assert redis["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    assert redis["authorized_network"] == "${google_compute_network.kscribe.id}"
    assert redis["connect_mode"] == "PRIVATE_SERVICE_ACCESS"


def test_each_function_has_its_own_account_with_only_its_stage_access():
    assert set(local("functions")) == FUNCTIONS
    viewer, user = "roles/storage.objectViewer", "roles/storage.objectUser"
    # ingest reads no object (the notification carries what it checks; bucket existence is
    # the probe role's storage.buckets.get): no grant on the input bucket.
    assert local("object_roles") == {
        "extract": {"input": viewer, "work": user},
        "transcribe": {"work": user},
        "diarize": {"work": user},
        "publish": {"work": user, "output": user},
        # input: OpenAI-route uploads; work: cancel deletes its objects; output: purges.
        "api": {"input": user, "work": user, "output": user},
        "reconcile": {"input": user, "work": user, "output": user},  # purges past retention
    }
    # Result links: signBlob as the api itself, granted on the api's own account only.
    grants = resources("google_service_account_iam_member")
    grant = grants["api_signs_links"]
    assert [g for g in grants.values() if g["role"] == "roles/iam.serviceAccountTokenCreator"] == [grant]
    assert grant["role"] == "roles/iam.serviceAccountTokenCreator"
    assert grant["service_account_id"] == '${google_service_account.function["api"].name}'
    assert grant["member"] == 'serviceAccount:${google_service_account.function["api"].email}'
    wi = resources("google_service_account_iam_member")["workload_identity"]
    assert wi["role"] == "roles/iam.workloadIdentityUser"
    assert wi["member"] == "serviceAccount:${var.project_id}.svc.id.goog[${var.name}/kscribe-${each.key}]"
    probe = resources("google_project_iam_custom_role")["bucket_probe"]
    assert probe["permissions"] == ["storage.buckets.get"]
    # Kubernetes side: the same accounts exist in the manifests.
    accounts = (ROOT / "knative" / "base" / "serviceaccounts.yaml").read_text()
    assert all(f"name: kscribe-{fn}\n" in accounts for fn in FUNCTIONS)


def test_secrets_live_in_secret_manager():
    secrets = resources("google_secret_manager_secret")
    assert {"callback", "redis_auth"} <= set(secrets)
    assert not list(TERRAFORM.rglob("*.env")), "no secret values written as files"


def test_example_environments_set_only_declared_inputs():
    declared = {name for block in HCL["variable"] for name in block}
    for path in (TERRAFORM / "environments").glob("*.tfvars"):
        with open(path) as f:
            values = _clean(hcl2.load(f))
        assert set(values) <= declared, f"{path.name}: {set(values) - declared}"
        assert {"project_id", "environment"} <= set(values)


# The state backend, and the bucket behind it (terraform/bootstrap).


def test_state_lives_in_a_gcs_backend_configured_at_init():
    backend = HCL["terraform"][0]["backend"]
    # Partial configuration: bucket and prefix come from -backend-config, never from code.
    assert backend == [{"gcs": {}}]
    for env in ("dev", "staging", "prod"):
        with open(TERRAFORM / "environments" / f"{env}.gcs.tfbackend") as f:
            values = _clean(hcl2.load(f))
        assert set(values) == {"bucket", "prefix"} and values["prefix"].endswith(env)


def test_the_state_bucket_is_versioned_private_and_optionally_customer_keyed():
    bootstrap = _load(TERRAFORM / "bootstrap")
    assert "backend" not in bootstrap["terraform"][0], "the bucket's own state cannot live in it"
    bucket = resources("google_storage_bucket", bootstrap)["state"]
    assert bucket["versioning"] == [{"enabled": True}]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["force_destroy"] is False
    rules = [r["condition"][0] for r in bucket["lifecycle_rule"]]
    assert rules == [{"days_since_noncurrent_time": "${var.noncurrent_days}"}], "old versions (old secrets) expire"
    encryption = bucket["dynamic"][0]["encryption"]
    assert encryption["content"] == [{"default_kms_key_name": "${encryption.value}"}]
    assert "var.kms_key_name" in encryption["for_each"]
    variables = {name for block in bootstrap["variable"] for name in block}
    assert {"project_id", "kms_key_name", "noncurrent_days"} <= variables


# Egress to Google APIs goes to private.googleapis.com only: the VPC must resolve and route it.


def test_google_apis_resolve_and_route_to_private_google_access():
    cidr = local("private_google_apis_cidr")
    assert cidr == "199.36.153.8/30"
    zone = resources("google_dns_managed_zone")["googleapis"]
    assert zone["dns_name"] == "googleapis.com." and zone["visibility"] == "private"
    assert zone["private_visibility_config"][0]["networks"][0]["network_url"] == "${google_compute_network.kscribe.id}"
    records = {r["name"]: r for r in resources("google_dns_record_set").values()}
    assert records["private.googleapis.com."]["type"] == "A"
    assert "local.private_google_apis_cidr" in records["private.googleapis.com."]["rrdatas"]
    assert records["*.googleapis.com."]["type"] == "CNAME"
    assert records["*.googleapis.com."]["rrdatas"] == ["private.googleapis.com."]
    route = resources("google_compute_route")["private_google_apis"]
    assert route["dest_range"] == "${local.private_google_apis_cidr}"
    assert route["next_hop_gateway"] == "default-internet-gateway"
    assert resources("google_compute_subnetwork")["kscribe"]["private_ip_google_access"] is True


def test_the_generated_config_names_the_event_token_issuer_and_its_keys():
    issuer = local("event_issuer")
    assert issuer.startswith("https://container.googleapis.com/v1/projects/${var.project_id}/locations/")
    template = (TERRAFORM / "templates" / "config.env.tftpl").read_text().splitlines()
    assert "KSCRIBE_EVENT_ISSUER=${issuer}" in template
    assert "KSCRIBE_EVENT_JWKS_URL=${issuer}/jwks" in template
    generated = resources("local_file")["config_env"]
    assert "local.event_issuer" in str(generated["content"])


# The durable broker: Managed Kafka (terraform/kafka.tf).


def test_the_broker_topic_survives_a_lost_broker_or_zone():
    cluster = resources("google_managed_kafka_cluster")["events"]
    assert cluster["capacity_config"][0]["vcpu_count"] == "${var.kafka_vcpus}"
    network = cluster["gcp_config"][0]["access_config"][0]["network_configs"][0]
    assert network["subnet"] == "${google_compute_subnetwork.kscribe.id}", "reachable from the cluster's VPC"
    topic = resources("google_managed_kafka_topic")["events"]
    assert topic["cluster"] == "${google_managed_kafka_cluster.events.cluster_id}"
    assert topic["replication_factor"] == 3
    assert int(topic["configs"]["min.insync.replicas"]) == 2
    assert topic["configs"]["cleanup.policy"] == "delete"


def test_the_kafka_data_plane_logs_in_with_a_short_lived_certificate_not_a_key():
    # No service-account key anywhere (organisations forbid creating them; one never expires
    # and sits in the state): the broker's data plane uses mTLS with a certificate from a
    # private CA pool that the Managed Kafka cluster trusts.
    assert not resources("google_service_account_key")
    assert "google_service_account_key" not in "".join(p.read_text() for p in TERRAFORM.glob("*.tf"))
    pool = resources("google_privateca_ca_pool")["kafka"]
    assert pool["issuance_policy"][0]["maximum_lifetime"] == f"{30 * 24 * 3600}s"
    cluster = resources("google_managed_kafka_cluster")["events"]
    cas = cluster["tls_config"][0]["trust_config"][0]["cas_configs"][0]
    assert cas["ca_pool"] == "${google_privateca_ca_pool.kafka.id}"
    # The certificate's principal may use the events topic and the triggers' consumer groups.
    acls = resources("google_managed_kafka_acl")["broker"]
    assert set(acls["for_each"].values()) == {
        "topic/${google_managed_kafka_topic.events.topic_id}",
        "consumerGroupPrefixed/knative-trigger-",
    }
    script = (TERRAFORM / "sync-secrets.sh").read_text()
    assert "--validity P30D" in script and "protocol=SSL" in script and "user.key=" in script
    generated = resources("local_file")["kustomize_component"]
    assert "local.kafka_bootstrap" in str(generated["content"])
    assert "google_managed_kafka_topic.events.topic_id" in str(generated["content"])
    assert "cloud.goog:9092" in local("kafka_bootstrap")


def test_prod_redis_is_standard_tier_with_the_shortest_snapshots_offered():
    redis = resources("google_redis_instance")["kscribe"]
    assert redis["tier"] == '${local.prod ? "STANDARD_HA" : "BASIC"}'
    # Memorystore for Redis has no AOF; RDB hourly is its most frequent persistence.
    assert redis["persistence_config"] == [{"persistence_mode": "RDB", "rdb_snapshot_period": "ONE_HOUR"}]
    docs = (ROOT / "docs" / "operations.md").read_text()
    assert "AOF" in docs and "Standard tier" in docs


# Delivery from GitHub Actions (terraform/deploy.tf): Workload Identity Federation, one deployer.


def test_github_federation_accepts_only_the_repository_its_refs_and_its_environment():
    [provider] = resources("google_iam_workload_identity_pool_provider").values()
    assert provider["oidc"] == [{"issuer_uri": "https://token.actions.githubusercontent.com"}]
    assert provider["attribute_mapping"]["attribute.repository"] == "assertion.repository"
    assert provider["attribute_condition"] == "${local.deployer_condition}"
    condition = local("deployer_condition")
    assert "assertion.repository ==" in condition and "${var.github_repository}" in condition
    assert "local.deployer_refs" in condition
    assert "repo:${var.github_repository}:environment:${var.github_environment}" in condition
    assert "repo:${var.github_repository}:ref:" in condition, "a pull request's token (sub …:pull_request) is refused"
    refs = local("deployer_refs")
    assert "assertion.ref.startsWith" in refs and "assertion.ref ==" in refs
    binding = resources("google_service_account_iam_member")["deployer_federation"]
    assert binding["role"] == "roles/iam.workloadIdentityUser"
    assert (
        binding["member"].startswith("principalSet://")
        and "/attribute.repository/${var.github_repository}" in binding["member"]
    )


def test_the_deployer_holds_only_what_a_deploy_needs():
    deployer = "serviceAccount:${google_service_account.deployer[0].email}"
    grants = []
    for kind, scope in (
        ("google_project_iam_member", "project"),
        ("google_storage_bucket_iam_member", "bucket"),
        ("google_artifact_registry_repository_iam_member", "repository"),
    ):
        grants += [(scope, body["role"]) for body in resources(kind).values() if body["member"] == deployer]
    assert sorted(grants) == sorted(
        [
            ("repository", "roles/artifactregistry.writer"),
            ("project", "${google_project_iam_custom_role.deployer[0].id}"),  # reach the cluster, no more
            ("project", "roles/containeranalysis.occurrences.editor"),  # the Binary Authorization attestation
            ("bucket", "roles/storage.objectAdmin"),
        ]
    )
    buckets = resources("google_storage_bucket_iam_member")["deployer"]
    assert "local.deployer_buckets" in buckets["for_each"] and local("deployer_buckets") == ["input", "output"]
    assert not any(
        "deployer" in body["service_account_id"] for body in resources("google_service_account_key").values()
    ), "no key for the deployer: federation only"
    assert "control_plane_endpoints_config" in resources("google_container_cluster")["kscribe"], (
        "GitHub's runners reach the control plane through its DNS endpoint (IAM), not an allow-listed address"
    )


def test_staging_sits_beside_dev_and_prod_and_is_deployed_from_main():
    with open(TERRAFORM / "environments" / "staging.tfvars") as f:
        staging = _clean(hcl2.load(f))
    with open(TERRAFORM / "environments" / "prod.tfvars") as f:
        prod = _clean(hcl2.load(f))
    assert staging["environment"] == "staging" and staging["deploy_refs"] == ["refs/heads/main"]
    assert staging["github_environment"] == "staging"
    assert prod["deploy_refs"] == ["refs/tags/v*"] and prod["github_environment"] == "production"
    assert staging["github_repository"] == prod["github_repository"]


def test_binary_authorization_admits_only_images_ci_signed_with_the_installation_key():
    cluster = resources("google_container_cluster")["kscribe"]
    assert cluster["binary_authorization"] == [{"evaluation_mode": "PROJECT_SINGLETON_POLICY_ENFORCE"}]
    policies = resources("google_binary_authorization_policy")
    assert list(policies) == ["kscribe"], "the project's singleton policy is the one the cluster enforces"
    policy = policies["kscribe"]
    assert policy["default_admission_rule"] == [
        {
            "evaluation_mode": "REQUIRE_ATTESTATION",
            "enforcement_mode": "ENFORCED_BLOCK_AND_AUDIT_LOG",
            "require_attestations_by": ["${google_binary_authorization_attestor.ci.name}"],
        }
    ]
    assert "cluster_admission_rules" not in policy, "no cluster may fall back to another rule"
    # The allow-list holds third-party platform images only, never kscribe's registry.
    (allowed,) = [v["binauthz_allowed_images"] for v in HCL["variable"] if "binauthz_allowed_images" in v]
    assert allowed["default"] and not any("docker.pkg.dev" in p or "kscribe" in p for p in allowed["default"])
    assert all(p.count("/") >= 2 for p in allowed["default"]), "no whole registry is allowed"
    # The attestor's key is the KMS key CI signs with (cosign and the attestation).
    key = resources("google_kms_crypto_key")["image_signing"]
    assert key["purpose"] == "ASYMMETRIC_SIGN" and key["version_template"][0]["algorithm"] == "EC_SIGN_P256_SHA256"
    (note_key,) = resources("google_binary_authorization_attestor")["ci"]["attestation_authority_note"][0][
        "public_keys"
    ]
    assert note_key["id"] == "${data.google_kms_crypto_key_version.image_signing.id}"
    pkix = note_key["pkix_public_key"][0]
    assert pkix["public_key_pem"] == "${data.google_kms_crypto_key_version.image_signing.public_key[0].pem}"
    (data,) = [d["google_kms_crypto_key_version"] for d in HCL["data"] if "google_kms_crypto_key_version" in d]
    assert data["image_signing"]["crypto_key"] == "${google_kms_crypto_key.image_signing.id}"
    (signing,) = [o["image_signing"]["value"] for o in HCL["output"] if "image_signing" in o]
    assert signing["cosign_key"] == "gcpkms://${google_kms_crypto_key.image_signing.id}"
    assert signing["attestor"] == "${google_binary_authorization_attestor.ci.id}"
    signer = resources("google_kms_crypto_key_iam_member")["deployer_signs"]
    assert signer["crypto_key_id"] == "${google_kms_crypto_key.image_signing.id}"
    assert signer["role"] == "roles/cloudkms.signerVerifier"
    assert signer["member"] == "serviceAccount:${google_service_account.deployer[0].email}"
    # CI signs with exactly these values.
    sign = (ROOT / "scripts" / "ci" / "sign-image.sh").read_text()
    assert 'cosign sign --yes --key "$COSIGN_KEY"' in sign
    assert '--attestor="$BINAUTHZ_ATTESTOR" --keyversion="$BINAUTHZ_KEYVERSION"' in sign
