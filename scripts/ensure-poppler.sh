#!/usr/bin/env bash
# Installs Debian's poppler-utils (pdftotext, pdftoppm): the invoice tests render each PDF and read its text back.
# Idempotent; runs as root, non-interactive.
set -euo pipefail
if ! command -v pdftotext >/dev/null || ! command -v pdftoppm >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-poppler: missing poppler-utils and installing needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
fi
echo "ensure-poppler: $(command -v pdftotext) $(command -v pdftoppm)"
