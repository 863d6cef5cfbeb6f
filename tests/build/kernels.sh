#!/usr/bin/env bash
# Prepare the kernel trees the module is built against, cached outside the
# repository under $XMC_WORK, keyed by kernel version + config hash:
#   stock  Debian's linux-image-$XMC_KVER config (XMC_KERNEL of
#          tests/kernels.conf, default sid): olddefconfig + prepare +
#          modules_prepare, Debian's Module.symvers and BTF vmlinux. Only to
#          build modules against; the sandbox boots Debian's own vmlinuz.
#          Checked first: the build root's rustc, C compiler and bindgen
#          print exactly the kernel's CONFIG_*_VERSION_TEXT.
#   test   (sid's source only) allnoconfig + tests/build/kernel/test-dom0.config (KUnit, no XEN_MCE_LOG),
#          fully built: the dom0 kernel for KUnit runs.
#   debug  the test kernel + tests/build/kernel/debug-dom0.config (lockdep, atomic
#          sleep, UBSAN, DEBUG_LIST, kmemleak, debug objects): make check-debug.
#   kasan  the test kernel + tests/build/kernel/kasan-dom0.config, built with
#          Clang/LLVM 22 (installed into the build root on first use):
#          make check-kasan.
# Usage: tests/build/kernels.sh stock|test|debug|kasan|check-toolchain|path-stock|path-test|path-debug|path-kasan
# A flock serialises kernel builds: never two at once on this 2-core machine.
set -euo pipefail
. "$(dirname "$0")/env.sh"
SRC_IN=/xmc/linux-$XMC_KPKG_VER                    # as seen inside the root
HDR=$XMC_KDIR/usr/src/linux-headers-$XMC_KVER     # Debian's headers package, unpacked
KMAKE=(make -C "$SRC_IN" "${XMC_KMAKE_CC[@]}")
# The KASAN flavour: Rust with KASAN needs a Clang-built kernel.
KMAKE_LLVM=(make -C "$SRC_IN" ARCH=x86 LLVM=$XMC_LLVM)
ensure_llvm() {
    in_root sh -c "command -v clang$XMC_LLVM >/dev/null && command -v ld.lld$XMC_LLVM >/dev/null" && return
    log "installing clang$XMC_LLVM, lld$XMC_LLVM and llvm$XMC_LLVM into the build root (KASAN kernel)"
    in_root sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang$XMC_LLVM lld$XMC_LLVM llvm$XMC_LLVM >/dev/null"
}

# The three texts the kernel's .config records, against what the root's
# tools print; the module's Rust metadata (crate hashes) and C objects must
# come from the very toolchain that built the kernel.
check_toolchain() {
    local what want have conf bad=0 seen=
    for what in RUSTC CC BINDGEN; do
        want=$(sed -n "s/^CONFIG_${what}_VERSION_TEXT=\"\(.*\)\"\$/\1/p" "$HDR/.config")
        case $what in
            RUSTC) have=$(in_root rustc --version); conf=$XMC_WANT_RUSTC ;;
            CC) have=$(in_root "$XMC_CC" --version | head -1); conf=$XMC_WANT_CC ;;
            BINDGEN) have=$(in_root bindgen --version 2>/dev/null | head -1); conf=$XMC_WANT_BINDGEN ;;
        esac
        if [ "$want" != "$conf" ]; then
            log "tests/kernels.conf says $XMC_KERNEL was built with '$conf' but its linux-headers .config says '$want' (CONFIG_${what}_VERSION_TEXT): fix tests/kernels.conf"
            bad=1
        fi
        if [ "$want" != "$have" ]; then
            log "the $XMC_ROOT_NAME root's ${what,,} is '$have' but $XMC_KVER was built with '$want' (CONFIG_${what}_VERSION_TEXT)"
            bad=1
        fi
        seen+=${seen:+ / }$have
    done
    [ $bad = 0 ] || die "toolchain mismatch for $XMC_KVER: the module would not match the kernel (Rust crate hashes, C ABI).
    Install the kernel's exact versions in $XMC_ROOT (e.g. chroot $XMC_ROOT apt-get install rustc=VERSION),
    or point the kernel at a root whose suite has them (tests/kernels.conf), then re-run."
    log "toolchain of $XMC_KVER ok: $seen"
}
stock_key() { (echo "$XMC_KPKG_VER"; cat "$HDR/.config") | sha256sum | cut -c1-12; }
fragments() { # the config fragments of a fully built flavour, in order
    case $1 in
        test) echo "$XMC_REPO/tests/build/kernel/test-dom0.config" ;;
        debug) echo "$XMC_REPO/tests/build/kernel/test-dom0.config $XMC_REPO/tests/build/kernel/debug-dom0.config" ;;
        kasan) echo "$XMC_REPO/tests/build/kernel/test-dom0.config $XMC_REPO/tests/build/kernel/kasan-dom0.config" ;;
    esac
}
# shellcheck disable=SC2046
built_key() { (echo "$XMC_KPKG_VER"; cat $(fragments "$1")) | sha256sum | cut -c1-12; }
path_stock() { echo "/xmc/obj-stock-$XMC_KPKG_VER-$(stock_key)"; }
path_built() { echo "/xmc/obj-$1-$XMC_KPKG_VER-$(built_key "$1")"; }

with_lock() { exec 9>"$XMC_CACHE/kernel-build.lock"; flock 9; }

