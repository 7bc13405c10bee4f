resource "google_compute_network" "kscribe" {
  name                    = var.name
  auto_create_subnetworks = false
}

resource "google_compute_subnetwork" "kscribe" {
  name          = "${var.name}-${var.region}"
  network       = google_compute_network.kscribe.id
  region        = var.region
  ip_cidr_range = var.subnet_cidr
  # Nodes have no public IPs: Google APIs (GCS, Artifact Registry) through private access.
  private_ip_google_access = true

  secondary_ip_range {
    range_name    = "pods"
    ip_cidr_range = var.pods_cidr
  }
  secondary_ip_range {
    range_name    = "services"
    ip_cidr_range = var.services_cidr
  }

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Outbound internet for private nodes: callbacks to customers' endpoints.
resource "google_compute_router" "kscribe" {
  name    = var.name
  network = google_compute_network.kscribe.id
  region  = var.region
}

resource "google_compute_router_nat" "kscribe" {
  name                               = var.name
  router                             = google_compute_router.kscribe.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"

  log_config {
    enable = true
    filter = "ERRORS_ONLY"
  }
}

# Nothing reaches the nodes from outside unless allowed: GKE adds its own, more specific
# allow rules (control plane, health checks) above this one.
resource "google_compute_firewall" "deny_ingress" {
  name      = "${var.name}-deny-ingress"
  network   = google_compute_network.kscribe.id
  direction = "INGRESS"
  priority  = 65534

  deny {
    protocol = "all"
  }
  source_ranges = ["0.0.0.0/0"]

  log_config {
    metadata = "INCLUDE_ALL_METADATA"
  }
}

# Google APIs over Private Google Access on private.googleapis.com's range. The functions'
# NetworkPolicies (knative/components/network-policies) allow Google APIs on that range and
# nowhere else, so the VPC resolves every *.googleapis.com name there, and the range is
# routed to Google explicitly rather than through whatever default route the VPC has.
locals {
  private_google_apis_cidr = "199.36.153.8/30"
}

resource "google_dns_managed_zone" "googleapis" {
  name        = "${var.name}-googleapis"
  dns_name    = "googleapis.com."
  description = "kscribe: *.googleapis.com on private.googleapis.com (Private Google Access)"
  visibility  = "private"

  private_visibility_config {
    networks {
      network_url = google_compute_network.kscribe.id
    }
  }

  labels = {
    app = "kscribe"
  }
}

resource "google_dns_record_set" "private_googleapis" {
  managed_zone = google_dns_managed_zone.googleapis.name
  name         = "private.googleapis.com."
  type         = "A"
  ttl          = 300
  rrdatas      = [for i in range(4) : cidrhost(local.private_google_apis_cidr, i)]
}

resource "google_dns_record_set" "googleapis" {
  managed_zone = google_dns_managed_zone.googleapis.name
  name         = "*.googleapis.com."
  type         = "CNAME"
  ttl          = 300
  rrdatas      = ["private.googleapis.com."]
}

resource "google_compute_route" "private_google_apis" {
  name             = "${var.name}-private-google-apis"
  network          = google_compute_network.kscribe.id
  dest_range       = local.private_google_apis_cidr
  next_hop_gateway = "default-internet-gateway"
  description      = "Private Google Access: private.googleapis.com"
}
