locals {
  buckets = {
    input  = { name = "${var.project_id}-${var.name}-input", retention_days = var.input_retention_days }
    work   = { name = "${var.project_id}-${var.name}-work", retention_days = var.work_retention_days }
    output = { name = "${var.project_id}-${var.name}-output", retention_days = var.output_retention_days }
  }
}

resource "google_storage_bucket" "logs" {
  name                        = "${var.project_id}-${var.name}-access-logs"
  location                    = var.bucket_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !local.prod

  versioning {
    enabled = true
  }
  lifecycle_rule {
    condition {
      age = 90
    }
    action {
      type = "Delete"
    }
  }
}

resource "google_storage_bucket" "kscribe" {
  for_each = local.buckets

  name                        = each.value.name
  location                    = var.bucket_location
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !local.prod

  versioning {
    enabled = each.key == "output"
  }

  logging {
    log_bucket = google_storage_bucket.logs.name
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.retention_days > 0 ? [each.value.retention_days] : []
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  # The web page's uploads: the browser PUTs to a resumable session the api creates, from
  # the API's own domain only (no domain: no browser uploads, the rule is left out).
  dynamic "cors" {
    for_each = each.key == "input" && var.api_domain != "" ? [var.api_domain] : []
    content {
      origin          = ["https://${cors.value}"]
      method          = ["PUT"]
      response_header = ["Content-Type", "Content-Range", "Range"]
      max_age_seconds = 3600
    }
  }

  # Old versions of rewritten transcripts go after a week.
  dynamic "lifecycle_rule" {
    for_each = each.key == "output" ? [7] : []
    content {
      condition {
        days_since_noncurrent_time = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  labels = {
    app         = "kscribe"
    role        = each.key
    environment = var.environment
  }
}

# The api creates the web page's upload sessions, and only in tenants' upload prefixes; ingest
# makes each upload's one job from the bucket's notification, as for any tenant upload.
resource "google_storage_bucket_iam_member" "api_tenant_uploads" {
  bucket = google_storage_bucket.kscribe["input"].name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.function["api"].email}"
  condition {
    title      = "tenant-upload-prefixes-only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.kscribe["input"].name}/objects/tenants/\")"
  }
}
