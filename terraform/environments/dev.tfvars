project_id           = "my-kscribe-dev"
region               = "europe-west4"
bucket_location      = "EUROPE-WEST4"
environment          = "dev"
model                = "tiny.en"
gpu_accelerator_type = "nvidia-l4"
gpu_machine_type     = "g2-standard-8"
gpu_max_nodes        = 1
gpu_spot             = true
cpu_max_nodes        = 2
work_retention_days  = 1
master_authorized_networks = [
  { cidr = "203.0.113.0/24", name = "office" },
]
