#!/usr/bin/env bash
# Installs Debian's Jupyter Notebook (jupyter-notebook, with the python3 kernel) for Jupyter sessions on
# the local driver and their end-to-end test. Debian's package works offline once installed and runs
# on the system python (/usr/bin/python3), whatever python is first on PATH.
# Idempotent: does nothing when /usr/bin/jupyter-notebook is there. Runs as root, non-interactive.
set -euo pipefail
if [ -x /usr/bin/jupyter-notebook ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-jupyter: /usr/bin/jupyter-notebook is missing and installing it needs root" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends jupyter-notebook python3-ipykernel >/dev/null
/usr/bin/jupyter-notebook --version
