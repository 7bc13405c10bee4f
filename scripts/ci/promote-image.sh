#!/usr/bin/env bash
# Promote one image by digest: no build, the bytes staging ran are what production runs.
#   scripts/ci/promote-image.sh BUILD_DIGEST_FILE TARGET_REGISTRY/PATH/NAME DIGEST_DIR
# BUILD_DIGEST_FILE is the build's record (artifact digest-NAME of the main branch's run):
# one line SOURCE_REGISTRY/PATH/NAME@sha256:…. The script
#   1. verifies the build's cosign signature on that digest against $SOURCE_PUBLIC_KEY (the
#      build environment's public key, PEM file) — an image CI did not sign is not promoted;
#   2. copies it with `cosign copy` (manifest and signatures as they are, so the digest is
#      unchanged) to TARGET:<commit sha> (and :<version> on a v* tag);
#   3. asks the target registry for the digest and fails unless it is the build's;
#   4. writes DIGEST_DIR/NAME = TARGET@sha256:<the build's digest> (what scripts/rollout.py pins);
#   5. signs it for the target cluster's policy (scripts/ci/sign-image.sh; COSIGN=off skips).
set -euo pipefail
record=$1 target=$2 digests=$3
source_ref=$(tr -d '[:space:]' < "$record")
if [[ ! $source_ref =~ ^([a-z0-9.-]+(:[0-9]+)?/[A-Za-z0-9._/-]+)@(sha256:[0-9a-f]{64})$ ]]; then
  echo "::error::promote: $record does not hold REGISTRY/PATH/NAME@sha256:<64 hex>: '$source_ref'" >&2
  exit 1
fi
digest=${BASH_REMATCH[3]}
name=${BASH_REMATCH[1]##*/}
if [[ ${target##*/} != "$name" ]]; then
  echo "::error::promote: the build's image is $name, the target is ${target##*/}" >&2
  exit 1
fi
sha=${GITHUB_SHA:?GITHUB_SHA is not set}
: "${SOURCE_PUBLIC_KEY:?SOURCE_PUBLIC_KEY (the public key file of the build environment) is not set}"
cosign verify --key "$SOURCE_PUBLIC_KEY" "$source_ref" > /dev/null
tags=("$sha")
if [[ ${GITHUB_REF_TYPE:-} == tag && ${GITHUB_REF_NAME:-} == v* ]]; then
  tags+=("$GITHUB_REF_NAME")
fi
for tag in "${tags[@]}"; do
  cosign copy --force "$source_ref" "$target:$tag"
done
copied=$(gcloud artifacts docker images describe "$target:$sha" --format='value(image_summary.digest)')
if [[ $copied != "$digest" ]]; then
  echo "::error::promote: $target:$sha is $copied, the build was $digest" >&2
  exit 1
fi
mkdir -p "$digests"
printf '%s\n' "$target@$digest" > "$digests/$name"
echo "$name: $source_ref → $target@$digest (tags: ${tags[*]})"
if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
  echo "- \`$target@$digest\` promoted from \`$source_ref\` (tags: ${tags[*]})" >> "$GITHUB_STEP_SUMMARY"
fi
if [[ ${COSIGN:-on} != off ]]; then
  "$(dirname "$0")/sign-image.sh" "$target@$digest"
fi
