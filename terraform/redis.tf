# Job state. AUTH and in-transit encryption on; reachable only from the cluster's VPC.
resource "google_redis_instance" "kscribe" {
  name           = var.name
  region         = var.region
  tier           = local.prod ? "STANDARD_HA" : "BASIC"
  memory_size_gb = var.redis_memory_gb
  redis_version  = "REDIS_7_2"

  authorized_network      = google_compute_network.kscribe.id
  connect_mode            = "PRIVATE_SERVICE_ACCESS"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"

  # Job state must survive a restart: snapshots every hour.
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
