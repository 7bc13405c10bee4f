# One Google service account per function, bound to its Kubernetes service account
# (knative/base/serviceaccounts.yaml) through Workload Identity, with only what its stage
# needs. No primitive (owner/editor/viewer) role anywhere.
locals {
  functions = ["ingest", "extract", "transcribe", "diarize", "publish", "notify", "dead-letter", "api", "reconcile"]

  # function → bucket → role
  #   ingest reads no object: it validates the notification's payload and checks that the
  #   output bucket exists (storage.buckets.get, the probe role below); extract reads the
  #   source and writes chunks; transcribe reads chunks and writes chunk transcripts; publish
  #   reads those, writes the transcripts, and deletes the job's work objects once it
  #   succeeded (objectUser); api reads sources it is asked about and transcripts it serves,
  #   and deletes a cancelled job's work objects (objectUser on work: list and delete);
  #   api also stores OpenAI-route uploads under tenants/<t>/openai/ and purges jobs at a
  #   tenant's request (objectUser on input and output); reconcile reads chunk manifests to
  #   find the chunks a job is missing and purges jobs whose retention is over (deletes in
  #   every bucket: objectUser). notify and dead-letter touch no bucket.
  object_roles = {
    extract    = { input = "roles/storage.objectViewer", work = "roles/storage.objectUser" }
    transcribe = { work = "roles/storage.objectUser" }
    diarize    = { work = "roles/storage.objectUser" }
    publish    = { work = "roles/storage.objectUser", output = "roles/storage.objectUser" }
    api        = { input = "roles/storage.objectUser", work = "roles/storage.objectUser", output = "roles/storage.objectUser" }
    reconcile  = { input = "roles/storage.objectUser", work = "roles/storage.objectUser", output = "roles/storage.objectUser" }
  }
  object_bindings = merge([
    for fn, buckets in local.object_roles : {
      for bucket, role in buckets : "${fn}-${bucket}" => { function = fn, bucket = bucket, role = role }
    }
  ]...)

  # Readiness probes check that the buckets exist (storage.buckets.get, and nothing more).
  probes_buckets = ["ingest", "extract", "transcribe", "diarize", "publish", "api", "reconcile"]
  probe_bindings = merge([
    for fn in local.probes_buckets : {
      for bucket in keys(local.buckets) : "${fn}-${bucket}" => { function = fn, bucket = bucket }
    }
  ]...)
}

resource "google_service_account" "function" {
  for_each     = toset(local.functions)
  account_id   = "${var.name}-${each.key}"
  display_name = "kscribe ${each.key} function"
}

resource "google_service_account_iam_member" "workload_identity" {
  for_each           = toset(local.functions)
  service_account_id = google_service_account.function[each.key].name
  role               = "roles/iam.workloadIdentityUser"
  member             = "serviceAccount:${var.project_id}.svc.id.goog[${var.name}/kscribe-${each.key}]"
}

resource "google_storage_bucket_iam_member" "objects" {
  for_each = local.object_bindings
  bucket   = google_storage_bucket.kscribe[each.value.bucket].name
  role     = each.value.role
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

resource "google_project_iam_custom_role" "bucket_probe" {
  role_id     = replace("${var.name}_bucket_probe", "-", "_")
  title       = "kscribe bucket probe"
  description = "Read a bucket's metadata, for readiness checks."
  permissions = ["storage.buckets.get"]
}

resource "google_storage_bucket_iam_member" "probe" {
  for_each = local.probe_bindings
  bucket   = google_storage_bucket.kscribe[each.value.bucket].name
  role     = google_project_iam_custom_role.bucket_probe.id
  member   = "serviceAccount:${google_service_account.function[each.value.function].email}"
}

# Result links (kscribe/delivery/links.py, KSCRIBE_LINKS=gcs): the api signs GCS V4 URLs through the
# IAM signBlob API as itself — Workload Identity gives it no private key. This grants that
# on the api's own account only: it cannot sign as any other account, and no other function
# can sign at all.
resource "google_service_account_iam_member" "api_signs_links" {
  service_account_id = google_service_account.function["api"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.function["api"].email}"
}
