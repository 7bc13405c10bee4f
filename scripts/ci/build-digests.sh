#!/usr/bin/env bash
# The image digests main's deploy run recorded for this commit (artifacts digest-<image>),
# from a run that succeeded — that is, built, signed and deployed to staging and passed its
# smoke tests. A tag on a commit main never built and deployed gets nothing: fail.
#   GH_TOKEN=… scripts/ci/build-digests.sh DIR      → DIR/kscribe, DIR/kscribe-diarize, DIR/kscribe-gpu
set -euo pipefail
out=$1
sha=${GITHUB_SHA:?GITHUB_SHA is not set}
repo=${GITHUB_REPOSITORY:?GITHUB_REPOSITORY is not set}
run=$(gh run list --repo "$repo" --workflow deploy.yml --branch main --commit "$sha" --status success \
  --limit 1 --json databaseId --jq '.[0].databaseId // empty')
if [[ -z $run ]]; then
  echo "::error::no successful main run of deploy.yml for $sha: tag a commit that main built and deployed to staging" >&2
  exit 1
fi
tmp=$(mktemp -d)
gh run download "$run" --repo "$repo" --pattern 'digest-*' --dir "$tmp"
mkdir -p "$out"
for image in kscribe kscribe-diarize kscribe-gpu; do
  file=$(find "$tmp" -type f -name "$image" | head -n1)
  [[ -n $file ]] || { echo "::error::run $run has no digest for $image" >&2; exit 1; }
  cp "$file" "$out/$image"
  echo "$image: $(cat "$out/$image") (run $run)"
done
