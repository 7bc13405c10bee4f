# Secrets live in Secret Manager. terraform/sync-secrets.sh copies them into the namespace's
# Kubernetes Secrets, so no secret value is ever written to the repository or a file.

resource "random_password" "callback" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret" "callback" {
  secret_id = "${var.name}-callback-secret"
  replication {
    auto {}
  }
  labels = {
    app = "kscribe"
  }
}

resource "google_secret_manager_secret_version" "callback" {
  secret      = google_secret_manager_secret.callback.id
  secret_data = random_password.callback.result
}

resource "google_secret_manager_secret" "redis_auth" {
  secret_id = "${var.name}-redis-auth"
  replication {
    auto {}
  }
  labels = {
    app = "kscribe"
  }
}

resource "google_secret_manager_secret_version" "redis_auth" {
  secret      = google_secret_manager_secret.redis_auth.id
  secret_data = google_redis_instance.kscribe.auth_string
}

# Memorystore's server CA, needed to verify the TLS connection (not a secret).
resource "google_secret_manager_secret" "redis_ca" {
  secret_id = "${var.name}-redis-ca"
  replication {
    auto {}
  }
  labels = {
    app = "kscribe"
  }
}

resource "google_secret_manager_secret_version" "redis_ca" {
  secret      = google_secret_manager_secret.redis_ca.id
  secret_data = join("\n", [for c in google_redis_instance.kscribe.server_ca_certs : c.cert])
}

# The HMAC key of result links (kscribe/delivery/links.py): only the api reads it (KSCRIBE_LINK_SECRET,
# knative/overlays/gke/api-link-secret.yaml). Without it the api would make one in Redis,
# where every function's pod could read it and sign links of its own.
resource "random_password" "link" {
  length  = 64
  special = false
}

resource "google_secret_manager_secret" "link" {
  secret_id = "${var.name}-link-secret"
  replication {
    auto {}
  }
  labels = {
    app = "kscribe"
  }
}

resource "google_secret_manager_secret_version" "link" {
  secret      = google_secret_manager_secret.link.id
  secret_data = random_password.link.result
}
