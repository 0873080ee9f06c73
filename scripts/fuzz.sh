#!/usr/bin/env bash
# Bounded fuzzing of every parser that takes client input (cargo fuzz, libFuzzer).
# FUZZ_SECONDS per target (default 20). A crash fails the run and leaves its input
# in fuzz/artifacts/<target>/; turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

CACHE="${RIG_CI_CACHE:-$HOME/.cache/rig-ci}"
TOOLS="$CACHE/tools"
export PATH="$TOOLS/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
  cargo install --locked --root "$TOOLS" cargo-fuzz
fi
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$CACHE/fuzz-target}"
seconds="${FUZZ_SECONDS:-20}"

# No sanitizer: the code forbids `unsafe`, so what we hunt is panics and hangs,
# and this builds on the stable toolchain.
cargo fuzz build --sanitizer none -O
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
  echo "== fuzz $target for ${seconds}s"
  cargo fuzz run --sanitizer none -O "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 2>&1 | grep -E '^(Done|==|SUMMARY)|panicked|ERROR' || true
  if ls "artifacts/$target"/crash-* "artifacts/$target"/timeout-* >/dev/null 2>&1; then
    echo "fuzz: $target found a failing input in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
