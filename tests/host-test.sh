#!/usr/bin/env bash
# Host-side checks of the pure parts and tools: rustfmt, clippy (warnings are
# errors), cargo test (unit, property, stress), and the loom model tests.
set -euo pipefail
. "$(dirname "$0")/build/env.sh"
cd "$XMC_REPO"
# Cargo's build output is cached outside the repository like the kernels, so
# a fresh clone (CI) does not rebuild every dependency.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$XMC_CACHE/cargo/target}
echo "== tests/lib/tap.sh (the TAP library of the sandbox cases and the system check)"
sh tests/lib/tap-test.sh
echo "== cargo fmt --check"
xmc_cargo fmt --all -- --check
echo "== cargo clippy"
xmc_cargo clippy --workspace --all-targets -q -- -D warnings
echo "== cargo test"
# Its output is also kept beside the sandbox's serial logs (not in /tmp,
# where each make check left it).
mkdir -p "$XMC_CACHE/out/logs"
xmc_cargo test --workspace --release 2>&1 | tee "$XMC_CACHE/out/logs/cargo-test.log"
echo "== loom model tests (ring)"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=$XMC_CACHE/cargo/loom xmc_cargo test -p xmc-ring --release --test loom 2>&1
