#!/usr/bin/env bash
# Installs Debian's Go (golang-go, 1.19 on bookworm) for the FGD evaluation only: it builds
# scripts/fgd-go-orders, which rebuilds the FGD authors' arrival orders with Go's own math/rand.
# Neither the build nor the test suite needs it. Idempotent: does nothing when `go` exists.
set -euo pipefail
if command -v go >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-go: go is missing and installing it needs root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends golang-go >/dev/null
go version
