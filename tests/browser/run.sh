#!/usr/bin/env bash
# Headless-browser end-to-end test of the gateway (SSE, WebSocket, long-polling
# in Debian's chromium, driven by playwright-core). Builds nothing: it runs the
# gateway binary at $RIG_BIN (default: ${CARGO_TARGET_DIR:-<repo>/target}/debug/rig).
# Works from any working directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

# The gateway binary (a relative path is taken from the current directory).
RIG_BIN="${RIG_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/rig}"
case "$RIG_BIN" in /*) ;; *) RIG_BIN="$PWD/$RIG_BIN" ;; esac
if [[ ! -x "$RIG_BIN" ]]; then
  echo "run.sh: gateway binary not found (or not executable) at $RIG_BIN" >&2
  echo "run.sh: build it first with 'cargo build' in $repo, or point RIG_BIN at it" >&2
  exit 1
fi
export RIG_BIN

# Chromium from Debian (never a browser download).
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [[ ! -x "$CHROMIUM_PATH" && "$CHROMIUM_PATH" != /usr/bin/chromium ]]; then
  echo "run.sh: CHROMIUM_PATH=$CHROMIUM_PATH is not an executable" >&2
  exit 1
fi
if [[ ! -x "$CHROMIUM_PATH" ]]; then
  echo "run.sh: $CHROMIUM_PATH missing; installing Debian's chromium" >&2
  sudo=""
  if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y chromium
fi

# Node 20+ (playwright-core's requirement) and the locked npm dependencies.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "run.sh: node and npm are required (node 20 or later)" >&2
  exit 1
fi
if [[ ! -f "$here/node_modules/.package-lock.json" || "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]]; then
  (cd "$here" && npm ci --prefer-offline --no-audit --no-fund)
fi

# phoenix.js for phoenix-page.html (RIG 1.x frontends), from tests/phoenix's lock file.
phx="$repo/tests/phoenix"
if [[ ! -f "$phx/node_modules/.package-lock.json" || "$phx/package-lock.json" -nt "$phx/node_modules/.package-lock.json" ]]; then
  (cd "$phx" && npm ci --prefer-offline --no-audit --no-fund --cache "${RIG_CI_CACHE:-$HOME/.cache/rig-ci}/npm")
fi

cd "$repo"
exec node --test tests/browser/e2e.test.mjs tests/browser/phoenix.test.mjs tests/browser/examples.test.mjs
