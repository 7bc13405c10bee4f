# Uploads to the input bucket reach the ingest function through an Eventarc trigger with a
# GKE destination: Eventarc's forwarder runs in the cluster and posts
# google.cloud.storage.object.v1.finalized CloudEvents to the cluster-local ingest Service.
# Only the input bucket is watched; the output bucket never notifies ingest.
#
# Before the first apply, once per project: `gcloud eventarc gke-destinations init`
# (grants the Eventarc service agent what it needs to run the forwarder; docs/operations.md).

data "google_project" "this" {
  project_id = var.project_id
}

data "google_storage_project_service_account" "gcs" {
  project = var.project_id
}

# Cloud Storage events travel through Pub/Sub: the GCS service agent must publish.
resource "google_project_iam_member" "gcs_publishes" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_service_account" "eventarc" {
  account_id   = "${var.name}-eventarc"
  display_name = "kscribe Eventarc trigger"
}

# What a trigger with a GKE destination needs on its service account (Eventarc's "Roles and
# permissions for GKE"): receive events, pull them from the trigger's Pub/Sub subscription
# (the in-cluster forwarder runs as this account) and write the forwarder's metrics.
# With eventReceiver alone the forwarder cannot pull: uploads never reach ingest.
resource "google_project_iam_member" "eventarc" {
  for_each = toset(["roles/eventarc.eventReceiver", "roles/pubsub.subscriber", "roles/monitoring.metricWriter"])

  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.eventarc.email}"
}

resource "google_eventarc_trigger" "uploads" {
  count = var.create_upload_trigger ? 1 : 0

  name = "${var.name}-uploads"
  # A Cloud Storage trigger lives where its bucket does.
  location = lower(var.bucket_location)

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.storage.object.v1.finalized"
  }
  matching_criteria {
    attribute = "bucket"
    value     = google_storage_bucket.kscribe["input"].name
  }

  destination {
    gke {
      cluster   = google_container_cluster.kscribe.name
      location  = var.region
      namespace = var.name
      service   = "ingest"
      path      = "/"
    }
  }

  service_account = google_service_account.eventarc.email
  labels = {
    app = "kscribe"
  }

  depends_on = [google_project_iam_member.gcs_publishes, google_project_iam_member.eventarc]
}
