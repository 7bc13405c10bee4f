# Delivery from GitHub Actions (.github/workflows, docs/operations.md "The delivery pipeline"):
# the repository's workflows authenticate through Workload Identity Federation — GitHub's
# short-lived OIDC token exchanged for a Google token, no service account key anywhere — and
# act as one deployer account holding only what a deploy needs:
#   - push images:         Artifact Registry writer, on this installation's repository only;
#   - apply and roll out:  through IAM only find the cluster and connect to its DNS endpoint
#                          (custom role kscribe_deployer: container.clusters.get and .connect,
#                          no Kubernetes object permission); inside the cluster, Kubernetes RBAC
#                          (knative/deployer/rbac.yaml, applied once by an administrator) lets
#                          it apply the overlay's kinds in the kscribe namespace and move
#                          traffic — no Secret, no other namespace;
#   - sign images:         terraform/binauthz.tf (the signing key, the attestation);
#   - the smoke test:      object admin on the input and output buckets only (upload the sample,
#                          read its transcript, delete both).
# Only tokens from var.github_repository, for the refs in var.deploy_refs (staging: main;
# prod: v* tags), from a job in var.github_environment or in none, are accepted: a pull request's workflow, or any other repository's, cannot
# become the deployer. github_repository empty: no federation at all (an installation deployed
# by hand).
locals {
  github        = var.github_repository != ""
  deployer_refs = [for r in var.deploy_refs : endswith(r, "*") ? "assertion.ref.startsWith(\"${trimsuffix(r, "*")}\")" : "assertion.ref == \"${r}\""]
  # The repository; one of the refs; and the job either in the GitHub environment that deploys
  # here (sub repo:R:environment:E) or in none (sub repo:R:ref:…, the image build). A pull
  # request (sub repo:R:pull_request) or a job of another environment gets nothing.
  deployer_condition = join(" && ", [
    "assertion.repository == \"${var.github_repository}\"",
    "(${join(" || ", local.deployer_refs)})",
    "(assertion.sub == \"repo:${var.github_repository}:environment:${var.github_environment}\" || assertion.sub.startsWith(\"repo:${var.github_repository}:ref:\"))",
  ])
  # The buckets the smoke test writes to and reads from.
  deployer_buckets = ["input", "output"]
}

resource "google_iam_workload_identity_pool" "github" {
  count                     = local.github ? 1 : 0
  workload_identity_pool_id = "${var.name}-github"
  display_name              = "GitHub Actions"
  description               = "Workflows of ${var.github_repository} (deploys)"
}

resource "google_iam_workload_identity_pool_provider" "github" {
  count                              = local.github ? 1 : 0
  workload_identity_pool_id          = google_iam_workload_identity_pool.github[0].workload_identity_pool_id
  workload_identity_pool_provider_id = "github"
  display_name                       = "GitHub OIDC"
  attribute_mapping = {
    "google.subject"         = "assertion.sub"
    "attribute.repository"   = "assertion.repository"
    "attribute.ref"          = "assertion.ref"
    "attribute.environment"  = "assertion.environment"
    "attribute.workflow_ref" = "assertion.job_workflow_ref"
  }
  attribute_condition = local.deployer_condition
  oidc {
    issuer_uri = "https://token.actions.githubusercontent.com"
  }
}

resource "google_service_account" "deployer" {
  count        = local.github ? 1 : 0
  account_id   = "${var.name}-deployer"
  display_name = "kscribe deployer (GitHub Actions)"
  description  = "Pushes images, applies the Knative manifests, runs the smoke test."
}

resource "google_service_account_iam_member" "deployer_federation" {
  count              = local.github ? 1 : 0
  service_account_id = google_service_account.deployer[0].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.github[0].name}/attribute.repository/${var.github_repository}"
}

resource "google_artifact_registry_repository_iam_member" "deployer" {
  count      = local.github ? 1 : 0
  location   = google_artifact_registry_repository.kscribe.location
  repository = google_artifact_registry_repository.kscribe.name
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.deployer[0].email}"
}

# Not roles/container.developer: granted on the project, that one reads every Secret in every
# namespace of the cluster.
resource "google_project_iam_custom_role" "deployer" {
  count       = local.github ? 1 : 0
  role_id     = "${replace(var.name, "-", "_")}_deployer"
  title       = "kscribe deployer: reach the cluster"
  description = "Find the GKE cluster and connect to its DNS endpoint; what it may do inside is Kubernetes RBAC (knative/deployer/rbac.yaml)."
  permissions = ["container.clusters.get", "container.clusters.connect"]
}

resource "google_project_iam_member" "deployer_gke" {
  count   = local.github ? 1 : 0
  project = var.project_id
  role    = google_project_iam_custom_role.deployer[0].id
  member  = "serviceAccount:${google_service_account.deployer[0].email}"
}

resource "google_storage_bucket_iam_member" "deployer" {
  for_each = local.github ? toset(local.deployer_buckets) : toset([])
  bucket   = google_storage_bucket.kscribe[each.key].name
  role     = "roles/storage.objectAdmin"
  member   = "serviceAccount:${google_service_account.deployer[0].email}"
}
