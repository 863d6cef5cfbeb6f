#!/usr/bin/env bash
# make repeat: one sandbox run N times in a row on one kernel, to show that a
# check is stable (a check that passes only sometimes is a failing check):
#   make repeat REPEAT_RUN=ours:burst+pipeline REPEAT_N=20 REPEAT_KERNEL=bpo73
# The kernel's initramfs must exist: initrd-stock (sid) from make initrds,
# initrd-<id> from make check-matrix or make matrix. Two boots at a time
# (XMC_SANDBOX_JOBS); prints one line per boot and a count; fails if any
# boot failed.
set -euo pipefail
id=${REPEAT_KERNEL:-sid}
export XMC_KERNEL=$id   # the harness boots that kernel's Xen (env.sh)
. "$(dirname "$0")/build/env.sh"
run=${REPEAT_RUN:-ours:burst+pipeline}
n=${REPEAT_N:-20}
OUT=$XMC_CACHE/out
# sid's is make initrds' initrd-stock; another kernel's, tests/matrix.sh's.
if [ "$id" = sid ]; then initrd=$OUT/initrd-stock.cpio.gz; else initrd=$OUT/initrd-$id.cpio.gz; fi
log "repeat: $run, $n boots on $id ($initrd)"
runs=(); for _ in $(seq "$n"); do runs+=("$run"); done
summary=$OUT/repeat-$id.json; rm -f "$summary"
python3 "$XMC_REPO/tests/sandbox/harness.py" --initrd-stock "$initrd" --keep-log "$OUT/logs/repeat-$id" \
    --summary "$summary" "${runs[@]}"
python3 "$XMC_REPO/tests/sandbox/summary.py" repeat "$summary" "$run" "$id"
