#!/usr/bin/env bash
# The kernel matrix: for each Debian kernel of tests/kernels.conf (default:
# all of them, in the file's order), end to end:
#   toolchain  the build root's rustc / C compiler / bindgen print exactly the
#              kernel's CONFIG_*_VERSION_TEXT (tests/build/kernels.sh check-toolchain)
#   build      the module builds against the prepared tree with CLIPPY=1 and
#              no warning (tests/module-check.sh stock)
#   boot       Debian's unmodified kernel boots as PV dom0 under its root's
#              Xen 4.20 and reaches /init in every run
#   cases      the core sandbox cases: load and both refusals, the device, the
#              page-owner probe, a burst through the pipeline, the demo
#              injection, the tracepoint
#   erst       the six-boot ERST test (tests/erst.sh): a fatal machine check
#              saved by Xen before a reset is delivered after it
#   warnings   kernel WARNINGs on the console (must be none)
# Usage: tests/matrix.sh [ID...]   (make matrix; make check runs sid's full
# suite and `tests/matrix.sh bpo73`). Prints a Markdown table and writes it to
# $XMC_CACHE/out/MATRIX.md; exits non-zero unless every row is fully green.
set -uo pipefail
. "$(dirname "$0")/build/env.sh"
OUT=$XMC_CACHE/out
CORE_RUNS=${XMC_CORE_RUNS:-"ours:load+chardev+owner ours:burst+pipeline ours:demo+trace cdriver:refuse-cdriver nox:refuse-nox"}
ids=("$@")
[ ${#ids[@]} -gt 0 ] || mapfile -t ids < <(kernel_ids)
mkdir -p "$OUT/matrix"
bash "$XMC_REPO/tests/build/dom0-tools.sh" || die "building the dom0 tools failed"

rows=() all_ok=1
for id in "${ids[@]}"; do
    log "=== matrix: $id"
    tool=- build=- boot=- cases=- erst=- warn=- secs=$SECONDS
    klog=$OUT/matrix/$id.log
    (
        set -e
        export XMC_KERNEL=$id
        . "$XMC_REPO/tests/build/env.sh"
        bash "$XMC_REPO/tests/build/bootstrap.sh"
        bash "$XMC_REPO/tests/build/kernels.sh" stock
        bash "$XMC_REPO/tests/build/kernels.sh" check-toolchain
        echo "XMC-MATRIX toolchain ok"
        ko=$(bash "$XMC_REPO/tests/module-check.sh" stock | tail -1)
        echo "XMC-MATRIX build ok"
        bash "$XMC_REPO/tests/sandbox/mkinitrd.sh" stock "$OUT/initrd-$id.cpio.gz" "$ko" "$OUT"/bin/*
        rm -f "$OUT/matrix/$id.json"
        # shellcheck disable=SC2086
        python3 "$XMC_REPO/tests/sandbox/harness.py" --initrd-stock "$OUT/initrd-$id.cpio.gz" \
            --keep-log "$OUT/logs/$id" --summary "$OUT/matrix/$id.json" $CORE_RUNS
        bash "$XMC_REPO/tests/erst.sh" "$OUT/initrd-$id.cpio.gz"
    ) 2>&1 | tee "$klog"
    rc=${PIPESTATUS[0]}
    grep -q '^XMC-MATRIX toolchain ok' "$klog" && tool=ok || tool=FAIL
    if [ $tool = ok ]; then grep -q '^XMC-MATRIX build ok' "$klog" && build=ok || build=FAIL; fi
    if [ -s "$OUT/matrix/$id.json" ]; then grep -q 'ERST: all six boots passed' "$klog" && erst=ok || erst=FAIL; fi
    if [ -s "$OUT/matrix/$id.json" ]; then
        read -r boot cases warn < <(python3 "$XMC_REPO/tests/sandbox/summary.py" matrix-row "$OUT/matrix/$id.json")
    fi
    rel=$(conf_field kernel "$id" 1) root=$(conf_field kernel "$id" 4)
    want=$(conf_field kernel "$id" 6 | sed 's/^rustc \([^ ]*\).*/rustc \1/')
    cc=$(conf_field kernel "$id" 7 | sed 's/^x86_64-linux-gnu-\([^ ]*\) (Debian \([^)]*\)).*/\1 \2/')
    ok=1
    [ "$rc" = 0 ] && [ $tool = ok ] && [ $build = ok ] && [ "${boot%%(*}" = ok ] && [ $erst = ok ] && [ "$warn" = 0 ] || ok=0
    [ $ok = 1 ] || all_ok=0
    rows+=("| $id | $rel | $root: $want, $cc | $tool | $build | $boot | $cases | $erst | $warn | $((SECONDS - secs)) s | $([ $ok = 1 ] && echo pass || echo FAIL) |")
done

{
    echo "Kernel matrix, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, QEMU TCG; runs: $CORE_RUNS"
    echo
    echo "| kernel | release | build root: toolchain | toolchain check | CLIPPY=1 build | dom0 boots | cases passed | ERST 6 boots | WARNINGs | time | result |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
} > "$OUT/MATRIX.md"
echo
cat "$OUT/MATRIX.md"
[ $all_ok = 1 ] || die "kernel matrix: not every kernel passed (logs: $OUT/matrix/, serial logs: $OUT/logs/<kernel>/)"
