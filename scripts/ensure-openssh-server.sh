#!/usr/bin/env bash
# Installs Debian's OpenSSH server (/usr/sbin/sshd) for `ssh` sessions: the driver runs one sshd per
# session as the session's own process, unprivileged, on the session's loopback port, with host keys
# made for that session and only the owner's keys authorised. The system's own ssh service is NOT
# wanted: where the package's install would start it (no policy-rc.d forbids it), it is stopped and
# disabled again, so that installing this opens no port on the machine.
# Idempotent: does nothing when /usr/sbin/sshd is there. Runs as root, non-interactive.
set -euo pipefail
if [ -x /usr/sbin/sshd ] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-openssh-server: /usr/sbin/sshd is missing and installing it needs root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  # keep the package's postinst from starting the system sshd on port 22
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  made_policy=1
fi
trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true
fi
/usr/sbin/sshd -V 2>&1 || true
