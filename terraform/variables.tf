variable "project_id" {
  description = "GCP project that holds the installation."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid GCP project id."
  }
}

variable "region" {
  description = "Region for the cluster, buckets, Redis and the registry."
  type        = string
  default     = "europe-west4"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like europe-west4."
  }
}

variable "name" {
  description = "Prefix of every resource name; also the Kubernetes namespace."
  type        = string
  default     = "kscribe"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.name))
    error_message = "name must be 3-20 lower-case letters, digits or dashes."
  }
}

variable "environment" {
  description = "dev, staging or prod: prod turns on deletion protection and highly available Redis; staging is sized and kept like dev, and is where main deploys to."
  type        = string
  default     = "dev"
  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "bucket_location" {
  description = "Location of the buckets (a region, dual-region or multi-region); the upload trigger lives there too."
  type        = string
  default     = "EUROPE-WEST4"
  validation {
    condition     = can(regex("^[A-Za-z0-9-]+$", var.bucket_location))
    error_message = "bucket_location must be a GCS location such as EUROPE-WEST4 or EU."
  }
}

variable "work_retention_days" {
  description = "Days before intermediate objects (audio chunks, chunk transcripts) are deleted."
  type        = number
  default     = 3
  validation {
    condition     = var.work_retention_days >= 1 && var.work_retention_days <= 30
    error_message = "work_retention_days must be 1-30."
  }
}

variable "output_retention_days" {
  description = "Days before transcripts are deleted from the output bucket; 0 keeps them."
  type        = number
  default     = 0
  validation {
    condition     = var.output_retention_days >= 0
    error_message = "output_retention_days must be 0 or more."
  }
}

# Bounded, like the purge promise (README, "Retention and purges"): a job may ask to be kept
# at most KSCRIBE_MAX_RETENTION_DAYS (30), so no upload outlives 30 days by default. Kept
# forever, 10,000 hours of video a day would add about 12 TB to the bucket every day.
variable "input_retention_days" {
  description = "Days before uploaded videos are deleted from the input bucket (1-365; at least KSCRIBE_MAX_RETENTION_DAYS)."
  type        = number
  default     = 30
  validation {
    condition     = var.input_retention_days >= 1 && var.input_retention_days <= 365
    error_message = "input_retention_days must be 1-365: inputs are never kept forever."
  }
}

variable "subnet_cidr" {
  description = "Primary range of the cluster's subnet (nodes)."
  type        = string
  default     = "10.10.0.0/20"
  validation {
    condition     = can(cidrhost(var.subnet_cidr, 0))
    error_message = "subnet_cidr must be a CIDR range."
  }
}

variable "pods_cidr" {
  description = "Secondary range for pods."
  type        = string
  default     = "10.20.0.0/16"
  validation {
    condition     = can(cidrhost(var.pods_cidr, 0))
    error_message = "pods_cidr must be a CIDR range."
  }
}

variable "services_cidr" {
  description = "Secondary range for Kubernetes services."
  type        = string
  default     = "10.30.0.0/20"
  validation {
    condition     = can(cidrhost(var.services_cidr, 0))
    error_message = "services_cidr must be a CIDR range."
  }
}

variable "master_cidr" {
  description = "/28 range for the private control plane."
  type        = string
  default     = "172.16.0.0/28"
  validation {
    condition     = can(cidrhost(var.master_cidr, 0)) && endswith(var.master_cidr, "/28")
    error_message = "master_cidr must be a /28."
  }
}

variable "master_authorized_networks" {
  description = "CIDR ranges allowed to reach the Kubernetes API (your office, CI runners)."
  type        = list(object({ cidr = string, name = string }))
  default     = []
  validation {
    condition     = alltrue([for n in var.master_authorized_networks : can(cidrhost(n.cidr, 0))])
    error_message = "every master_authorized_networks cidr must be a CIDR range."
  }
}

variable "cpu_machine_type" {
  description = "Machine type of the CPU pool (every function but transcribe, and the system)."
  type        = string
  default     = "e2-standard-4"
  validation {
    condition     = can(regex("^[a-z0-9]+-[a-z]+-[0-9]+$", var.cpu_machine_type))
    error_message = "cpu_machine_type must be a machine type such as e2-standard-4."
  }
}

variable "cpu_min_nodes" {
  description = "Minimum CPU nodes per zone (system pods and the Knative control plane live here)."
  type        = number
  default     = 1
  validation {
    condition     = var.cpu_min_nodes >= 1
    error_message = "cpu_min_nodes must be at least 1."
  }
}

variable "cpu_max_nodes" {
  description = "Maximum CPU nodes per zone."
  type        = number
  default     = 4
  validation {
    condition     = var.cpu_max_nodes >= 1
    error_message = "cpu_max_nodes must be at least 1."
  }
}

variable "gpu_machine_type" {
  description = "Machine type of the GPU pool; must support the accelerator (g2-* for L4, a2-* for A100)."
  type        = string
  default     = "g2-standard-8"
  validation {
    condition     = can(regex("^(g2|a2|a3|n1)-", var.gpu_machine_type))
    error_message = "gpu_machine_type must be a GPU-capable family: g2, a2, a3 or n1."
  }
}

variable "gpu_accelerator_type" {
  description = "GPU model for transcribe, as GKE names it."
  type        = string
  default     = "nvidia-l4"
  validation {
    condition     = can(regex("^nvidia-", var.gpu_accelerator_type))
    error_message = "gpu_accelerator_type must be an NVIDIA accelerator such as nvidia-l4."
  }
}

variable "gpu_count" {
  description = "GPUs per GPU node (each transcribe pod takes one)."
  type        = number
  default     = 1
  validation {
    condition     = contains([1, 2, 4, 8], var.gpu_count)
    error_message = "gpu_count must be 1, 2, 4 or 8."
  }
}

variable "gpu_max_nodes" {
  description = "Maximum GPU nodes per zone. The pool's minimum is always 0: it scales to zero."
  type        = number
  default     = 2
  validation {
    condition     = var.gpu_max_nodes >= 1 && var.gpu_max_nodes <= 64
    error_message = "gpu_max_nodes must be 1-64."
  }
}

variable "gpu_spot" {
  description = "Use Spot VMs for the GPU pool (cheaper; a preempted chunk is redelivered)."
  type        = bool
  default     = false
}

variable "redis_memory_gb" {
  description = "Memorystore capacity in GB."
  type        = number
  default     = 1
  validation {
    condition     = var.redis_memory_gb >= 1 && var.redis_memory_gb <= 300
    error_message = "redis_memory_gb must be 1-300."
  }
}

variable "kafka_vcpus" {
  description = "vCPUs of the Managed Kafka cluster behind the broker (1 GiB of memory each); 3 is the smallest Managed Kafka makes."
  type        = number
  default     = 3
  validation {
    condition     = var.kafka_vcpus >= 3 && var.kafka_vcpus <= 60
    error_message = "kafka_vcpus must be 3-60."
  }
}

variable "model" {
  description = "Default transcription model (baked into the GPU image)."
  type        = string
  default     = "small"
  validation {
    condition     = contains(["tiny.en", "base", "small"], var.model)
    error_message = "model must be tiny.en, base or small."
  }
}

variable "image_tag" {
  description = "Tag of the kscribe images pushed to the registry."
  type        = string
  default     = "latest"
  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid container image tag."
  }
}

