#!/usr/bin/env bash
# Bootstrap a fresh machine: host packages (QEMU, busybox, debootstrap, zstd)
# and the Debian sid build root holding the stock kernel's exact toolchain,
# its source, image, modules and headers, and the Xen hypervisor.
# Idempotent: every step leaves a stamp and is skipped when it is there.
set -euo pipefail
. "$(dirname "$0")/env.sh"
[ "$(id -u)" = 0 ] || die "bootstrap needs root (apt-get, debootstrap, chroot)"
mkdir -p "$XMC_CACHE"
STAMPS=$XMC_CACHE/stamps; mkdir -p "$STAMPS"

# --- host packages -------------------------------------------------------
host_ok() {
    command -v qemu-system-x86_64 >/dev/null && command -v debootstrap >/dev/null &&
    [ -x /bin/busybox ] && dpkg -s busybox-static >/dev/null 2>&1 && command -v zstd >/dev/null &&
    command -v rsync >/dev/null && command -v cpio >/dev/null && command -v xz >/dev/null &&
    dpkg -s gcc-multilib >/dev/null 2>&1
}
if ! host_ok; then
    log "installing host packages (qemu-system-x86 from bookworm-backports, busybox-static, debootstrap, zstd, gcc-multilib)"
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "deb $XMC_MIRROR bookworm-backports main" > /etc/apt/sources.list.d/xmc-bookworm-backports.list
    fi
    apt-get update -qq
    apt-get install -y -qq -t bookworm-backports qemu-system-x86 >/dev/null
    apt-get install -y -qq busybox-static debootstrap zstd rsync cpio xz-utils gcc-multilib >/dev/null
    host_ok || die "host packages still missing after apt-get install"
fi

# --- the sid build root ---------------------------------------------------
if [ ! -e "$STAMPS/debootstrap" ]; then
    log "debootstrap sid into $XMC_ROOT (about 30 s)"
    rm -rf "$XMC_ROOT"
    debootstrap --variant=minbase sid "$XMC_ROOT" "$XMC_MIRROR" > "$XMC_CACHE/debootstrap.log" 2>&1 ||
        { tail -20 "$XMC_CACHE/debootstrap.log"; die "debootstrap failed (log: $XMC_CACHE/debootstrap.log)"; }
    # The archive's sid Release file is past its Valid-Until date.
    echo 'Acquire::Check-Valid-Until "false";' > "$XMC_ROOT/etc/apt/apt.conf.d/99xmc-no-valid-until"
    echo 'APT::Install-Recommends "false";' > "$XMC_ROOT/etc/apt/apt.conf.d/99xmc-no-recommends"
    touch "$STAMPS/debootstrap"
fi
if [ ! -e "$STAMPS/toolchain" ]; then
    log "installing the stock kernel's toolchain in the build root (about 3 min)"
    in_root apt-get update -qq
    # shellcheck disable=SC2086
    in_root apt-get install -y -qq $XMC_ROOT_PKGS > "$XMC_CACHE/toolchain.log" 2>&1 ||
        { tail -20 "$XMC_CACHE/toolchain.log"; die "toolchain install failed (log: $XMC_CACHE/toolchain.log)"; }
    touch "$STAMPS/toolchain"
fi

# --- downloaded payloads (unpacked, never installed) ----------------------
DL=$XMC_CACHE/debs
if [ ! -e "$STAMPS/payloads" ]; then
    log "downloading the stock kernel image/modules and the Xen hypervisor"
    rm -rf "$DL"; mkdir -p "$DL"
    # linux-image-* is a meta package: the kernel is in linux-binary-*, its
    # config and System.map in linux-base-*, the .ko files in linux-modules-*.
    in_root sh -c "mkdir -p /tmp/dl && chmod 777 /tmp/dl && cd /tmp/dl && rm -f ./*.deb && \
        apt-get download -qq linux-binary-$XMC_KVER linux-base-$XMC_KVER linux-modules-$XMC_KVER $XMC_XEN_PKG"
    cp "$XMC_ROOT"/tmp/dl/*.deb "$DL/"
    rm -rf "$XMC_CACHE/stock"; mkdir -p "$XMC_CACHE/stock"
    for d in "$DL"/*.deb; do dpkg -x "$d" "$XMC_CACHE/stock"; done
    touch "$STAMPS/payloads"
fi

# --- the kernel source tree -------------------------------------------------
SRC=$XMC_WORK/linux-$XMC_KPKG_VER
if [ ! -e "$STAMPS/source-$XMC_KPKG_VER" ]; then
    log "unpacking linux-source-$XMC_SRC_SERIES (about 15 s)"
    rm -rf "$SRC"; mkdir -p "$SRC"
    tar -xaf "$XMC_ROOT/usr/src/linux-source-$XMC_SRC_SERIES.tar.xz" -C "$SRC" --strip-components=1
    touch "$STAMPS/source-$XMC_KPKG_VER"
fi
log "bootstrap complete ($XMC_CACHE)"
