#!/usr/bin/env bash
# Installs Debian's nginx (nginx-light) for the services benchmark, which compares gigafab's workload
# proxy with nginx as a reverse proxy to the same backend. Idempotent: does nothing when nginx exists.
# The package's own service is not started: the benchmark runs its own nginx with its own config.
set -euo pipefail
if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-nginx: nginx is missing and installing it needs root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d: do not start the packaged nginx on port 80 (one that exists already is left alone).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
/usr/sbin/nginx -v
