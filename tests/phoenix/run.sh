#!/usr/bin/env bash
# Installs the locked phoenix.js clients (npm cache under $RIG_CI_CACHE or
# ~/.cache/rig-ci) and runs the driver; crates/rig/tests/phoenix.rs starts it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${RIG_CI_CACHE:-$HOME/.cache/rig-ci}/npm"
if [[ ! -f "$here/node_modules/.package-lock.json" || "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]]; then
  (cd "$here" && npm ci --prefer-offline --no-audit --no-fund --cache "$cache" >&2)
fi
exec node "$here/driver.mjs"
