#!/usr/bin/env bash
# Static builds of the programs the sandbox cases run inside dom0 (busybox
# userland, no libc): the dump tool, the injector and the test helper, and a
# 32-bit client for the compat_ioctl path.
set -euo pipefail
. "$(dirname "$0")/env.sh"
cd "$XMC_REPO"
mkdir -p "$XMC_CACHE/out/bin"
RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=$XMC_CACHE/cargo/static \
    xmc_cargo build --release -q --target x86_64-unknown-linux-gnu -p xmc-tools
for b in xen-mcelog-dump xmc-inject xmc-test; do
    cp "$XMC_CACHE/cargo/static/x86_64-unknown-linux-gnu/release/$b" "$XMC_CACHE/out/bin/$b"
done
gcc -m32 -static -O2 -Wall -o "$XMC_CACHE/out/bin/xmc-ioctl32" tests/dom0/ioctl32.c
