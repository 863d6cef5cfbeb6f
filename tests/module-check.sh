#!/usr/bin/env bash
# Build xen_mcelog.ko with CLIPPY=1 against the given kernel trees (default:
# XMC_KERNEL's Debian kernel, and for sid also the test kernel); any compiler or clippy warning
# fails.
set -euo pipefail
. "$(dirname "$0")/env.sh"
trees=("$@")
if [ ${#trees[@]} = 0 ]; then
    if [ "$XMC_KERNEL" = sid ]; then trees=(stock test); else trees=(stock); fi
fi
for tree in "${trees[@]}"; do
    log "module: CLIPPY=1 build against the $tree tree ($XMC_KERNEL)"
    out=$(bash "$XMC_REPO/tests/build-module.sh" "$tree" CLIPPY=1 2>&1) || { echo "$out"; die "module build failed ($tree)"; }
    if echo "$out" | grep -E '(^|: )warning|^error' ; then
        die "the $tree module build printed warnings"
    fi
    echo "$out" | tail -1
done
