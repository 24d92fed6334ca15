#!/usr/bin/env bash
# Installs Debian's python3 for the Python SDK's tests (clients/python is standard library only, so
# the distribution's interpreter is all it needs), and jq, which the README's executed walk-through
# uses to capture ids. Idempotent: does nothing when both exist.
set -euo pipefail
if [ -x /usr/bin/python3 ] && command -v jq >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-python: /usr/bin/python3 is missing and installing it needs root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends python3 jq >/dev/null
/usr/bin/python3 --version
