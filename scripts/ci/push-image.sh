#!/usr/bin/env bash
# Push a locally built (and already scanned) image, record its digest, sign it.
#   scripts/ci/push-image.sh LOCAL_REF REGISTRY/PATH/NAME DIGEST_DIR
# Logs in to the registry's host with $REGISTRY_TOKEN (a short-lived access token from Workload
# Identity Federation) when it is set.
# Tags: the commit SHA ($GITHUB_SHA), and on a v* tag the version ($GITHUB_REF_NAME).
# Writes DIGEST_DIR/NAME holding REGISTRY/PATH/NAME@sha256:… (what scripts/rollout.py pins, and
# what scripts/ci/promote-image.sh later copies to production) and signs that digest
# (scripts/ci/sign-image.sh: cosign with the installation's KMS key, and the Binary
# Authorization attestation the cluster requires; COSIGN=off skips both).
set -euo pipefail
local_ref=$1 repo=$2 digests=$3
name=${repo##*/}
sha=${GITHUB_SHA:?GITHUB_SHA is not set}
tags=("$sha")
if [[ ${GITHUB_REF_TYPE:-} == tag && ${GITHUB_REF_NAME:-} == v* ]]; then
  tags+=("$GITHUB_REF_NAME")
fi
if [[ -n ${REGISTRY_TOKEN:-} ]]; then
  printf '%s' "$REGISTRY_TOKEN" | docker login --username oauth2accesstoken --password-stdin "${repo%%/*}"
fi
for tag in "${tags[@]}"; do
  docker tag "$local_ref" "$repo:$tag"
  docker push "$repo:$tag"
done
# The registry's manifest digest of what was pushed (the same for every tag).
digest=$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$repo:$sha" | grep -m1 "^$repo@sha256:")
[[ $digest =~ @sha256:[0-9a-f]{64}$ ]] || { echo "::error::no digest for $repo:$sha" >&2; exit 1; }
mkdir -p "$digests"
printf '%s\n' "$digest" > "$digests/$name"
echo "$name: $digest (tags: ${tags[*]})"
if [[ -n ${GITHUB_STEP_SUMMARY:-} ]]; then
  echo "- \`$digest\` (tags: ${tags[*]})" >> "$GITHUB_STEP_SUMMARY"
fi
if [[ ${COSIGN:-on} != off ]]; then
  "$(dirname "$0")/sign-image.sh" "$digest"
fi
