#!/usr/bin/env bash
# The kernel's checkpatch.pl (from the build root's kernel source) on the C
# helper and its headers, as an upstream maintainer runs it: --strict
# --no-tree. Any error or warning fails; CHECKs are shown (the trace header's
# remaining ones are the kernel's own TRACE_EVENT() layout).
set -euo pipefail
. "$(dirname "$0")/build/env.sh"
cp_pl=/xmc/linux-$XMC_KPKG_VER/scripts/checkpatch.pl
[ -f "$XMC_ROOT$cp_pl" ] || bash "$XMC_REPO/tests/build/bootstrap.sh"
tmp=$(mktemp -d "$XMC_ROOT/tmp/checkpatch.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
bad=0
for f in src/xmc_helper.c src/xmc_owner.c src/xmc_helper.h src/xmc_trace.h; do
    cp "$XMC_REPO/$f" "$tmp/"
    out=$(in_root perl "$cp_pl" --strict --no-tree --show-types -f "${tmp#"$XMC_ROOT"}/$(basename "$f")" 2>&1 || true)
    total=$(echo "$out" | grep '^total:' || echo "total: ? errors")
    echo "checkpatch $f: ${total#total: }"
    # No verdict: checkpatch itself failed; show why.
    [ "$total" != "total: ? errors" ] || echo "$out" | tail -5 | sed 's/^/    /'
    echo "$out" | grep -E '^(ERROR|WARNING|CHECK):' | sed 's/^/    /' || true
    echo "$total" | grep -q '^total: 0 errors, 0 warnings' || bad=1
done
[ $bad = 0 ] || die "checkpatch --strict: errors or warnings in the C helper or its headers"
