output "buckets" {
  description = "The input, work and output bucket names."
  value       = { for k, b in google_storage_bucket.kscribe : k => b.name }
}

output "redis_host" {
  description = "Memorystore address (TLS, AUTH) reachable from the cluster."
  value       = "${google_redis_instance.kscribe.host}:${google_redis_instance.kscribe.port}"
}

output "service_accounts" {
  description = "Google service account of each function."
  value       = { for fn, sa in google_service_account.function : fn => sa.email }
}

output "registry" {
  description = "Where to push the kscribe, kscribe-diarize and kscribe-gpu images."
  value       = local.registry
}

output "cluster" {
  description = "The GKE cluster's name and region (for gcloud container clusters get-credentials)."
  value       = { name = google_container_cluster.kscribe.name, region = var.region, namespace = var.name }
}

output "secrets" {
  description = "Secret Manager secret ids that terraform/sync-secrets.sh copies into the cluster."
  value = {
    callback   = google_secret_manager_secret.callback.secret_id
    redis_auth = google_secret_manager_secret.redis_auth.secret_id
    redis_ca   = google_secret_manager_secret.redis_ca.secret_id
    link       = google_secret_manager_secret.link.secret_id
  }
}

output "generated_dir" {
  description = "The kustomize component terraform wrote for knative/overlays/gke."
  value       = var.generated_dir
}

output "redis_cidr" {
  description = "The range Memorystore answers from (the NetworkPolicies allow egress to it)."
  value       = "${google_compute_global_address.redis.address}/${google_compute_global_address.redis.prefix_length}"
}

output "event_issuer" {
  description = "Issuer of the tokens the broker sends with events (the cluster's service account issuer)."
  value       = local.event_issuer
}

output "kafka" {
  description = "The broker's Managed Kafka cluster: bootstrap address, topic, and the CA pool that issues the Knative Kafka data plane's client certificate (mTLS)."
  value = {
    bootstrap   = local.kafka_bootstrap
    topic       = google_managed_kafka_topic.events.topic_id
    ca_pool     = google_privateca_ca_pool.kafka.name
    region      = var.region
    client_name = local.kafka_client_cn
  }
}

output "deployer" {
  description = "What the GitHub environment's variables take (docs/operations.md): WIF_PROVIDER and DEPLOYER_SA; null without github_repository."
  value = local.github ? {
    service_account            = google_service_account.deployer[0].email
    workload_identity_provider = google_iam_workload_identity_pool_provider.github[0].name
  } : null
}

output "image_signing" {
  description = "What CI signs with (docs/operations.md §11.2): COSIGN_KEY (cosign's KMS URI), BINAUTHZ_ATTESTOR, BINAUTHZ_KEYVERSION, and the public key (PEM) that verifies the signature — the variable COSIGN_PUBLIC_KEY of the environment that promotes from here."
  value = {
    cosign_key     = "gcpkms://${google_kms_crypto_key.image_signing.id}"
    key_version    = trimprefix(data.google_kms_crypto_key_version.image_signing.id, "//cloudkms.googleapis.com/v1/")
    attestor       = google_binary_authorization_attestor.ci.id
    public_key_pem = data.google_kms_crypto_key_version.image_signing.public_key[0].pem
  }
}

output "generated_secret" {
  description = "The Secret Manager secret holding the generated overlay component (JSON) that the deploy reads: the GitHub environment variable GENERATED_SECRET."
  value       = google_secret_manager_secret.generated.id
}
