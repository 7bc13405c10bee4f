locals {
  prod = var.environment == "prod"
}

# Nodes run as this account, not the Compute default (which has Editor).
resource "google_service_account" "nodes" {
  account_id   = "${var.name}-nodes"
  display_name = "kscribe GKE nodes"
}

resource "google_project_iam_member" "nodes" {
  for_each = toset([
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
  ])
  project = var.project_id
  role    = each.value
  member  = "serviceAccount:${google_service_account.nodes.email}"
}

resource "google_container_cluster" "kscribe" {
  name     = var.name
  location = var.region

  network    = google_compute_network.kscribe.id
  subnetwork = google_compute_subnetwork.kscribe.id

  # Node pools are managed below; the default one is removed right after creation.
  remove_default_node_pool = true
  initial_node_count       = 1
  # Only for the default pool that lives a moment; the real pools set the same below.
  node_config {
    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
  }

  deletion_protection = local.prod
  release_channel {
    channel = "REGULAR"
  }

  workload_identity_config {
    workload_pool = "${var.project_id}.svc.id.goog"
  }

  # Dataplane V2 enforces the NetworkPolicies in knative/overlays/gke.
  datapath_provider = "ADVANCED_DATAPATH"

  ip_allocation_policy {
    cluster_secondary_range_name  = "pods"
    services_secondary_range_name = "services"
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = var.master_cidr
  }

  # The control plane's DNS endpoint: reached with IAM (container.clusters.connect, in the
  # deployer's custom role kscribe_deployer) from anywhere, so GitHub-hosted runners, whose
  # addresses change, can deploy without being in master_authorized_networks (which still
  # gates the IP endpoint).
  control_plane_endpoints_config {
    dns_endpoint_config {
      allow_external_traffic = true
    }
  }

  master_authorized_networks_config {
    dynamic "cidr_blocks" {
      for_each = var.master_authorized_networks
      content {
        cidr_block   = cidr_blocks.value.cidr
        display_name = cidr_blocks.value.name
      }
    }
  }

  enable_shielded_nodes       = true
  enable_intranode_visibility = true

  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  addons_config {
    http_load_balancing {
      disabled = false
    }
  }

  logging_config {
    enable_components = ["SYSTEM_COMPONENTS", "WORKLOADS"]
  }

  monitoring_config {
    # POD: kube-state-metrics' pod metrics (KscribePodsPending); DCGM: the GPU nodes' NVIDIA
    # DCGM exporter (KscribeGpuIdle, GPU panels). monitoring/alerts-platform.yaml.
    enable_components = ["SYSTEM_COMPONENTS", "POD", "DCGM"]
    managed_prometheus {
      enabled = true
    }
  }

  resource_labels = {
    app         = "kscribe"
    environment = var.environment
  }
}

resource "google_container_node_pool" "cpu" {
  name     = "cpu"
  cluster  = google_container_cluster.kscribe.id
  location = var.region

  autoscaling {
    min_node_count = var.cpu_min_nodes
    max_node_count = var.cpu_max_nodes
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type = var.cpu_machine_type
    # extract requests 44 GiB of ephemeral storage per pod (two sources of up to 20 GiB and
    # their PCM, knative/base/services.yaml): 300 GB holds several beside the system's share.
    disk_size_gb    = 300
    disk_type       = "pd-balanced"
    image_type      = "COS_CONTAINERD"
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    metadata = {
      disable-legacy-endpoints = "true"
    }
    labels = {
      "kscribe.dev/pool" = "cpu"
    }
  }
}

resource "google_container_node_pool" "gpu" {
  name     = "gpu"
  cluster  = google_container_cluster.kscribe.id
  location = var.region

  # Scales to zero: a GPU node exists only while transcribe pods need one.
  initial_node_count = 0
  autoscaling {
    min_node_count  = 0
    max_node_count  = var.gpu_max_nodes
    location_policy = "ANY"
  }

  management {
    auto_repair  = true
    auto_upgrade = true
  }

  node_config {
    machine_type = var.gpu_machine_type
    # Image streaming: the GPU image (2.5-3.5 GB) starts from Artifact Registry while its
    # layers are still streaming instead of after a full pull (docs/operations.md, cold start).
    gcfs_config {
      enabled = true
    }
    disk_size_gb    = 100
    disk_type       = "pd-ssd"
    image_type      = "COS_CONTAINERD"
    spot            = var.gpu_spot
    service_account = google_service_account.nodes.email
    oauth_scopes    = ["https://www.googleapis.com/auth/cloud-platform"]

    guest_accelerator {
      type  = var.gpu_accelerator_type
      count = var.gpu_count
      gpu_driver_installation_config {
        gpu_driver_version = "LATEST"
      }
    }

    # Only pods that tolerate this (transcribe in the gke overlay) land on GPU nodes.
    taint {
      key    = "nvidia.com/gpu"
      value  = "present"
      effect = "NO_SCHEDULE"
    }

    workload_metadata_config {
      mode = "GKE_METADATA"
    }
    shielded_instance_config {
      enable_secure_boot          = true
      enable_integrity_monitoring = true
    }
    metadata = {
      disable-legacy-endpoints = "true"
    }
    labels = {
      "kscribe.dev/pool" = "gpu"
    }
  }
}
