#!/usr/bin/env bash
# Installs Debian's Chromium for the console's end-to-end tests (playwright-core drives it at
# /usr/bin/chromium; Playwright's own browser download cannot work on an offline CI machine).
# Idempotent: does nothing when Chromium is already there. Runs as root, non-interactive.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: /usr/bin/chromium is missing and installing it needs root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
