#!/usr/bin/env bash
# The fatal machine check that reset the host, across boots. One
# ERST store (a file QEMU keeps, as firmware keeps its NVRAM) through six
# boots of the same machine:
#   1 dom0 crashes; its pstore saves dom0's dmesg in ERST (not Xen's record)
#   2 a fatal #MC: Xen panics and saves it in ERST (the store is checked here)
#   3 baseline: the built-in C driver delivers nothing of it
#   4 xen_mcelog delivers it (fields asserted), keeps it in ERST while nobody
#     got it, erases it once read; xen-mcelog-dump --pstore decodes pstore's
#     copy; dom0's record untouched
#   5 nothing delivered again; dom0's record still there; a second fatal #MC
#   6 rasdaemon, started after the module, is the only consumer: the module
#     traces the saved record for it, rasdaemon stores it, the module erases it
# Usage: tests/erst.sh INITRD_STOCK [harness args...]
set -euo pipefail
. "$(dirname "$0")/build/env.sh"
initrd=${1:?usage: tests/erst.sh INITRD_STOCK}; shift
out=$XMC_CACHE/out
store=$(mktemp "$out/erst-store.XXXXXX"); trap 'rm -f "$store"' EXIT
H=(python3 "$XMC_REPO/tests/sandbox/harness.py" --initrd-stock "$initrd" --erst "$store" --jobs 1 "$@")

# The records in QEMU's ERST store, each as "<id> <kind>" (xen-mce, pstore,
# other): tests/sandbox/erst_store.py.
records() { python3 "$XMC_REPO/tests/sandbox/erst_store.py" "$store"; }

# saved_records ADDR: how many Xen MCE records of the injected error at ADDR
# the store holds (the store is printed first).
store_now() { recs=$(records); echo "$recs" | sed 's/^/  store: /'; }
saved_records() { grep -c " xen-mce status=0xb600000000000150 addr=$1 bank=1\$" <<< "$recs" || true; }
# consumed WHO: Xen's records are gone from the store, dom0's is still there.
consumed() {
    store_now
    ! grep -q ' xen-mce ' <<< "$recs" || die "Xen's records are still in the store after $1 got them"
    grep -q ' pstore$' <<< "$recs" || die "dom0's pstore record is gone from the store"
}

log "ERST boot 1: dom0 crashes (pstore saves its dmesg in ERST)"
"${H[@]}" ours:erst-dom0-crash
# (captured first: grep -q stops reading early, which would fail the pipe)
store_now
grep -q ' pstore$' <<< "$recs" || die "after boot 1 the store holds no pstore record of dom0"
log "ERST boot 2: a fatal machine check; Xen panics"
"${H[@]}" ours:erst-xen-fatal
store_now; n=$(saved_records 0x20000000)
[ "$n" -ge 1 ] || die "after Xen's panic the store holds no Xen MCE record of the injected error"
log "the store holds $n Xen MCE records of the injected error"
log "ERST boot 3: the built-in C driver (baseline)"
"${H[@]}" cdriver:erst-cdriver
log "ERST boot 4: xen_mcelog"
"${H[@]}" ours:erst-deliver
consumed "a reader"
log "ERST boot 5: xen_mcelog again, then a second fatal machine check"
"${H[@]}" ours:erst-again
store_now; n=$(saved_records 0x21000000)
[ "$n" -ge 1 ] || die "after the second panic the store holds no Xen MCE record of the second error"
log "ERST boot 6: rasdaemon the only consumer"
"${H[@]}" ours:erst-rasdaemon
consumed rasdaemon
log "ERST: all six boots passed"
