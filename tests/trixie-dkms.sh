#!/usr/bin/env bash
# The native Debian 13 install path, proven in a trixie root that stands in for
# a user's dom0 (trixie + trixie-backports only, nothing from sid or forky):
#   1. the user's packages: the trixie-backports kernel 7.2.12+deb13 with its
#      headers and linux-source-7.2, dkms, and trixie's own rustc, bindgen,
#      gcc-14 (the kernel's exact toolchain);
#   2. `make dkms-install`: the Rust metadata is regenerated on the "dom0"
#      itself and dkms builds and installs xen_mcelog for 7.2.12+deb13;
#   3. kernel upgrade: `apt-get install linux-image-7.3.4+deb13-amd64
#      linux-headers-7.3.4+deb13-amd64` without linux-source-7.3: the apt run
#      prints one line naming linux-source-7.3, the 7.2.12 module is untouched;
#   4. `apt-get install linux-source-7.3`: nothing else; APT's post-invoke hook
#      regenerates the metadata and dkms builds the module for 7.3.4+deb13;
#   5. that DKMS-built module is modprobed in a sandbox boot of Debian's
#      7.3.4+deb13 kernel under trixie's Xen (load, device, a burst).
# Steps 2-4 are skipped (and their recorded results reused) while neither the
# module's sources nor the install path changed; step 5 runs every time.
# Usage: tests/trixie-dkms.sh   (part of make check and make matrix)
set -euo pipefail
. "$(dirname "$0")/env.sh"
OUT=$XMC_CACHE/out
OLD=7.2.12+deb13-amd64 NEW=7.3.4+deb13-amd64
BASE=$XMC_CACHE/trixie-dom0-base        # after step 1 (cached, keyed by the package lists)
D=$XMC_CACHE/trixie-dom0                # a fresh copy of BASE for steps 2-4
RES=$OUT/trixie-dkms                    # results: the .ko files, apt output, the key
# What the user installs (README, "Installing on your Debian dom0").
KPKGS="linux-image-$OLD linux-headers-$OLD linux-source-7.2"
TOOLPKGS="dkms rustc rust-src rust-clippy rustfmt bindgen libclang-dev gcc-14 make flex bison bc libelf-dev
  libssl-dev openssl python3 kmod cpio xz-utils dwarves rsync"

# in_d ROOT CMD...: env.sh's in_root, in that root.
in_d() { XMC_ROOT=$1 in_root "${@:2}"; }

# --- 1. the user's Debian 13 dom0, before xen_mcelog ---------------------------
bkey=$(echo "$KPKGS $TOOLPKGS" | sha256sum | cut -c1-12)
if [ "$(cat "$BASE/.xmc-key" 2>/dev/null)" != "$bkey" ]; then
    log "trixie dom0 stand-in: debootstrap trixie, the backports kernel $OLD and trixie's toolchain (about 5 min)"
    rm -rf "$BASE"
    debootstrap --variant=minbase trixie "$BASE" "$XMC_MIRROR" /usr/share/debootstrap/scripts/sid \
        > "$XMC_CACHE/debootstrap-trixie-dom0.log" 2>&1 ||
        { tail -20 "$XMC_CACHE/debootstrap-trixie-dom0.log"; die "debootstrap trixie failed"; }
    echo "deb $XMC_MIRROR trixie-backports main" >> "$BASE/etc/apt/sources.list"
    echo 'APT::Install-Recommends "false";' > "$BASE/etc/apt/apt.conf.d/99no-recommends"
    blog=$XMC_CACHE/trixie-dom0-base.log
    {
        in_d "$BASE" apt-get update -q
        # Kernel, headers and source from backports (-t: their libelf too);
        # the toolchain from trixie itself (backports has newer rustc).
        # shellcheck disable=SC2086
        in_d "$BASE" apt-get install -y -q -t trixie-backports $KPKGS libelf-dev dwarves
        # shellcheck disable=SC2086
        in_d "$BASE" apt-get install -y -q $TOOLPKGS
        in_d "$BASE" apt-get clean
    } > "$blog" 2>&1 || { tail -30 "$blog"; die "installing the trixie dom0 packages failed (log: $blog)"; }
    echo "$bkey" > "$BASE/.xmc-key"
fi

# --- 2-4. install, upgrade, finish the upgrade --------------------------------
key=$( (echo "$bkey"; cd "$XMC_REPO" && find Kbuild Makefile src ring chardev tools/dkms tests/env.sh \
        tests/kernels.conf tests/trixie-dkms.sh -type f -not -path '*/target/*' -not -path '*/fuzz/*' \
        -not -path '*/tests/*' | sort | xargs sha256sum; sha256sum tests/trixie-dkms.sh) | sha256sum | cut -c1-16)
ko_of() { ls "$D/lib/modules/$1/updates/dkms/"xen_mcelog.ko* 2>/dev/null | head -1; }
if [ "$(cat "$RES/key" 2>/dev/null)" = "$key" ] && [ -f "$RES/xen_mcelog-$NEW.ko" ]; then
    log "trixie DKMS install and upgrade: cached result for these sources ($key)"
