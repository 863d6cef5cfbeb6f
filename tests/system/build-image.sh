#!/usr/bin/env bash
# The Debian 13 dom0 of `make check-system`, built from the archive in a
# chroot on this host (booting it is only for running it; tests/system/run.sh):
#   base   debootstrap trixie into an ext4 image (loop-mounted) with the
#          system a Xen host runs: systemd, udev, initramfs-tools, GRUB,
#          Xen 4.20 (hypervisor + utils), prometheus-node-exporter, curl,
#          and rasdaemon built from Debian's source with our patch (a .deb);
#          cached, keyed by its package lists and this script
#   user   a copy of base, then the README's "Installing on your Debian dom0"
#          block run line by line in the chroot (our two packages from
#          make deb, the backports kernel, GRUB's Xen entry, modules-load.d),
#          then the test harness: the unit (tests/system/xmc-system-check.*),
#          the scripts it sources and the static xmc-test (make dom0-tools),
#          copied in on every run;
#          cached, keyed by base, both .deb files and the README block
# Prints the image path last. Needs root, loop devices, debootstrap.
set -euo pipefail
. "$(dirname "$0")/../build/env.sh"
S=$XMC_CACHE/system
mkdir -p "$S"
HERE=$XMC_REPO/tests/system
DEBS=$XMC_CACHE/out/deb
up=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$XMC_REPO/tools/dkms/dkms.conf")
INCLUDE=systemd-sysv,udev,initramfs-tools,kmod,procps,iproute2,ca-certificates,apt-utils
# Xen as Debian's wiki installs it: xen-system-amd64 (the hypervisor, its
# tools and xen-hypervisor-common, which ships /etc/default/grub.d/xen.cfg;
# xen-hypervisor-4.20-amd64 alone only recommends that, and recommends are off).
# dbus: systemd recommends it (a Debian install has it); without it systemctl
# works through systemd's private socket but systemd-run (journal-storm.sh)
# cannot start a transient unit.
PKGS="xen-system-amd64 dbus grub-pc prometheus-node-exporter curl sqlite3 less
  linux-perf- libdbd-sqlite3-perl perl"

