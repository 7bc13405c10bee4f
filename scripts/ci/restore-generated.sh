#!/usr/bin/env bash
# Put an installation's generated overlay component (what terraform wrote into
# knative/overlays/gke/generated/) in place from $KSCRIBE_GENERATED, either
#   - JSON {"file name": "content", …}: the Secret Manager secret terraform writes on every
#     apply (terraform/generated.tf, output generated_secret), which the deploy reads:
#       KSCRIBE_GENERATED=$(gcloud secrets versions access latest --secret "$GENERATED_SECRET")
#   - or, for an installation without it, the folder as a base64-encoded .tar.gz kept by hand
#     as the GitHub environment's secret of that name
#       tar -czf - -C knative/overlays/gke/generated . | base64 -w0 | gh secret set KSCRIBE_GENERATED --env staging
# (docs/operations.md, "The delivery pipeline"). Refuses to go on with the placeholders.
#   scripts/ci/restore-generated.sh DIR
set -euo pipefail
dir=${1:?usage: restore-generated.sh DIR}
if [[ -z ${KSCRIBE_GENERATED:-} ]]; then
  echo "::error::KSCRIBE_GENERATED is empty: set the environment's secret (docs/operations.md)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [[ ${KSCRIBE_GENERATED:0:1} == "{" ]]; then
  printf '%s' "$KSCRIBE_GENERATED" | python3 -c '
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for name, content in json.load(sys.stdin).items():
    if "/" in name or name.startswith("."):
        sys.exit(f"::error::KSCRIBE_GENERATED names a file outside the component: {name!r}")
    (out / name).write_text(content)
' "$tmp"
else
  printf '%s' "$KSCRIBE_GENERATED" | base64 -d | tar -xzf - -C "$tmp"
fi
for f in kustomization.yaml config.env; do
  [[ -f $tmp/$f ]] || { echo "::error::KSCRIBE_GENERATED holds no $f" >&2; exit 1; }
done
if grep -q 'PROJECT' "$tmp/kustomization.yaml"; then
  echo "::error::KSCRIBE_GENERATED holds the committed placeholders, not an installation's values" >&2
  exit 1
fi
rm -rf "${dir:?}"/*
cp -R "$tmp"/. "$dir"/
echo "generated component restored into $dir: $(cd "$dir" && ls | tr '\n' ' ')"
