#!/usr/bin/env bash
# make repeat: one sandbox run N times in a row on one kernel, to show that a
# check is stable (a check that passes only sometimes is a failing check):
#   make repeat REPEAT_RUN=ours:burst+pipeline REPEAT_N=20 REPEAT_KERNEL=bpo73
# It builds what it boots from this checkout, as tests/matrix.sh does: the
# dom0 tools, the module for the kernel's tree, and an initramfs of its own
# with the sandbox cases (it once booted the initramfs a matrix run had left,
# with the cases of an older commit). Two boots at a time (XMC_SANDBOX_JOBS);
# prints one line per boot and a count; fails if any boot failed.
set -euo pipefail
id=${REPEAT_KERNEL:-sid}
export XMC_KERNEL=$id   # the harness boots that kernel's Xen (env.sh)
. "$(dirname "$0")/build/env.sh"
run=${REPEAT_RUN:-ours:burst+pipeline}
n=${REPEAT_N:-20}
OUT=$XMC_CACHE/out
bash "$XMC_REPO/tests/build/dom0-tools.sh" || die "building the dom0 tools failed"
bash "$XMC_REPO/tests/build/bootstrap.sh"
bash "$XMC_REPO/tests/build/kernels.sh" stock
ko=$(bash "$XMC_REPO/tests/build/build-module.sh" stock | tail -1)
initrd=$OUT/initrd-repeat-$id.cpio.gz
bash "$XMC_REPO/tests/sandbox/mkinitrd.sh" stock "$initrd" "$ko" "$OUT"/bin/*
log "repeat: $run, $n boots on $id ($initrd)"
runs=(); for _ in $(seq "$n"); do runs+=("$run"); done
summary=$OUT/repeat-$id.json; rm -f "$summary"
python3 "$XMC_REPO/tests/sandbox/harness.py" --initrd-stock "$initrd" --keep-log "$OUT/logs/repeat-$id" \
    --summary "$summary" "${runs[@]}"
python3 "$XMC_REPO/tests/sandbox/summary.py" repeat "$summary" "$run" "$id"
