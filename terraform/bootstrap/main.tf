# Terraform state holds secrets (the callback secret, Redis's AUTH string) in plain text: whoever
# reads an object here reads them. So: no public access ever, one access model (IAM, no ACLs),
# every write kept as a version to recover from a bad apply, old versions deleted after a
# while, and optionally a key of your own. Grant roles/storage.objectUser on this bucket only
# to the people and CI identity that run terraform.
resource "google_storage_bucket" "state" {
  # Access logs would need a bucket of their own; reads of the state are recorded by Cloud
  # Audit Logs (Data Access logs for Cloud Storage), which docs/operations.md turns on.
  #checkov:skip=CKV_GCP_62:reads are audited with Data Access audit logs, not a second bucket
  name                        = var.bucket_name != "" ? var.bucket_name : "${var.project_id}-tfstate"
  location                    = var.location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Never with objects in it: the state is the only record of what was created.
  force_destroy = false

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_days
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == "" ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  labels = {
    app  = "kscribe"
    role = "terraform-state"
  }
}
