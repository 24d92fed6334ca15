#!/usr/bin/env bash
# Installs Debian's wrk (a C HTTP load generator with Lua scripting) for the proxy latency benchmark
# (bench/proxy-wrk.ts), which needs a client whose own latency is small and reported in microseconds.
# Idempotent: does nothing when wrk exists. The tests do not need it.
set -euo pipefail
if command -v wrk >/dev/null || [ -x /usr/bin/wrk ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-wrk: wrk is missing and installing it needs root (apt-get install wrk)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends wrk >/dev/null
wrk --version 2>&1 | head -1 || true