build_stock() {
    local obj; obj=$(path_stock)
    if [ -e "$XMC_ROOT$obj/.xmc-done" ]; then log "stock tree cached: $XMC_ROOT$obj"; return; fi
    with_lock; check_toolchain
    log "preparing the stock kernel tree $obj (about 80 s)"
    rm -rf "$XMC_ROOT$obj"; mkdir -p "$XMC_ROOT$obj"
    cp "$HDR/.config" "$XMC_ROOT$obj/.config"
    local k=("${KMAKE[@]}" O="$obj" KERNELRELEASE="$XMC_KVER")
    in_root "${k[@]}" -s olddefconfig
    # Debian's config must come out unchanged. Only the binutils version lines
    # may differ: the archive keeps one binutils per suite, and an older
    # kernel (experimental's 7.3~rc7 was built with 2.47) outlives it. They
    # select nothing here (every option depending on them came out the same,
    # which this comparison of all other lines checks); say so and go on.
    local rest
    rest=$(diff <(grep -Ev '^CONFIG_(AS|LD)_VERSION=' "$HDR/.config") \
                <(grep -Ev '^CONFIG_(AS|LD)_VERSION=' "$XMC_ROOT$obj/.config")) ||
        die "olddefconfig changed Debian's config: the build root's toolchain differs from the stock kernel's:
$rest"
    if ! cmp -s "$HDR/.config" "$XMC_ROOT$obj/.config"; then
        log "note: $XMC_KVER was built with binutils $(sed -n 's/^CONFIG_LD_VERSION=//p' "$HDR/.config"), the $XMC_ROOT_NAME root has $(sed -n 's/^CONFIG_LD_VERSION=//p' "$XMC_ROOT$obj/.config") (no longer in the archive); no other option changed"
    fi
    in_root "${k[@]}" -s rustavailable
    in_root nice -n 5 "${k[@]}" -j2 prepare
    in_root nice -n 5 "${k[@]}" -j2 modules_prepare
    cp "$HDR/Module.symvers" "$XMC_ROOT$obj/Module.symvers"
    cp "$HDR/vmlinux" "$XMC_ROOT$obj/vmlinux" 2>/dev/null || true   # BTF-only vmlinux, for resolve_btfids
    touch "$XMC_ROOT$obj/.xmc-done"
    log "stock tree ready"
}

build_full() {
    local flavour=$1 obj; obj=$(path_built "$flavour")
    [ "$XMC_KERNEL" = sid ] || die "the $flavour kernel is built from sid's source only (XMC_KERNEL=sid)"
    if [ -e "$XMC_ROOT$obj/.xmc-done" ]; then log "$flavour tree cached: $XMC_ROOT$obj"; return; fi
    with_lock; check_toolchain
    [ "$flavour" != kasan ] || ensure_llvm
    log "building the $flavour kernel $obj (about 9 min cold on 2 cores, more for debug)"
    rm -rf "$XMC_ROOT$obj"; mkdir -p "$XMC_ROOT$obj"
    local k=("${KMAKE[@]}" O="$obj")
    [ "$flavour" != kasan ] || k=("${KMAKE_LLVM[@]}" O="$obj")
    in_root "${k[@]}" -s allnoconfig
    local args=() line key val frags
    frags=$(fragments "$flavour")
    # shellcheck disable=SC2086
    while read -r line; do
        line=${line%%#*}; [ -n "${line// }" ] || continue
        key=${line%%=*}; val=${line#*=}
        case $val in y) args+=(--enable "$key");; n) args+=(--disable "$key");; *) args+=(--set-val "$key" "$val");; esac
    done < <(cat $frags)
    # Options appear only once their parents are on: apply three times.
    for _ in 1 2 3; do
        in_root "$SRC_IN/scripts/config" --file "$obj/.config" "${args[@]}"
        in_root "${k[@]}" -s olddefconfig
    done
    while read -r line; do
        line=${line%%#*}; [ -n "${line// }" ] || continue
        key=${line%%=*}; val=${line#*=}
        if [ "$val" = n ]; then
            grep -q "^# CONFIG_$key is not set" "$XMC_ROOT$obj/.config" || ! grep -q "^CONFIG_$key=" "$XMC_ROOT$obj/.config" ||
                die "test kernel config: CONFIG_$key should be off"
        else
            grep -q "^CONFIG_$key=$val\$" "$XMC_ROOT$obj/.config" || die "$flavour kernel config: CONFIG_$key=$val did not stick"
        fi
    done < <(cat $frags)
    local blog=$XMC_CACHE/$flavour-kernel-build.log
    # Progress every 30 s: the build itself is quiet (its log is kept).
    ( while sleep 30; do log "$flavour kernel: $(grep -cE '^ +(CC|RUSTC|AS|LD)' "$blog" 2>/dev/null) objects so far"; done ) &
    local watcher=$!
    local rc=0
    in_root nice -n 5 "${k[@]}" -j2 bzImage vmlinux modules > "$blog" 2>&1 || rc=$?
    kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null || true
    [ $rc = 0 ] || { tail -30 "$blog"; die "$flavour kernel build failed (log: $blog)"; }
    touch "$XMC_ROOT$obj/.xmc-done"
    log "$flavour kernel ready"
}

case ${1:-} in
    stock) build_stock ;;
    test | debug | kasan) build_full "$1" ;;
    check-toolchain) check_toolchain ;;
    path-stock) path_stock ;;
    path-test) path_built test ;;
    path-debug) path_built debug ;;
    path-kasan) path_built kasan ;;
    *) die "usage: $0 stock|test|debug|kasan|check-toolchain|path-stock|path-test|path-debug|path-kasan" ;;
esac
