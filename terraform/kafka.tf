# The broker's durable store: Google Cloud Managed Service for Apache Kafka, behind Knative's
# Kafka broker (knative/overlays/gke/kafka-broker.yaml). docs/operations.md ("The broker")
# compares it with the other durable brokers Knative supports on GKE.
#
# Managed Kafka is reached through Private Service Connect endpoints it creates in the
# cluster's subnet, with DNS for its bootstrap address in the VPC; it takes only TLS, with
# SASL as a Google principal or with a client certificate its trust config accepts (mTLS).

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

  # Clients may also log in with a certificate from this pool (mTLS; see below).
  tls_config {
    trust_config {
      cas_configs {
        ca_pool = google_privateca_ca_pool.kafka.id
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

# Knative's Kafka data plane (kafka-broker-receiver and -dispatcher in knative-eventing) logs in
# with what its auth Secret holds: SASL PLAIN/SCRAM or a TLS client certificate
# (eventing-kafka-broker's security package; no OAUTHBEARER, so no Workload Identity). SASL
# PLAIN to Managed Kafka means a service-account key: organisations created since 2024 forbid
# creating one (iam.disableServiceAccountKeyCreation), and where allowed it never expires and
# sits in the state. So the broker authenticates with mTLS instead: a short-lived client
# certificate (30 days) from a private CA pool that Managed Kafka trusts, issued by
# terraform/sync-secrets.sh from a key that never leaves the operator's pipe and is never in
# the state. An mTLS principal is authorised by Kafka ACLs, not IAM: the ACLs below let it use
# the events topic and the broker's consumer groups, nothing else.
resource "google_privateca_ca_pool" "kafka" {
  name     = "${var.name}-kafka-clients"
  location = var.region
  # DevOps tier: no CRLs or certificate records, which short-lived certificates do not need.
  tier = "DEVOPS"
  publishing_options {
    publish_ca_cert = false
    publish_crl     = false
  }
  issuance_policy {
    maximum_lifetime = "2592000s" # 30 days
    allowed_key_types {
      elliptic_curve {
        signature_algorithm = "ECDSA"
      }
    }
  }
  labels = {
    app = "kscribe"
  }
}

resource "google_privateca_certificate_authority" "kafka" {
  pool                     = google_privateca_ca_pool.kafka.name
  certificate_authority_id = "${var.name}-kafka-clients"
  location                 = var.region
  type                     = "SELF_SIGNED"
  lifetime                 = "315360000s" # 10 years; its key never leaves Cloud KMS
  deletion_protection      = true
  config {
    subject_config {
      subject {
        organization = "kscribe"
        common_name  = "${var.name} Kafka clients"
      }
    }
    x509_config {
      ca_options {
        is_ca = true
      }
      key_usage {
        base_key_usage {
          cert_sign = true
          crl_sign  = true
        }
        extended_key_usage {}
      }
    }
  }
  key_spec {
    algorithm = "EC_P256_SHA256"
  }
}

# Managed Kafka reads the pool's CA certificates to trust clients' certificates.
resource "google_privateca_ca_pool_iam_member" "kafka_reads_pool" {
  ca_pool = google_privateca_ca_pool.kafka.id
  role    = "roles/privateca.poolReader"
  member  = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-managedkafka.iam.gserviceaccount.com"
}

locals {
  # The broker's certificate subject; Kafka's default principal is its distinguished name.
  kafka_client_cn        = "${var.name}-broker"
  kafka_client_principal = "User:CN=${var.name}-broker"
}

resource "google_managed_kafka_acl" "broker" {
  for_each = {
    topic          = "topic/${google_managed_kafka_topic.events.topic_id}"
    consumer_group = "consumerGroupPrefixed/knative-trigger-"
  }

  acl_id   = each.value
  cluster  = google_managed_kafka_cluster.events.cluster_id
  location = var.region
  acl_entries {
    principal       = local.kafka_client_principal
    permission_type = "ALLOW"
    operation       = "ALL"
    host            = "*"
  }
}

locals {
  kafka_bootstrap = "bootstrap.${google_managed_kafka_cluster.events.cluster_id}.${var.region}.managedkafka.${var.project_id}.cloud.goog:9092"
}
