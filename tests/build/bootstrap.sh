#!/usr/bin/env bash
# Bootstrap a fresh machine for one kernel of tests/kernels.conf (XMC_KERNEL,
# default sid): host packages (QEMU, busybox, debootstrap, zstd), the Debian
# build root holding that kernel's exact toolchain, the kernel's source, image,
# modules and headers, and the root's Xen hypervisor.
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

# --- the build root of $XMC_KERNEL's toolchain ------------------------------
# One root per toolchain (tests/kernels.conf `root` lines): its own suite gives
# the kernel's rustc, bindgen and C compiler; extra suites are only there to
# download kernel packages from and are pinned below the root's own suite.
RS=$STAMPS/root-$XMC_ROOT_NAME
if [ ! -e "$RS-debootstrap" ]; then
    log "debootstrap $XMC_ROOT_SUITE into $XMC_ROOT (about 30 s)"
    rm -rf "$XMC_ROOT"
    # The sid script serves every suite since buster (bookworm's debootstrap
    # does not know forky by name).
    debootstrap --variant=minbase "$XMC_ROOT_SUITE" "$XMC_ROOT" "$XMC_MIRROR" /usr/share/debootstrap/scripts/sid \
        > "$XMC_CACHE/debootstrap-$XMC_ROOT_NAME.log" 2>&1 ||
        { tail -20 "$XMC_CACHE/debootstrap-$XMC_ROOT_NAME.log"; die "debootstrap failed (log: $XMC_CACHE/debootstrap-$XMC_ROOT_NAME.log)"; }
    # Archived suites' Release files can be past their Valid-Until date.
    echo 'Acquire::Check-Valid-Until "false";' > "$XMC_ROOT/etc/apt/apt.conf.d/99xmc-no-valid-until"
    echo 'APT::Install-Recommends "false";' > "$XMC_ROOT/etc/apt/apt.conf.d/99xmc-no-recommends"
    for extra in $XMC_ROOT_EXTRA; do
        echo "deb $XMC_MIRROR $extra main" >> "$XMC_ROOT/etc/apt/sources.list"
        printf 'Package: *\nPin: release a=%s\nPin-Priority: 50\n\n' "$extra" >> "$XMC_ROOT/etc/apt/preferences.d/xmc-extra"
    done
    touch "$RS-debootstrap"
fi
# The stamp holds the package list it was made for: a root made before a
# package joined the list gets it too.
if [ "$(cat "$RS-toolchain" 2>/dev/null)" != "$(echo $XMC_ROOT_PKGS)" ]; then
    log "installing the $XMC_ROOT_NAME root's toolchain (about 3 min)"
    in_root apt-get update -qq
    # shellcheck disable=SC2086
    in_root apt-get install -y -qq $XMC_ROOT_PKGS > "$XMC_CACHE/toolchain-$XMC_ROOT_NAME.log" 2>&1 ||
        { tail -20 "$XMC_CACHE/toolchain-$XMC_ROOT_NAME.log"; die "toolchain install failed (log: $XMC_CACHE/toolchain-$XMC_ROOT_NAME.log)"; }
    echo $XMC_ROOT_PKGS > "$RS-toolchain"
fi

# --- downloaded payloads (unpacked, never installed) ----------------------
# root_download DIR PKG...: apt-get download inside the root, into host DIR.
root_download() {
    local dir=$1; shift
    in_root sh -c "rm -rf /tmp/dl && mkdir -p /tmp/dl && chmod 777 /tmp/dl && cd /tmp/dl && apt-get download -qq $*" ||
        { in_root apt-get update -qq && in_root sh -c "cd /tmp/dl && apt-get download -qq $*"; } ||
        die "apt-get download $* failed in the $XMC_ROOT_NAME root"
    rm -rf "$dir"; mkdir -p "$dir"
    cp "$XMC_ROOT"/tmp/dl/*.deb "$dir/"
}
if [ ! -e "$STAMPS/kernel-$XMC_KERNEL-$XMC_KPKG_VER" ]; then
    log "downloading Debian's $XMC_KVER ($XMC_KPKG_VER, $XMC_KSUITE): image, modules, headers"
    # linux-image-* is a meta package: the kernel is in linux-binary-*, its
    # config and System.map in linux-base-*, the .ko files in linux-modules-*,
    # .config, Module.symvers and the BTF vmlinux in linux-headers-*.
    v=$XMC_KPKG_VER
    root_download "$XMC_CACHE/debs/kernel-$XMC_KERNEL" "linux-binary-$XMC_KVER=$v linux-base-$XMC_KVER=$v \
        linux-modules-$XMC_KVER=$v linux-headers-$XMC_KVER=$v"
    rm -rf "$XMC_KDIR"; mkdir -p "$XMC_KDIR"
    for d in "$XMC_CACHE/debs/kernel-$XMC_KERNEL"/*.deb; do dpkg -x "$d" "$XMC_KDIR"; done
    [ -f "$XMC_KDIR/usr/src/linux-headers-$XMC_KVER/.config" ] || die "linux-headers-$XMC_KVER has no .config"
    touch "$STAMPS/kernel-$XMC_KERNEL-$XMC_KPKG_VER"
fi
if [ ! -e "$STAMPS/xen-$XMC_ROOT_NAME" ]; then
    log "downloading the $XMC_ROOT_SUITE Xen hypervisor ($XMC_XEN_PKG)"
    root_download "$XMC_CACHE/debs/xen-$XMC_ROOT_NAME" "$XMC_XEN_PKG"
    rm -rf "$XMC_XEN_DIR"; mkdir -p "$XMC_XEN_DIR"
    dpkg -x "$XMC_CACHE/debs/xen-$XMC_ROOT_NAME"/*.deb "$XMC_XEN_DIR"
    touch "$STAMPS/xen-$XMC_ROOT_NAME"
fi

# --- the kernel source tree -------------------------------------------------
# $XMC_SRC_PKG of exactly the kernel's version, unpacked in the root (never
# installed: two versions of linux-source-7.2 can serve two kernels).
SRC=$XMC_WORK/linux-$XMC_KPKG_VER
if [ ! -e "$STAMPS/source-$XMC_ROOT_NAME-$XMC_KPKG_VER" ]; then
    log "unpacking $XMC_SRC_PKG $XMC_KPKG_VER (about 30 s)"
    root_download "$XMC_CACHE/debs/source-$XMC_KPKG_VER" "$XMC_SRC_PKG=$XMC_KPKG_VER"
    rm -rf "$SRC"; mkdir -p "$SRC"
    dpkg --fsys-tarfile "$XMC_CACHE/debs/source-$XMC_KPKG_VER"/*.deb |
        tar -xO --wildcards "./usr/src/$XMC_SRC_PKG.tar.*" | tar -xJ -C "$SRC" --strip-components=1
    rm -rf "$XMC_CACHE/debs/source-$XMC_KPKG_VER"
    [ -f "$SRC/Makefile" ] || die "$XMC_SRC_PKG $XMC_KPKG_VER did not unpack to a kernel tree"
    touch "$STAMPS/source-$XMC_ROOT_NAME-$XMC_KPKG_VER"
fi
log "bootstrap complete for $XMC_KERNEL ($XMC_KVER, $XMC_ROOT_NAME root, $XMC_CACHE)"