else
    # Steps 2 and 4 prepare kernel trees: never beside another kernel build.
    exec 9>"$XMC_CACHE/kernel-build.lock"; flock 9
    rm -rf "$RES"; mkdir -p "$RES"
    log "trixie dom0: fresh copy of the stand-in"
    rm -rf "$D"; cp -a "$BASE" "$D"
    rsync -a --exclude target --exclude .git "$XMC_REPO/" "$D/root/xen_mcelog/"

    log "step 2: make dkms-install on the trixie dom0 (KVER=$OLD)"
    t0=$SECONDS
    in_d "$D" make -C /root/xen_mcelog dkms-install KVER=$OLD 2>&1 | tee "$RES/dkms-install.log" |
        grep -E 'xen_mcelog|error|Error|installed' || true
    [ "${PIPESTATUS[0]}" = 0 ] || die "make dkms-install failed (log: $RES/dkms-install.log)"
    echo "dkms-install: $((SECONDS - t0)) s" > "$RES/times"
    old_ko=$(ko_of $OLD); [ -n "$old_ko" ] || die "no xen_mcelog.ko for $OLD after make dkms-install"
    vm=$(in_d "$D" modinfo -F vermagic "${old_ko#"$D"}")
    case $vm in "$OLD "*) log "  $OLD: ${old_ko#"$D"}, vermagic '$vm'" ;; *) die "vermagic '$vm' is not $OLD's" ;; esac
    old_sum=$(sha256sum < "$old_ko")

    log "step 3: apt-get install linux-image-$NEW linux-headers-$NEW (no linux-source-7.3 yet)"
    t0=$SECONDS
    in_d "$D" apt-get install -y -q -t trixie-backports "linux-image-$NEW" "linux-headers-$NEW" > "$RES/upgrade.log" 2>&1 ||
        { tail -30 "$RES/upgrade.log"; die "the kernel upgrade failed (log: $RES/upgrade.log)"; }
    echo "upgrade without source: $((SECONDS - t0)) s" >> "$RES/times"
    grep 'xen_mcelog:' "$RES/upgrade.log" | sed 's/^/  apt: /' | sort -u
    grep -q "xen_mcelog: to build xen_mcelog for $NEW, install linux-source-7.3 " "$RES/upgrade.log" ||
        die "the upgrade's apt output does not name linux-source-7.3 (log: $RES/upgrade.log)"
    [ -z "$(ko_of $NEW)" ] || die "a module for $NEW exists although its Rust metadata could not be made"
    [ "$(sha256sum < "$old_ko")" = "$old_sum" ] || die "the $OLD module changed during the upgrade"
    log "  apt named linux-source-7.3; the $OLD module is untouched"

    log "step 4: apt-get install linux-source-7.3 (and nothing else)"
    t0=$SECONDS
    in_d "$D" apt-get install -y -q -t trixie-backports linux-source-7.3 > "$RES/source.log" 2>&1 ||
        { tail -30 "$RES/source.log"; die "installing linux-source-7.3 failed (log: $RES/source.log)"; }
    echo "source install + metadata + dkms build: $((SECONDS - t0)) s" >> "$RES/times"
    grep 'xen_mcelog:' "$RES/source.log" | sed 's/^/  apt: /'
    new_ko=$(ko_of $NEW); [ -n "$new_ko" ] || { tail -30 "$RES/source.log"; die "no xen_mcelog.ko for $NEW after installing linux-source-7.3"; }
    vm=$(in_d "$D" modinfo -F vermagic "${new_ko#"$D"}")
    case $vm in "$NEW "*) log "  $NEW: ${new_ko#"$D"}, vermagic '$vm'" ;; *) die "vermagic '$vm' is not $NEW's" ;; esac
    [ "$(sha256sum < "$old_ko")" = "$old_sum" ] || die "the $OLD module changed"
    in_d "$D" dkms status xen_mcelog | sed 's/^/  dkms: /'
    for k in $OLD $NEW; do
        ko=$(ko_of "$k")
        case $ko in *.xz) xz -dc "$ko" > "$RES/xen_mcelog-$k.ko" ;; *.zst) zstd -dqc "$ko" > "$RES/xen_mcelog-$k.ko" ;; *) cp "$ko" "$RES/xen_mcelog-$k.ko" ;; esac
    done
    echo "$key" > "$RES/key"
    rm -rf "$D"   # 3 GB; BASE stays
    exec 9>&-
fi
sed 's/^/  time: /' "$RES/times"

# --- 5. the DKMS-built module in Debian's 7.3.4+deb13 as dom0 -----------------
export XMC_KERNEL=bpo73
load_kernel bpo73
[ -f "$XMC_KDIR/usr/src/linux-headers-$XMC_KVER/.config" ] || bash "$XMC_REPO/tests/bootstrap.sh"
bash "$XMC_REPO/tests/dom0-tools.sh"
bash "$XMC_REPO/tests/sandbox/mkinitrd.sh" stock "$OUT/initrd-bpo73-dkms.cpio.gz" "$RES/xen_mcelog-$NEW.ko" "$OUT"/bin/*
python3 "$XMC_REPO/tests/sandbox/harness.py" --initrd-stock "$OUT/initrd-bpo73-dkms.cpio.gz" \
    --keep-log "$OUT/logs/bpo73-dkms" --case-timeout 600 ours:load+burst
