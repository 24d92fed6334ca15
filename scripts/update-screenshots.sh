#!/usr/bin/env bash
# Regenerates the README's screenshots (docs/screenshots/) from the real console: builds, then runs the
# browser suites against real servers with GIGAFAB_UPDATE_SCREENSHOTS=1, which copies what they capture.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
bash scripts/ensure-chromium.sh
GIGAFAB_UPDATE_SCREENSHOTS=1 node --test --test-concurrency=1 dist/test/console/*.test.js
git status --short docs/screenshots
