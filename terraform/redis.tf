# Job state. AUTH and in-transit encryption on; reachable only from the cluster's VPC.
#
# How much a Redis fault can lose (docs/operations.md, "Faults and recovery"):
# - prod is the Standard tier: a replica in another zone, kept by asynchronous replication,
#   takes over automatically when the primary fails or is maintained; what is lost is what
#   had not reached the replica, normally well under a second of writes.
# - Memorystore for Redis offers no AOF (append-only file) persistence, on any version: only
#   RDB snapshots, at best hourly. So were both nodes lost at once, the instance comes back
#   with the last snapshot, up to an hour old. AOF with fsync every second exists on
#   Memorystore for Valkey and for Redis Cluster, which need IAM authentication in kscribe's
#   Redis client and Private Service Connect: a migration, described in docs/operations.md.
# - dev is the Basic tier: one node; a restart comes back from the last snapshot.
resource "google_redis_instance" "kscribe" {
  name           = var.name
  region         = var.region
  tier           = local.prod ? "STANDARD_HA" : "BASIC"
  memory_size_gb = var.redis_memory_gb
  redis_version  = "REDIS_7_2"
  # Standard tier: one replica for failover, not for reads (kscribe reads its own writes).
  read_replicas_mode = local.prod ? "READ_REPLICAS_DISABLED" : null

  authorized_network      = google_compute_network.kscribe.id
  connect_mode            = "PRIVATE_SERVICE_ACCESS"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"

  # Job state is not a cache: Memorystore's default maxmemory-policy, volatile-lru, would
  # silently evict job records (they carry a TTL) once memory is full. noeviction makes a full
  # instance refuse writes instead, which kscribe reports as failed steps and the
  # KscribeRedisMemoryHigh alert (monitoring/alerts.yaml) warns of at 80 %.
  redis_configs = {
    "maxmemory-policy" = "noeviction"
  }

  # Job state must survive a restart: snapshots every hour, the shortest period offered.
  persistence_config {
    persistence_mode    = "RDB"
    rdb_snapshot_period = "ONE_HOUR"
  }

  maintenance_policy {
    weekly_maintenance_window {
      day = "SUNDAY"
      start_time {
        hours   = 3
        minutes = 0
      }
    }
  }

  labels = {
    app         = "kscribe"
    environment = var.environment
  }

  depends_on = [google_service_networking_connection.redis]
}

resource "google_compute_global_address" "redis" {
  name          = "${var.name}-redis"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 24
  network       = google_compute_network.kscribe.id
}

resource "google_service_networking_connection" "redis" {
  network                 = google_compute_network.kscribe.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.redis.name]
}
