resource "google_artifact_registry_repository" "kscribe" {
  repository_id = var.name
  location      = var.region
  format        = "DOCKER"
  description   = "kscribe images (kscribe, kscribe-diarize, kscribe-gpu)"

  docker_config {
    # In prod a tag, once pushed, always names the same image: rollbacks are exact.
    immutable_tags = local.prod
  }

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 20
    }
  }

  labels = {
    app = "kscribe"
  }
}
