#!/usr/bin/env bash
# Head-to-head storm benchmark in the sandbox: the same Debian kernel binary,
# the same Xen and the same injections, one boot parameter apart: the
# built-in C driver (cdriver) against xen_mcelog (ours). Writes the table to
# $XMC_CACHE/out/bench-storm.md and prints it.
set -euo pipefail
. "$(dirname "$0")/env.sh"
out=$XMC_CACHE/out
log=$out/bench-storm.log
python3 "$XMC_REPO/tests/sandbox/harness.py" --initrd-stock "${STORM_INITRD:-$out/initrd-stock.cpio.gz}" \
    --case-timeout 3600 cdriver:storm ours:storm | tee "$log"
{
    echo "Storm benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, QEMU TCG, Xen 4.20, Debian $XMC_KVER dom0"
    echo
    echo "| driver | burst | reader | injected | records delivered | distinct injected errors delivered | lost |"
    echo "|---|---|---|---|---|---|---|"
    grep -o 'BENCH .*' "$log" | while read -r _ kvs; do
        eval "$kvs"
        # shellcheck disable=SC2154
        echo "| $driver | $burst | $reader | $injected | $delivered | $unique | $((injected - unique)) |"
    done
} > "$out/bench-storm.md"
cat "$out/bench-storm.md"
