project_id            = "my-kscribe-prod"
region                = "europe-west4"
bucket_location       = "EU"
environment           = "prod"
model                 = "small"
gpu_accelerator_type  = "nvidia-l4"
gpu_machine_type      = "g2-standard-8"
gpu_max_nodes         = 8
cpu_min_nodes         = 1
cpu_max_nodes         = 6
redis_memory_gb       = 5
work_retention_days   = 3
output_retention_days = 365
image_tag             = "v0.1.0"
api_domain            = "transcribe.example.com"
github_repository     = "my-org/kscribe"
deploy_refs           = ["refs/tags/v*"]
github_environment    = "production"
master_authorized_networks = [
  { cidr = "203.0.113.0/24", name = "office" },
  { cidr = "198.51.100.0/24", name = "ci" },
]
