#!/usr/bin/env bash
# Sign one image digest the way the cluster's Binary Authorization policy requires
# (terraform/binauthz.tf), with the installation's Cloud KMS key (the private key never
# leaves Cloud KMS; `terraform output image_signing` gives the three values):
#   COSIGN_KEY=gcpkms://projects/…/cryptoKeys/image-signing          cosign (Sigstore) signature
#   BINAUTHZ_ATTESTOR=projects/…/attestors/kscribe-ci                 the attestor the policy requires
#   BINAUTHZ_KEYVERSION=projects/…/cryptoKeyVersions/1                 same key, its version
#   scripts/ci/sign-image.sh REGISTRY/PATH/NAME@sha256:…
set -euo pipefail
ref=$1
[[ $ref =~ @sha256:[0-9a-f]{64}$ ]] || { echo "::error::sign-image: $ref is not a digest reference" >&2; exit 1; }
: "${COSIGN_KEY:?COSIGN_KEY (gcpkms://…) is not set}"
: "${BINAUTHZ_ATTESTOR:?BINAUTHZ_ATTESTOR is not set}"
: "${BINAUTHZ_KEYVERSION:?BINAUTHZ_KEYVERSION is not set}"
cosign sign --yes --key "$COSIGN_KEY" "$ref"
gcloud container binauthz attestations sign-and-create \
  --artifact-url="$ref" --attestor="$BINAUTHZ_ATTESTOR" --keyversion="$BINAUTHZ_KEYVERSION"
echo "signed $ref (cosign $COSIGN_KEY; attestation by $BINAUTHZ_ATTESTOR)"
