# The broker's durable store: Google Cloud Managed Service for Apache Kafka, behind Knative's
# Kafka broker (knative/overlays/gke/kafka-broker.yaml). docs/operations.md ("The broker")
# compares it with the other durable brokers Knative supports on GKE.
#
# Managed Kafka is reached through Private Service Connect endpoints it creates in the
# cluster's subnet, with DNS for its bootstrap address in the VPC; it takes only TLS with
# SASL, as a Google principal that holds roles/managedkafka.client.

resource "google_managed_kafka_cluster" "events" {
  cluster_id = "${var.name}-events"
  location   = var.region

  # The smallest cluster Managed Kafka makes (3 vCPU, 1 GiB per vCPU): kscribe's events are a
  # few hundred bytes each, a handful per job.
  capacity_config {
    vcpu_count   = var.kafka_vcpus
    memory_bytes = var.kafka_vcpus * 1024 * 1024 * 1024
  }

  gcp_config {
    access_config {
      network_configs {
        subnet = google_compute_subnetwork.kscribe.id
      }
    }
  }

  rebalance_config {
    mode = "AUTO_REBALANCE_ON_SCALE_UP"
  }

  labels = {
    app         = "kscribe"
    environment = var.environment
  }
}

# The broker's one topic (the Broker names it with kafka.eventing.knative.dev/external.topic,
# so Knative neither makes nor deletes it). Three replicas in three zones, and a write is
# acknowledged only once two have it: one broker (or zone) lost loses no accepted event.
resource "google_managed_kafka_topic" "events" {
  topic_id = "${var.name}-events"
  cluster  = google_managed_kafka_cluster.events.cluster_id
  location = var.region
  # Partitions bound the dispatcher's parallel consumers and, for a KEDA-scaled puller,
  # its replicas (docs/capacity.md): 64 covers the ~52 GPU pods of today's peak. Partitions
  # can be added later, never removed.
  partition_count    = 64
  replication_factor = 3

  configs = {
    "min.insync.replicas" = "2"
    "cleanup.policy"      = "delete"
    # A week: longer than any retry or outage kscribe waits out, short enough to stay small.
    "retention.ms" = "604800000"
  }
}

# Knative's Kafka data plane (kafka-broker-receiver and -dispatcher in knative-eventing) is
# shared by every broker in the cluster and cannot use Workload Identity for Kafka's SASL
# login, so it authenticates with a key of its own service account, which can do nothing but
# connect to Managed Kafka clusters in this project. The key lives in Secret Manager and in
# the state (like the other secrets, §8.1); terraform/sync-secrets.sh copies it into the
# Secret kscribe-kafka. Rotate it with `terraform apply -replace=google_service_account_key.broker`.
resource "google_service_account" "broker" {
  account_id   = "${var.name}-broker"
  display_name = "kscribe Knative Kafka broker"
}

resource "google_project_iam_member" "broker_kafka_client" {
  project = var.project_id
  role    = "roles/managedkafka.client"
  member  = "serviceAccount:${google_service_account.broker.email}"
}

resource "google_service_account_key" "broker" {
  service_account_id = google_service_account.broker.name
}

resource "google_secret_manager_secret" "kafka_key" {
  secret_id = "${var.name}-kafka-broker-key"
  replication {
    auto {}
  }
  labels = {
    app = "kscribe"
  }
}

# Managed Kafka's SASL/PLAIN: the user is the service account's email, the password the
# base64 of its JSON key (which is what private_key already holds).
resource "google_secret_manager_secret_version" "kafka_key" {
  secret      = google_secret_manager_secret.kafka_key.id
  secret_data = google_service_account_key.broker.private_key
}

locals {
  kafka_bootstrap = "bootstrap.${google_managed_kafka_cluster.events.cluster_id}.${var.region}.managedkafka.${var.project_id}.cloud.goog:9092"
}
