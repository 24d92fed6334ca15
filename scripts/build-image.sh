#!/usr/bin/env bash
# Builds the control plane's OCI image from this checkout (after `npm install`, which builds it):
#   bash scripts/build-image.sh [--base IMAGE] [--tag TAG] [--engine podman|docker]
# Stages the runtime files and production dependencies in a temporary directory (the checkout is not
# touched), builds ./Containerfile there with no network, then checks that the image's Node loads the
# native SQLite module. Prints the image's tag.
set -euo pipefail
cd "$(dirname "$0")/.."
base=docker.io/library/node:24-bookworm-slim
tag="localhost/gigafab:$(node -p 'require("./package.json").version')"
engine=podman
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --engine) engine="$2"; shift 2 ;;
    *) echo "build-image: unknown argument $1 (use --base IMAGE, --tag TAG, --engine podman|docker)" >&2; exit 2 ;;
  esac
done
if [ ! -f dist/src/cli/main.js ] || [ ! -f dist/console/index.html ] || [ ! -d node_modules ]; then
  echo "build-image: no built checkout here; run npm install (it builds) first" >&2
  exit 1
fi
stage=$(mktemp -d)
trap 'rm -rf "${stage}"' EXIT
mkdir -p "${stage}/dist"
cp -a package.json package-lock.json bin fleets "${stage}/"
cp -a dist/src dist/console "${stage}/dist/"
cp -a node_modules "${stage}/"
# Production dependencies only (no compiler, test or build tools in the image); offline, from the lock.
(cd "${stage}" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund >/dev/null)
find "${stage}/node_modules" -mindepth 1 -maxdepth 1 -type d -empty -delete  # scopes prune emptied
echo "build-image: building ${tag} on ${base} ($(du -sh "${stage}" | cut -f1) staged)" >&2
"${engine}" build --quiet --network=none --build-arg "NODE_IMAGE=${base}" -t "${tag}" -f "$(pwd)/Containerfile" "${stage}" >/dev/null
# The native module must match the image's Node (ABI): say so plainly instead of failing at start.
if ! "${engine}" run --rm --network=none --entrypoint node "${tag}" -e "new (require('/opt/gigafab/node_modules/better-sqlite3'))(':memory:')" >/dev/null 2>&1; then
  echo "build-image: the image's Node.js cannot load better-sqlite3 built by this machine's Node $(node -v); stage on the image's Node major (bash scripts/ensure-node24.sh)" >&2
  exit 1
fi
echo "${tag}"
