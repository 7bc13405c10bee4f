# Where main deploys to (.github/workflows/deploy.yml): prod's shape at dev's size.
project_id           = "my-kscribe-staging"
region               = "europe-west4"
bucket_location      = "EUROPE-WEST4"
environment          = "staging"
model                = "small"
gpu_accelerator_type = "nvidia-l4"
gpu_machine_type     = "g2-standard-8"
gpu_max_nodes        = 2
gpu_spot             = true
cpu_max_nodes        = 3
work_retention_days  = 1
api_domain           = "transcribe.staging.example.com"
github_repository    = "my-org/kscribe"
deploy_refs          = ["refs/heads/main"]
github_environment   = "staging"
master_authorized_networks = [
  { cidr = "203.0.113.0/24", name = "office" },
]
