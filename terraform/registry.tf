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

# Promotion (build once, promote by digest): production's deployer reads the images staging
# built and tested, and copies them, digest unchanged, into production's registry.
resource "google_artifact_registry_repository_iam_member" "image_readers" {
  for_each   = toset(var.image_readers)
  location   = google_artifact_registry_repository.kscribe.location
  repository = google_artifact_registry_repository.kscribe.name
  role       = "roles/artifactregistry.reader"
  member     = each.value
}
