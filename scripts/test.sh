#!/usr/bin/env bash
# The project's whole test suite: build, lint, then every test file under dist/test.
# Installs what the tests need (npm packages; Debian packages where a suite needs them).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm install --no-audit --no-fund
npm run build --silent
npx biome check src test bench console
# The browser tests drive Debian's Chromium (Playwright cannot download browsers here).
bash scripts/ensure-chromium.sh
bash scripts/ensure-nginx.sh  # the nginx data plane tests (test/api/proxy/nginx-plane.test.ts) run Debian's nginx as gigafab's proxy
bash scripts/ensure-python.sh  # the Python SDK tests run Debian's python3
bash scripts/ensure-postgres.sh  # the store and server tests on PostgreSQL start a throwaway cluster
bash scripts/ensure-patroni.sh  # the HA test (test/ha) runs etcd and two Patroni-managed PostgreSQL members on loopback
# The container tests run images with podman + runc, built from busybox-static; the registry test uses docker-registry.
bash scripts/ensure-podman.sh
bash scripts/ensure-jupyter.sh  # the Jupyter session test runs Debian's jupyter-notebook behind the workload proxy
bash scripts/ensure-openssh-server.sh  # the ssh session tests run Debian's sshd per session and the real ssh client through the proxy
bash scripts/ensure-poppler.sh  # the invoice tests render PDFs with pdftoppm and read them with pdftotext
# Suites start real servers on ephemeral ports; run files one at a time on the 2-core CI machine.
# The whole suite runs once, on Node.js 24, the documented default runtime (in a mirror of the checkout
# whose native SQLite module is built for Node 24, unless the machine's own Node is 24 already).
if [ "$(node -p 'process.versions.node.split(".")[0]')" = 24 ]; then
  node --test --test-concurrency=1 $(find dist/test -name '*.test.js' | sort)
else
  bash scripts/test-node24.sh
  # Then a compatibility pass on the machine's own Node (22, or 20 past its end of life): the parts
  # whose behaviour depends on the runtime's own modules (the store's native SQLite and pg, crypto,
  # http, child processes) — pure libraries, the store on both dialects, the server's services, the
  # CLI and one real server end to end. The engine suites (Slurm, podman, Patroni, Chromium) run once.
  compat=$(find dist/test/model dist/test/scheduler dist/test/lifecycle dist/test/store dist/test/server \
    dist/test/sim dist/test/cli dist/test/architecture -name '*.test.js' | sort)
  echo "test: compatibility pass on Node $(node -v)"
  node --test --test-concurrency=1 ${compat} dist/test/api/spine.test.js dist/test/api/postgres-server.test.js
fi