variable "api_domain" {
  description = "Public DNS name of the HTTP API; empty: no DomainMapping (reach it through the Knative ingress's default domain)."
  type        = string
  default     = ""
  validation {
    condition     = var.api_domain == "" || can(regex("^([a-z0-9-]+\\.)+[a-z]{2,}$", var.api_domain))
    error_message = "api_domain must be empty or a DNS name such as transcribe.example.com."
  }
}

variable "generated_dir" {
  description = "Where the Knative overlay's generated kustomize component is written."
  type        = string
  default     = "../knative/overlays/gke/generated"
  validation {
    condition     = length(var.generated_dir) > 0
    error_message = "generated_dir must not be empty."
  }
}

variable "create_upload_trigger" {
  description = "Create the Eventarc trigger from the input bucket to ingest. Leave false on the very first apply, before Knative and the ingest Service exist in the cluster."
  type        = bool
  default     = true
}

variable "github_repository" {
  description = "owner/name of the GitHub repository whose workflows may deploy this installation (Workload Identity Federation, terraform/deploy.tf); empty: none."
  type        = string
  default     = ""
  validation {
    condition     = var.github_repository == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$", var.github_repository))
    error_message = "github_repository must be owner/name, or empty."
  }
}

variable "deploy_refs" {
  description = "Git refs whose workflows may act as the deployer: exact (refs/heads/main) or a prefix ending in * (refs/tags/v*)."
  type        = list(string)
  default     = ["refs/heads/main"]
  validation {
    condition     = length(var.deploy_refs) > 0 && alltrue([for r in var.deploy_refs : can(regex("^refs/(heads|tags)/[A-Za-z0-9._/-]+[*]?$", r))])
    error_message = "deploy_refs must be refs/heads/… or refs/tags/… (a trailing * for a prefix)."
  }
}

variable "github_environment" {
  description = "The GitHub environment whose deploy jobs may act as the deployer (staging, production)."
  type        = string
  default     = "staging"
  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+$", var.github_environment))
    error_message = "github_environment must be a GitHub environment name."
  }
}

variable "binauthz_allowed_images" {
  description = "Image name patterns Binary Authorization admits without CI's attestation: the platform's third-party images (Knative, its Kafka data plane, Kourier's Envoy, cert-manager). Everything else must be signed by CI (terraform/binauthz.tf)."
  type        = list(string)
  default = [
    "gcr.io/knative-releases/**",
    "docker.io/envoyproxy/**",
    "quay.io/jetstack/**",
  ]
  validation {
    condition     = alltrue([for p in var.binauthz_allowed_images : can(regex("^[a-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/*@:-]+$", p)) && !can(regex("^[^/]+/[*]+$", p))])
    error_message = "binauthz_allowed_images must be registry/path patterns; a whole registry (host/**) is too broad."
  }
}

variable "image_readers" {
  description = "Members (serviceAccount:…) that may pull this installation's images: on staging, production's deployer, which copies the digest staging tested into production's registry (.github/workflows/deploy.yml, promote)."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for m in var.image_readers : can(regex("^serviceAccount:[a-z0-9-]+@[a-z0-9-]+\\.iam\\.gserviceaccount\\.com$", m))])
    error_message = "image_readers must be service accounts (serviceAccount:NAME@PROJECT.iam.gserviceaccount.com)."
  }
}
