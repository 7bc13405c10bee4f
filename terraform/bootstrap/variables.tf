variable "project_id" {
  description = "GCP project that holds the installation and its state."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid GCP project id."
  }
}

variable "location" {
  description = "Location of the state bucket (a region, dual-region or multi-region)."
  type        = string
  default     = "EUROPE-WEST4"
  validation {
    condition     = can(regex("^[A-Za-z0-9-]+$", var.location))
    error_message = "location must be a GCS location such as EUROPE-WEST4 or EU."
  }
}

variable "bucket_name" {
  description = "Name of the state bucket; empty: <project_id>-tfstate."
  type        = string
  default     = ""
  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be empty or a valid bucket name."
  }
}

variable "kms_key_name" {
  description = "Cloud KMS key (projects/…/cryptoKeys/…) that encrypts the state; empty: Google-managed encryption. The project's Cloud Storage service agent needs roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  type        = string
  default     = ""
  validation {
    condition     = var.kms_key_name == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be empty or a full Cloud KMS key name."
  }
}

variable "noncurrent_days" {
  description = "Days an overwritten state version is kept (to roll back a bad apply) before it is deleted; old versions hold old secrets too."
  type        = number
  default     = 90
  validation {
    condition     = var.noncurrent_days >= 7 && var.noncurrent_days <= 3650
    error_message = "noncurrent_days must be 7-3650."
  }
}