MNT=
cleanup() {
    [ -n "$MNT" ] || return 0
    [ -z "$LOOPNODE" ] || { rm -f "$LOOPNODE"; rmdir "$(dirname "$LOOPNODE")" 2>/dev/null || true; LOOPNODE=; }
    local dev p t=120
    dev=$(findmnt -n -o SOURCE --target "$MNT" 2>/dev/null | grep '^/dev/loop' || true)
    # Nothing started in the chroot (a package's daemon) may keep the image
    # busy: the next mount of the same file (run.sh, read-only) fails while
    # the loop device is still attached.
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$MNT" ] && { kill -9 "${p#/proc/}" 2>/dev/null || true; }
    done
    for m in dev/pts dev proc sys run; do umount -l "$MNT/$m" 2>/dev/null || true; done
    umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
    # The loop device detaches (autoclear) once the last reference is gone.
    while [ -n "$dev" ] && losetup "$dev" >/dev/null 2>&1 && [ $t -gt 0 ]; do sleep 0.5; t=$((t - 1)); done
    [ -z "$dev" ] || ! losetup "$dev" >/dev/null 2>&1 || log "warning: $dev still attached after 60 s"
    if [ -n "$SHORT" ]; then umount "$SHORT" 2>/dev/null || umount -l "$SHORT"; rmdir "$SHORT"; SHORT=; fi
    MNT=
}
trap cleanup EXIT
# mount_img IMG: loop-mount IMG at $S/mnt, through a short path. The loop
# device keeps its backing file's name in 64 bytes (struct loop_info64
# lo_file_name), and without sysfs, as in the chroot, util-linux reads it
# from there: a longer path comes back cut, ending in '*', and update-grub
# then fails ("grub-probe: error: failed to get canonical path of
# `.../dom0-<key>.img.*'") once $XMC_CACHE has 30 characters or more
# ($XMC_CACHE/system/dom0-<12>.img.tmp reaches 63). A bind mount of the
# image's folder at /tmp/xmc-img.XXXXXX keeps the name whole. (Not sysfs in
# the chroot: package scripts there would see this host's /sys. Not /run:
# in the chroot that is a tmpfs, and the loop device's node, which
# mount_sys puts at the backing file's path, must be on the image's root
# file system.)
SHORT=
mount_img() {
    MNT=$S/mnt; mkdir -p "$MNT"
    SHORT=$(mktemp -d /tmp/xmc-img.XXXXXX)
    mount --bind "$(dirname "$1")" "$SHORT"
    mount -o loop "$SHORT/$(basename "$1")" "$MNT"
}
mount_sys() {   # /dev, /proc, /run in the chroot (not /sys: mount_img)
    mkdir -p "$MNT"/{dev,proc,sys,run}
    mount --bind /dev "$MNT/dev"; mount --bind /dev/pts "$MNT/dev/pts"
    mount -t proc proc "$MNT/proc"; mount -t tmpfs tmpfs "$MNT/run"
    # grub-probe (update-grub) follows the loop device to its backing file's
    # path: there, inside the chroot, is the loop device itself, so GRUB
    # sees a disk holding the root file system, as on a real machine.
    local dev mm; dev=$(findmnt -n -o SOURCE "$MNT"); mm=$(stat -c '%t %T' "$dev")
    LOOPNODE=$MNT$(losetup -n -O BACK-FILE "$dev")
    mkdir -p "$(dirname "$LOOPNODE")"
    mknod "$LOOPNODE" b $((0x${mm% *})) $((0x${mm#* }))
}
LOOPNODE=
ch() { chroot "$MNT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"; }

# --- rasdaemon, Debian 13's source + tools/rasdaemon/*.patch, as a .deb --------
ras_deb() {
    local R=$XMC_CACHE/trixie-root W=/xmc/rasdaemon-deb key
    key=$(cat "$XMC_REPO"/tools/rasdaemon/*.patch "$0" | sha256sum | cut -c1-12)
    if ls "$R$W/$key"/rasdaemon_*xenmcelog*_amd64.deb >/dev/null 2>&1; then
        ls "$R$W/$key"/rasdaemon_*xenmcelog*_amd64.deb; return
    fi
    log "rasdaemon: Debian's 0.8.4-2 source package + our patch -> .deb (built in the trixie root)"
    # trixie's own 0.8.3-1 source is gone from the archive's pool; 0.8.4-2
    # (sid, what tools/rasdaemon/*.patch is for) builds on trixie as is.
    [ -f "$XMC_ROOT/xmc/rasdaemon/rasdaemon_0.8.4-2.dsc" ] || bash "$XMC_REPO/tests/build/rasdaemon.sh" >&2
    # build-essential: dpkg-buildpackage checks for it (build-essential:native),
    # and the trixie root's debootstrap (minbase) has no reason to hold it.
    XMC_ROOT=$R in_root apt-get install -y -q --no-install-recommends build-essential dpkg-dev devscripts quilt debhelper \
        dh-exec autoconf automake libtool pkg-config libpci-dev libsqlite3-dev libgettextpo-dev \
        libtraceevent-dev libdbd-sqlite3-perl >&2
    rm -rf "$R$W"; mkdir -p "$R$W/$key"
    cp "$XMC_ROOT"/xmc/rasdaemon/rasdaemon_0.8.4* "$R$W/$key/"
    XMC_ROOT=$R in_root sh -c "cd $W/$key && dpkg-source -x rasdaemon_0.8.4-2.dsc" >&2
    local d; d=$(ls -d "$R$W/$key"/rasdaemon-*/ | head -1)
    mkdir -p "$d/debian/patches"
    for p in "$XMC_REPO"/tools/rasdaemon/*.patch; do
        cp "$p" "$d/debian/patches/xen-mcelog-$(basename "$p")"
        echo "xen-mcelog-$(basename "$p")" >> "$d/debian/patches/series"
    done
    XMC_ROOT=$R in_root sh -c "cd ${d#"$R"} && QUILT_PATCHES=debian/patches quilt push -a -q >/dev/null &&
        QUILT_PATCHES=debian/patches quilt pop -a -q >/dev/null &&
        DEBFULLNAME='xen_mcelog developers' DEBEMAIL=xen-mcelog@lists.invalid \
        dch -l +xenmcelog 'Subscribe to xen_mcelog:xen_mce_record; keep events traced before the clock is set (xen_mcelog tools/rasdaemon).' &&
        dpkg-buildpackage -b -uc -us -j2" >&2
    ls "$R$W/$key"/rasdaemon_*xenmcelog*_amd64.deb
}

# --- base ------------------------------------------------------------------
bkey=$( (echo "$INCLUDE $PKGS"; sed -n '/^# --- base/,/^# --- end base/p' "$0") | sha256sum | cut -c1-12)
BASE=$S/base-$bkey.img
if [ ! -f "$BASE" ]; then
    rm -f "$S"/base-*.img
    log "system image base: debootstrap trixie, Xen 4.20, GRUB, node_exporter (a few minutes)"
    truncate -s 10G "$BASE.tmp"; mkfs.ext4 -q -F -L xmcroot "$BASE.tmp"
    mount_img "$BASE.tmp"
    debootstrap --variant=minbase --include="$INCLUDE" trixie "$MNT" "$XMC_MIRROR" \
        /usr/share/debootstrap/scripts/sid > "$S/debootstrap.log" 2>&1 ||
        { tail -20 "$S/debootstrap.log"; die "debootstrap failed"; }
    mount_sys
    echo 'APT::Install-Recommends "false";' > "$MNT/etc/apt/apt.conf.d/99no-recommends"
    # shellcheck disable=SC2086
    ch apt-get install -y -q $PKGS > "$S/base-apt.log" 2>&1 || { tail -30 "$S/base-apt.log"; die "apt-get install failed"; }
    echo xmc-dom0 > "$MNT/etc/hostname"
    printf 'LABEL=xmcroot / ext4 errors=remount-ro 0 1\n' > "$MNT/etc/fstab"
    ch passwd -d root >/dev/null
    ch apt-get clean
    cleanup
    mv "$BASE.tmp" "$BASE"
fi
# --- end base

# --- user: the README's install block --------------------------------------
block=$(sed -n '/^<!-- install-steps begin/,/^<!-- install-steps end/p' "$XMC_REPO/README.md" |
    sed -n '/^```sh$/,/^```$/p' | sed '1d;$d')
[ -n "$block" ] || die "README has no install-steps block"
[ -f "$DEBS/xen-mcelog-dkms_${up}-1_all.deb" ] || bash "$XMC_REPO/tests/build/deb.sh" >&2
rasdeb=$(ras_deb | tail -1)
# The packages by content (their files' md5sums and control fields), not by
# the .deb bytes: a commit that changes nothing packaged reuses the image
# (the changelog's date and commit are left out).
debkey() { for d in "$@"; do dpkg-deb -f "$d" Package Version Depends; dpkg-deb -I "$d" md5sums |
    grep -v 'changelog.Debian.gz$'; done; }
ukey=$( (echo "$bkey"; echo "$block"; debkey "$DEBS"/xen-mcelog-*_"${up}"-1_*.deb; sha256sum "$rasdeb" "$0" |
    cut -d' ' -f1) | sha256sum | cut -c1-12)
IMG=$S/dom0-$ukey.img
# harness IMG: the check script, the TAP library, the owner probe's checks
# (sourced in boot 2), xmc-test (static, from make dom0-tools: the probe's
# ioctl; not packaged) and the unit (not part of the image's key: copied in
# on every run, seconds).
XMC_TEST=$XMC_CACHE/out/bin/xmc-test
harness() {
    [ -x "$XMC_TEST" ] || bash "$XMC_REPO/tests/build/dom0-tools.sh" >&2
    [ -x "$XMC_TEST" ] || die "no $XMC_TEST (make dom0-tools)"
    mount_img "$1"
    install -m 0755 "$HERE/xmc-system-check" "$MNT/usr/local/sbin/xmc-system-check"
    install -D -m 0644 "$XMC_REPO/tests/lib/tap.sh" "$MNT/usr/local/lib/xmc/tap.sh"
    install -m 0644 "$HERE/owner-probe.sh" "$MNT/usr/local/lib/xmc/owner-probe.sh"
    install -m 0755 "$XMC_TEST" "$MNT/usr/local/sbin/xmc-test"
    install -m 0755 "$HERE/journal-storm.sh" "$MNT/usr/local/sbin/journal-storm.sh"
    install -m 0644 "$HERE/xmc-system-check.service" "$MNT/etc/systemd/system/xmc-system-check.service"
    ln -sf /etc/systemd/system/xmc-system-check.service \
        "$MNT/etc/systemd/system/multi-user.target.wants/xmc-system-check.service"
    rm -rf "$MNT/var/lib/xmc-system-check"
    # The console is the harness's: no login prompt on it.
    ln -sf /dev/null "$MNT/etc/systemd/system/serial-getty@hvc0.service"
    cleanup
}
if [ -f "$IMG" ]; then harness "$IMG"; log "system image cached: $IMG"; echo "$IMG"; exit 0; fi
rm -f "$S"/dom0-*.img
log "system image: the README's install steps in the chroot ($ukey)"
cp --sparse=always "$BASE" "$IMG.tmp"
mount_img "$IMG.tmp"; mount_sys
mkdir -p "$MNT/root/install"
cp "$DEBS"/xen-mcelog-*_"${up}"-1_*.deb "$MNT/root/install/"
ulog=$S/user-install.log; : > "$ulog"
# An admin's own dom0 arguments, set where Debian's xen.cfg tells them to
# (README step 3 must add to them, never replace them; boot 1 checks).
sed -i 's|^#GRUB_CMDLINE_LINUX_XEN_REPLACE=.*|GRUB_CMDLINE_LINUX_XEN_REPLACE="$GRUB_CMDLINE_LINUX nowatchdog"|' \
    "$MNT/etc/default/grub.d/xen.cfg"
grep -q '^GRUB_CMDLINE_LINUX_XEN_REPLACE=' "$MNT/etc/default/grub.d/xen.cfg" ||
    die "Debian's /etc/default/grub.d/xen.cfg has no GRUB_CMDLINE_LINUX_XEN_REPLACE line to set"
# The DKMS build prepares a kernel tree: never beside another kernel build.
exec 9>"$XMC_CACHE/kernel-build.lock"; flock 9
while IFS= read -r line; do
    case $line in ''|'#'*) continue ;; esac
    echo "+ $line" >> "$ulog"
    ch sh -ec "cd /root/install && $line" >> "$ulog" 2>&1 || { tail -30 "$ulog"; die "README step failed: $line (log: $ulog)"; }
done <<< "$block"
flock -u 9
grep -E 'xen_mcelog|Error|error' "$ulog" | grep -v '^+' | tail -5 | sed 's/^/  /' >&2 || true
# rasdaemon (ours, as a Debian package) and the check harness.
cp "$rasdeb" "$MNT/root/install/"
ch sh -ec "apt-get install -y -q /root/install/$(basename "$rasdeb")" >> "$ulog" 2>&1 || { tail -20 "$ulog"; die "installing rasdaemon failed"; }
ch systemctl enable rasdaemon.service >> "$ulog" 2>&1
# rasdaemon's ras-mc-ctl.service registers EDAC DIMM labels; a PV dom0 has no
# EDAC memory controller (the hypervisor owns the hardware), so it can only
# fail there (docs/rasdaemon.md).
ch systemctl disable ras-mc-ctl.service >> "$ulog" 2>&1
ch apt-get clean
cp "$MNT/boot/grub/grub.cfg" "$S/grub.cfg" 2>/dev/null || true
cleanup
mv "$IMG.tmp" "$IMG"
harness "$IMG"
log "system image ready: $IMG"
echo "$IMG"
