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
#      7.3.4+deb13 kernel under trixie's Xen (load, device, a burst);
#   6. hooks that never break or stall apt: linux-source-7.3's tarball cut
#      short, the metadata of 7.3.4+deb13 fails once; five apt runs after it
#      say one "skipping" line each and build nothing; dkms skips the kernel;
#   7. the tarball whole again: the next apt run makes it once, the one
#      after is silent;
#   8. sources that do not compile: `apt-get install --reinstall
#      linux-image-7.3.4+deb13-amd64` exits 0 with one line, dkms's own hook
#      skips xen_mcelog; --retry with good sources builds it;
#   9. `apt-get purge` of 7.2.12+deb13: its headers directory, failure memory
#      and linux-kbuild-7.2's target.json are gone (/etc/kernel/postrm.d).
# Steps 2-4 and 6-9 are skipped (and their recorded results reused) while
# neither the module's sources nor the install path changed; step 5 runs
# every time.
# Usage: tests/trixie-dkms.sh   (part of make check and make matrix)
set -euo pipefail
. "$(dirname "$0")/build/env.sh"
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
key=$( (echo "$bkey"; cd "$XMC_REPO" && find Kbuild Makefile src ring chardev tools/dkms tests/build/env.sh \
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

    # --- 6-9. hooks that never break or stall apt (after the .ko files are kept) ---
    T=/usr/lib/xen_mcelog/xen-mcelog-rust-meta SRC=/usr/src/linux-source-7.3.tar.xz
    FAILED=/var/cache/xen-mcelog-rust/failed
    # apt_run NAME: one cheap apt run (dpkg runs, so APT's post-invoke hook
    # does); its output in $RES/NAME.log, its xen_mcelog lines printed.
    apt_run() {
        in_d "$D" apt-get install -y -q --reinstall bc > "$RES/$1.log" 2>&1 ||
            { tail -30 "$RES/$1.log"; die "apt run $1 failed (log: $RES/$1.log)"; }
        grep '^xen_mcelog:' "$RES/$1.log" | sed "s/^/  apt ($1): /" || true
    }
    drop_new() {   # NEW without its module and metadata, as before step 4
        in_d "$D" dkms remove "xen_mcelog/$ver" -k $NEW > /dev/null 2>&1 || true
        in_d "$D" env DEB_MAINT_PARAMS=remove $T --remove $NEW
        [ -z "$(ko_of $NEW)" ] && [ ! -e "$D/usr/src/linux-headers-$NEW/rust/libkernel.rmeta" ] ||
            die "could not take $NEW back to no module, no metadata"
    }
    ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$XMC_REPO/tools/dkms/dkms.conf")

    log "step 6: a failed metadata build (linux-source-7.3's tarball cut short) is tried once"
    drop_new
    cp "$D$SRC" "$D$SRC.whole"; truncate -s 1M "$D$SRC"
    apt_run fail0
    grep -q "^xen_mcelog: could not make the Rust metadata of $NEW (log: .*--retry $NEW\$" "$RES/fail0.log" ||
        die "the first apt run after the damage did not say the metadata failed (log: $RES/fail0.log)"
    [ -f "$D$FAILED/$NEW" ] || die "no failure record for $NEW"
    excl=$(in_d "$D" dkms build "xen_mcelog/$ver" -k $NEW 2>&1 || true)
    grep -qi "BUILD_EXCLUSIVE" <<< "$excl" || die "dkms does not skip $NEW while its failure is remembered: $excl"
    for i in 1 2 3 4 5; do
        t0=$SECONDS; apt_run skip$i
        [ "$(grep -c '^xen_mcelog:' "$RES/skip$i.log")" = 1 ] &&
            grep -q "^xen_mcelog: skipping $NEW: its Rust metadata failed on .*--retry $NEW\$" "$RES/skip$i.log" ||
            die "apt run $i after the failure: not one 'skipping' line (log: $RES/skip$i.log)"
        ! grep -q "making the Rust metadata" "$RES/skip$i.log" || die "apt run $i tried the metadata again"
        echo "apt run $i after the failure: $((SECONDS - t0)) s" >> "$RES/times"
    done
    [ ! -d "$D/var/cache/xen-mcelog-rust/$NEW" ] || die "a work directory for $NEW was left"
    log "  five apt runs: one 'skipping' line each, no rebuild"

    log "step 7: the fix (the whole tarball back, as a reinstall of linux-source-7.3): rebuilt once"
    mv "$D$SRC.whole" "$D$SRC"
    apt_run fixed
    [ "$(grep -c "making the Rust metadata of $NEW" "$RES/fixed.log")" = 1 ] ||
        die "the apt run after the fix did not make the metadata exactly once (log: $RES/fixed.log)"
    [ -n "$(ko_of $NEW)" ] && [ ! -e "$D$FAILED/$NEW" ] || die "no module for $NEW after the fix (log: $RES/fixed.log)"
    apt_run after
    ! grep -q '^xen_mcelog:' "$RES/after.log" || die "the apt run after the fix still says something (log: $RES/after.log)"
    grep -qxF "# headers: $(in_d "$D" dpkg-query -W -f '${Version}' linux-headers-$NEW)" \
        "$D/usr/src/linux-headers-$NEW/rust/.xen_mcelog-overlay" || die "the overlay does not record the headers' version"
    log "  metadata and module made once; the next apt run is silent"

    log "step 8: a module that does not compile against $NEW: the kernel package still installs"
    # Not built for NEW any more (dkms install would reuse a build).
    in_d "$D" dkms remove "xen_mcelog/$ver" -k $NEW > /dev/null 2>&1 || true
    m=$D/usr/src/xen_mcelog-$ver/src/xen_mcelog_main.rs
    cp "$m" "$m.good"; echo 'compile_error!("xen_mcelog: deliberately broken for tests/trixie-dkms.sh");' >> "$m"
    rc=0; in_d "$D" apt-get install -y -q --reinstall "linux-image-$NEW" > "$RES/broken.log" 2>&1 || rc=$?
    [ "$rc" = 0 ] || { tail -30 "$RES/broken.log"; die "apt-get exited $rc when the module does not compile (log: $RES/broken.log)"; }
    in_d "$D" dpkg-query -W -f '${Status}' "linux-image-$NEW" | grep -q 'install ok installed' ||
        die "linux-image-$NEW is not installed after the reinstall (log: $RES/broken.log)"
    grep '^xen_mcelog:' "$RES/broken.log" | sed 's/^/  apt: /'
    [ "$(grep -c '^xen_mcelog:' "$RES/broken.log")" = 1 ] &&
        grep -q "^xen_mcelog: xen_mcelog $ver does not build for $NEW (log: .*--retry $NEW\$" "$RES/broken.log" ||
        die "not one clear line for the module that does not compile (log: $RES/broken.log)"
    grep -q "Autoinstall on $NEW was skipped for module(s) xen_mcelog" "$RES/broken.log" ||
        die "dkms's own kernel hook did not skip xen_mcelog (log: $RES/broken.log)"
    mv "$m.good" "$m"
    { in_d "$D" $T --retry $NEW 2>&1 || true; } | sed 's/^/  retry: /'
    [ -n "$(ko_of $NEW)" ] || die "--retry $NEW with the good sources left no module"
    log "  apt exits 0, one line, dkms's hook skips; --retry builds it"

    log "step 9: purging $OLD removes its metadata and failure memory"
    mkdir -p "$D$FAILED"; printf 'key=stale\nmodule=%s\n' "$ver" > "$D$FAILED/$OLD"
    kb7_2=$(readlink -f "$D/usr/src/linux-headers-$OLD/scripts")
    in_d "$D" apt-get purge -y -q "linux-image-$OLD" "linux-headers-$OLD" > "$RES/purge.log" 2>&1 ||
        { tail -30 "$RES/purge.log"; die "purging $OLD failed (log: $RES/purge.log)"; }
    [ ! -e "$D/usr/src/linux-headers-$OLD" ] || die "/usr/src/linux-headers-$OLD is left: $(find "$D/usr/src/linux-headers-$OLD" | head -5)"
    [ ! -e "$D$FAILED/$OLD" ] || die "the failure memory of $OLD is left"
    [ ! -e "$kb7_2/target.json" ] || die "linux-kbuild-7.2's target.json is left (no 7.2 kernel remains)"
    [ -e "$(readlink -f "$D/usr/src/linux-headers-$NEW/scripts")/target.json" ] || die "$NEW's target.json went with $OLD"
    log "  $OLD purged: headers directory, failure memory and linux-kbuild-7.2's target.json gone"

    echo "$key" > "$RES/key"
    rm -rf "$D"   # 3 GB; BASE stays
    exec 9>&-
fi
sed 's/^/  time: /' "$RES/times"

# --- 5. the DKMS-built module in Debian's 7.3.4+deb13 as dom0 -----------------
export XMC_KERNEL=bpo73
load_kernel bpo73
[ -f "$XMC_KDIR/usr/src/linux-headers-$XMC_KVER/.config" ] || bash "$XMC_REPO/tests/build/bootstrap.sh"
bash "$XMC_REPO/tests/build/dom0-tools.sh"
bash "$XMC_REPO/tests/sandbox/mkinitrd.sh" stock "$OUT/initrd-bpo73-dkms.cpio.gz" "$RES/xen_mcelog-$NEW.ko" "$OUT"/bin/*
python3 "$XMC_REPO/tests/sandbox/harness.py" --initrd-stock "$OUT/initrd-bpo73-dkms.cpio.gz" \
    --keep-log "$OUT/logs/bpo73-dkms" ours:load+burst
