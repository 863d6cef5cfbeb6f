#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Fuzz the mc_info walker and converter for N executions (default 10 million).
#
#   src/core/fuzz/run.sh [N] [extra libFuzzer flags...]
#
# Needs a nightly toolchain (rustup's "nightly" or RUSTUP_TOOLCHAIN) and
# cargo-fuzz (`cargo install cargo-fuzz`). New inputs go to corpus-work/ (not
# committed); the small committed seed corpus in corpus/convert/ is only read.
# Crashes land in artifacts/convert/ and make the script fail.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
runs=${1:-10000000}
shift || true
toolchain=${FUZZ_TOOLCHAIN:-nightly}

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 2; }
mkdir -p "$here/corpus-work"
cd "$here/.."   # cargo-fuzz finds ./fuzz relative to the crate (src/core/)
# Build with one job while a kernel build is running on this 2-core machine.
if pgrep -f 'make.*linux' >/dev/null 2>&1; then export CARGO_BUILD_JOBS=1; fi
exec cargo "+$toolchain" fuzz run --fuzz-dir "$here" convert \
    "$here/corpus-work" "$here/corpus/convert" -- \
    -runs="$runs" -max_len=3200 -print_final_stats=1 "$@"
