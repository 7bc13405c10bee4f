# What the Knative gke overlay needs from this installation, written as a kustomize
# Component (knative/overlays/gke/generated/), so nothing is copied by hand.
locals {
  registry = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.kscribe.repository_id}"

  # Who signs the broker's event tokens: the cluster's service account issuer, which on GKE
  # is this URL; its keys are published beside it (…/jwks), reachable through Private
  # Google Access. docs/operations.md says how to check it against the cluster.
  event_issuer = "https://container.googleapis.com/v1/projects/${var.project_id}/locations/${var.region}/clusters/${google_container_cluster.kscribe.name}"
}

resource "local_file" "kustomize_component" {
  filename        = "${var.generated_dir}/kustomization.yaml"
  file_permission = "0644"
  content = templatefile("${path.module}/templates/component.yaml.tftpl", {
    registry   = local.registry
    image_tag  = var.image_tag
    functions  = local.functions
    namespace  = var.name
    gsa_emails = { for fn in local.functions : fn => google_service_account.function[fn].email }
    gpu        = var.gpu_accelerator_type
    redis_cidr = "${google_compute_global_address.redis.address}/${google_compute_global_address.redis.prefix_length}"
    api_domain = var.api_domain
    # The Kafka broker (knative/overlays/gke/kafka-broker.yaml).
    kafka_bootstrap = local.kafka_bootstrap
    kafka_topic     = google_managed_kafka_topic.events.topic_id
  })
}

resource "local_file" "api_domain" {
  count           = var.api_domain == "" ? 0 : 1
  filename        = "${var.generated_dir}/api-domain.yaml"
  file_permission = "0644"
  content         = templatefile("${path.module}/templates/api-domain.yaml.tftpl", { api_domain = var.api_domain })
}

resource "local_file" "config_env" {
  filename        = "${var.generated_dir}/config.env"
  file_permission = "0644"
  content = templatefile("${path.module}/templates/config.env.tftpl", {
    input      = google_storage_bucket.kscribe["input"].name
    work       = google_storage_bucket.kscribe["work"].name
    output     = google_storage_bucket.kscribe["output"].name
    model      = var.model
    project    = var.project_id
    issuer     = local.event_issuer
    api_domain = var.api_domain
  })
}

# The same component for CI (.github/workflows/deploy.yml): a Secret Manager secret holding
# {file name: content} as JSON, rewritten by every apply that changes a file, read by the
# deployer alone (scripts/ci/restore-generated.sh). Nothing is copied into GitHub by hand, and
# CI never reads the Terraform state (which holds secrets in clear).
resource "google_secret_manager_secret" "generated" {
  secret_id = "${var.name}-generated"
  replication {
    auto {}
  }
  labels = {
    app = "kscribe"
  }
}

resource "google_secret_manager_secret_version" "generated" {
  secret = google_secret_manager_secret.generated.id
  secret_data = jsonencode(merge(
    {
      "kustomization.yaml" = local_file.kustomize_component.content
      "config.env"         = local_file.config_env.content
    },
    { for f in local_file.api_domain : "api-domain.yaml" => f.content },
  ))
}

resource "google_secret_manager_secret_iam_member" "deployer_reads_generated" {
  count     = local.github ? 1 : 0
  secret_id = google_secret_manager_secret.generated.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.deployer[0].email}"
}
