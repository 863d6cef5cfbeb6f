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
# Each binary replaces the old one by a rename, never in place: a build that
# runs beside another (make matrix beside make check) must not let an
# initramfs pick up half a file.
tmp=$(mktemp -d "$XMC_CACHE/out/.bin.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
for b in xen-mcelog-dump xmc-inject xmc-test; do
    cp "$XMC_CACHE/cargo/static/x86_64-unknown-linux-gnu/release/$b" "$tmp/$b"
done
gcc -m32 -static -O2 -Wall -o "$tmp/xmc-ioctl32" tests/dom0/ioctl32.c
for b in "$tmp"/*; do mv -f "$b" "$XMC_CACHE/out/bin/"; done
