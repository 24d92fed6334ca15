#!/usr/bin/env bash
# Installs and configures podman for the container tests (local and slurm drivers run images with it).
# Debian's podman defaults to crun, which fails on these hybrid-cgroup hosts; runc works, but only with
# ulimits set below the host's hard limits (root here lacks CAP_SYS_RESOURCE). See
# docs / ../shared/notes/containers-on-localhost.md. Idempotent; runs as root, non-interactive, offline-safe
# once installed (no registry on the internet is needed: test images are built from busybox-static).
set -euo pipefail
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx wget || need+=(busybox-static)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v htpasswd >/dev/null || need+=(apache2-utils)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-podman: missing ${need[*]} and installing needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The registry package starts a system service on port 5000; tests start their own.
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
conf=/etc/containers/containers.conf
marker="# gigafab: runc + ulimits below the host's hard limits"
if ! grep -qF "$marker" "$conf" 2>/dev/null; then
  mkdir -p /etc/containers
  cat >>"$conf" <<CONF
$marker
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
fi
podman --version
