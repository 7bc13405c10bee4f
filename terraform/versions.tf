terraform {
  required_version = ">= 1.6, < 2.0"

  # State lives in a versioned GCS bucket, never on a laptop: it holds secrets (the callback
  # secret, Redis's AUTH string). Partial configuration: the bucket and prefix come at init,
  #   terraform init -backend-config=environments/prod.gcs.tfbackend
  # and the bucket is made once with terraform/bootstrap (docs/operations.md §1.2).
  backend "gcs" {}

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.20"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    local = {
      source  = "hashicorp/local"
      version = "~> 2.5"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
