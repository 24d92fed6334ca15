#!/usr/bin/env bash
# Installs Debian's Patroni, etcd and PostgreSQL 15 for the high-availability test (test/ha/): the test's
# helper (test/helpers/patroni.ts) starts its own etcd and Patroni members on loopback, in a temp dir.
# Starts nothing: the packages' own services (etcd, the `main` PostgreSQL cluster) stay down.
# Idempotent: does nothing when patroni, patronictl, etcd and PostgreSQL 15's pg_ctl exist.
set -euo pipefail
if command -v patroni >/dev/null && command -v patronictl >/dev/null && command -v etcd >/dev/null &&
  [ -x /usr/lib/postgresql/15/bin/pg_ctl ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-patroni: patroni, etcd-server or postgresql-15 is missing and installing them needs root (apt-get install patroni etcd-server postgresql-15)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d 101: the packages must not start etcd or a PostgreSQL cluster as services.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends postgresql-15 patroni etcd-server >/dev/null
patroni --version
etcd --version | head -1
