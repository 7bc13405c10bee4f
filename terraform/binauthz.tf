# Supply chain at admission: the cluster admits a kscribe image only if CI signed its digest.
#
# CI (scripts/ci/push-image.sh, scripts/ci/promote-image.sh) signs each image digest with
# this installation's Cloud KMS key twice over: a cosign (Sigstore) signature stored beside
# the image in Artifact Registry, and a Binary Authorization attestation by the attestor
# below, both made with the same key version — the private key never leaves Cloud KMS.
#
# Enforcement is the project-singleton policy that the cluster evaluates
# (google_container_cluster.kscribe: PROJECT_SINGLETON_POLICY_ENFORCE): its default rule
# requires the attestor's attestation and blocks (ENFORCED_BLOCK_AND_AUDIT_LOG) every other
# image. Check-based platform policies (the Sigstore signature check) run under continuous
# validation, which audits running Pods but does not block admission, so the attestor is
# what enforces; docs/operations.md §12 says how to add the Sigstore check as a monitor.
#
# Allowed without an attestation: Google's own system images (global policy evaluation) and
# the third-party images of the platform kscribe runs on (var.binauthz_allowed_images:
# Knative, its Kafka data plane, Kourier's Envoy, cert-manager).

resource "google_kms_key_ring" "signing" {
  name     = "${var.name}-signing"
  location = var.region
}

resource "google_kms_crypto_key" "image_signing" {
  # An asymmetric signing key has no automatic rotation (Cloud KMS rotates symmetric keys
  # only); a new version is added by hand and to the attestor (docs/operations.md §12).
  #checkov:skip=CKV_GCP_43:asymmetric signing keys cannot rotate automatically
  name     = "image-signing"
  key_ring = google_kms_key_ring.signing.id
  purpose  = "ASYMMETRIC_SIGN"

  version_template {
    algorithm        = "EC_SIGN_P256_SHA256"
    protection_level = "HSM"
  }

  lifecycle {
    prevent_destroy = true
  }
}

# The key version CI signs with, and its public key (PEM) for the attestor. Its id,
# //cloudkms.googleapis.com/v1/projects/…/cryptoKeyVersions/N, is the public key id that
# `gcloud container binauthz attestations sign-and-create --keyversion` puts in a signature.
data "google_kms_crypto_key_version" "image_signing" {
  crypto_key = google_kms_crypto_key.image_signing.id
}

resource "google_container_analysis_note" "image_signed" {
  name = "${var.name}-image-signed"
  attestation_authority {
    hint {
      human_readable_name = "kscribe CI: image built, scanned and signed by .github/workflows/images.yml"
    }
  }
}

resource "google_binary_authorization_attestor" "ci" {
  name        = "${var.name}-ci"
  description = "Images CI built and signed (cosign and attestation with the image-signing KMS key)."
  attestation_authority_note {
    note_reference = google_container_analysis_note.image_signed.name
    public_keys {
      id = data.google_kms_crypto_key_version.image_signing.id
      pkix_public_key {
        public_key_pem      = data.google_kms_crypto_key_version.image_signing.public_key[0].pem
        signature_algorithm = data.google_kms_crypto_key_version.image_signing.public_key[0].algorithm
      }
    }
  }
}

resource "google_binary_authorization_policy" "kscribe" {
  description = "kscribe: only images CI signed (attestor ${var.name}-ci), plus Google's system images and the platform's allow-list."

  # Google-maintained system images (GKE add-ons, Managed Prometheus, GPU drivers) are
  # evaluated by Google's global policy.
  global_policy_evaluation_mode = "ENABLE"

  dynamic "admission_whitelist_patterns" {
    for_each = var.binauthz_allowed_images
    content {
      name_pattern = admission_whitelist_patterns.value
    }
  }

  default_admission_rule {
    evaluation_mode         = "REQUIRE_ATTESTATION"
    enforcement_mode        = "ENFORCED_BLOCK_AND_AUDIT_LOG"
    require_attestations_by = [google_binary_authorization_attestor.ci.name]
  }
}

# CI's side: sign with the key (cosign and the attestation), and write the attestation.
resource "google_kms_crypto_key_iam_member" "deployer_signs" {
  count         = local.github ? 1 : 0
  crypto_key_id = google_kms_crypto_key.image_signing.id
  role          = "roles/cloudkms.signerVerifier"
  member        = "serviceAccount:${google_service_account.deployer[0].email}"
}

resource "google_binary_authorization_attestor_iam_member" "deployer_views" {
  count    = local.github ? 1 : 0
  attestor = google_binary_authorization_attestor.ci.name
  role     = "roles/binaryauthorization.attestorsViewer"
  member   = "serviceAccount:${google_service_account.deployer[0].email}"
}

resource "google_container_analysis_note_iam_member" "deployer_attaches" {
  count  = local.github ? 1 : 0
  note   = google_container_analysis_note.image_signed.name
  role   = "roles/containeranalysis.notes.attacher"
  member = "serviceAccount:${google_service_account.deployer[0].email}"
}

# Writing the attestation creates an Artifact Analysis occurrence in this project: there is
# no narrower scope for it than the project.
resource "google_project_iam_member" "deployer_attests" {
  count   = local.github ? 1 : 0
  project = var.project_id
  role    = "roles/containeranalysis.occurrences.editor"
  member  = "serviceAccount:${google_service_account.deployer[0].email}"
}
