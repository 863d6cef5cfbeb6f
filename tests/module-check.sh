#!/usr/bin/env bash
# Build xen_mcelog.ko with CLIPPY=1 against the given kernel trees (default:
# XMC_KERNEL's Debian kernel, and for sid also the test kernel); any compiler or clippy warning
# fails. The stock build's stack frames are then measured with the tree's own
# scripts/checkstack.pl, and a frame above XMC_MAX_FRAME bytes fails (below).
# The last line printed is the .ko of the last tree (tests/matrix.sh reads it).
set -euo pipefail
. "$(dirname "$0")/build/env.sh"

# The largest stack frame a function of the module may have, in bytes. Rust
# gets no -Wframe-larger-than, so nothing else would notice a frame that grows
# (a by-value array of records, a big struct returned and copied): half of the
# CONFIG_FRAME_WARN (2048) Debian's x86-64 kernels warn C frames at. The
# deepest path of the module runs on a kworker's 16 KiB stack (the drain:
# run_drain -> convert_into or store_all -> ring, tracepoint), under whatever
# the workqueue and an interrupt put there; docs/design.md, "Stack", has the numbers.
XMC_MAX_FRAME=${XMC_MAX_FRAME:-1024}

# checkstack KO TREE_OBJ: the module's frames, largest first, as checkstack.pl
# prints them ("addr function [xen_mcelog]: bytes"). On x86-64 checkstack.pl
# counts a frame twice: its pattern ([as][du][db] $N,%rsp) matches the
# epilogue's `add $N,%rsp` that frees the frame as well as the prologue's
# `sub $N,%rsp` that makes it. The epilogue lines are dropped first, so each
# number is the frame's size (the `sub`; pushed registers not included).
checkstack() {
    # shellcheck disable=SC2016 # expanded by the sh in the root
    in_root sh -c '
        cs=$2/source/scripts/checkstack.pl; [ -e "$cs" ] || cs=$2/scripts/checkstack.pl
        [ -e "$cs" ] || { echo "no scripts/checkstack.pl in the kernel tree $2" >&2; exit 1; }
        objdump -d "$1" | grep -Ev "^ .*add +[$]0x[0-9a-f]+,%rsp$" | perl "$cs" x86_64 0' \
        sh "${1#"$XMC_ROOT"}" "$2"
}

trees=("$@")
if [ ${#trees[@]} = 0 ]; then
    if [ "$XMC_KERNEL" = sid ]; then trees=(stock test); else trees=(stock); fi
fi
for tree in "${trees[@]}"; do
    log "module: CLIPPY=1 build against the $tree tree ($XMC_KERNEL)"
    out=$(bash "$XMC_REPO/tests/build/build-module.sh" "$tree" CLIPPY=1 2>&1) || { echo "$out"; die "module build failed ($tree)"; }
    if echo "$out" | grep -E '(^|: )warning|^error' ; then
        die "the $tree module build printed warnings"
    fi
    ko=$(echo "$out" | tail -1)
    # The bound is for what users load: the stock build. The test kernel's
    # build adds the KUnit suites and is only shown.
    if [ "$tree" = stock ]; then
        frames=$(checkstack "$ko" "$(bash "$XMC_REPO/tests/build/kernels.sh" path-stock)") ||
            die "checkstack.pl failed on $ko"
        top=$(echo "$frames" | sed -n 1p | sed 's/.*://; s/[[:space:]]//g')
        log "module: largest stack frames (checkstack.pl, bytes; bound $XMC_MAX_FRAME):"
        echo "$frames" | sed -n 1,5p >&2
        if [ -z "$top" ] || [ "$top" -gt "$XMC_MAX_FRAME" ]; then
            echo "$frames" | sed -n 1,15p >&2
            die "a stack frame of the $tree module is ${top:-unknown} bytes, above $XMC_MAX_FRAME: move the big locals off the stack (docs/design.md, \"Stack\")"
        fi
    fi
    echo "$ko"
done
