# The bucket that holds kscribe's Terraform state, made once per project before the main
# configuration's `terraform init`. This configuration keeps its own state locally on
# purpose: it holds one bucket's settings and no secret, and it cannot live in the bucket it
# creates. (Or make the same bucket with gcloud: docs/operations.md §1.2.)
terraform {
  required_version = ">= 1.6, < 2.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.10"
    }
  }
}

provider "google" {
  project = var.project_id
}
