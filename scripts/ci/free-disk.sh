#!/usr/bin/env bash
# Room for the GPU image (CUDA libraries, a baked-in model) on a hosted runner's disk: remove
# toolchains kscribe's image builds never use. A no-op where they are absent.
set -euo pipefail
df -h / | tail -1
sudo rm -rf /usr/share/dotnet /usr/local/lib/android /opt/ghc /usr/local/share/boost /opt/hostedtoolcache/CodeQL || true
docker image prune --all --force >/dev/null 2>&1 || true
df -h / | tail -1
