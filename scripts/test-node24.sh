#!/usr/bin/env bash
# Runs the built test suite (or the test files given as arguments) again on Node.js 24, the documented default
# runtime, beside the run on the machine's own Node. better-sqlite3 is a native module built for one Node ABI, so
# the run happens in a mirror of the checkout (hard links, cheap) whose better-sqlite3 is rebuilt for Node 24
# from the headers the Node 24 package ships; the rebuilt binary is cached under .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=$(bash scripts/ensure-node24.sh)
mirror="${root}/.cache/node24-tree"
rm -rf "${mirror}"
mkdir -p "${mirror}"
for entry in * .[!.]*; do
  case "${entry}" in .git | .cache) continue ;; esac
  [ -e "${entry}" ] && cp -al "${entry}" "${mirror}/"
done
# The native module: a real copy (not links), rebuilt once per better-sqlite3 and Node version.
sqlite_version=$(node -p "require('./node_modules/better-sqlite3/package.json').version")
cached="${root}/.cache/better-sqlite3-${sqlite_version}-node-$("${bin}/node" -p process.versions.modules).node"
rm -rf "${mirror}/node_modules/better-sqlite3"
cp -a node_modules/better-sqlite3 "${mirror}/node_modules/better-sqlite3"
if [ ! -f "${cached}" ]; then
  echo "test-node24: building better-sqlite3 ${sqlite_version} for Node $("${bin}/node" -v) (about a minute)"
  (cd "${mirror}" && PATH="${bin}:${PATH}" npm_config_nodedir="$(dirname "${bin}")" \
    npm rebuild better-sqlite3 --foreground-scripts=false --loglevel=error >/dev/null)
  cp "${mirror}/node_modules/better-sqlite3/build/Release/better_sqlite3.node" "${cached}"
else
  cp "${cached}" "${mirror}/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
fi
cd "${mirror}"
export PATH="${bin}:${PATH}"
echo "test-node24: running the tests on Node $(node -v)"
if [ "$#" -gt 0 ]; then files="$*"; else files=$(find dist/test -name '*.test.js' | sort); fi
node --test --test-concurrency=1 --test-reporter=tap ${files}
