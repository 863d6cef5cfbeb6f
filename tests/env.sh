# Shared settings for the build and sandbox scripts (sourced, not run).
# Everything heavy lives in XMC_CACHE, outside the repository, so `git clean`
# never throws away a kernel build.
XMC_CACHE=${XMC_CACHE:-/var/cache/xen_mcelog}
XMC_ROOT=${XMC_ROOT:-$XMC_CACHE/sid-root}           # Debian sid build root (debootstrap)
XMC_WORK=$XMC_ROOT/xmc                               # build area inside the root (/xmc there)
XMC_MIRROR=${XMC_MIRROR:-http://deb.debian.org/debian}
XMC_KVER=7.2.13+deb14-amd64                          # Debian's stock dom0 kernel
XMC_KPKG_VER=7.2.13-1
XMC_SRC_SERIES=7.2
XMC_XEN_PKG=xen-hypervisor-4.20-amd64
XMC_LLVM=-22                                         # the KASAN flavour's Clang/LLVM (make LLVM=)
XMC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Packages that make the build root: the stock kernel's exact toolchain.
XMC_ROOT_PKGS="linux-source-$XMC_SRC_SERIES linux-headers-$XMC_KVER rustc rust-src rust-clippy rustfmt
  bindgen libclang-dev gcc-16 make flex bison bc libelf-dev libssl-dev openssl python3 cpio kmod
  pahole dwarves xz-utils zstd binutils libc6-dev ca-certificates"

log() { printf '\033[1m[xmc %(%H:%M:%S)T]\033[0m %s\n' -1 "$*" >&2; }
die() { printf '[xmc] ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command inside the build root, with /proc mounted only for its duration.
in_root() {
    local mounted=0
    if ! mountpoint -q "$XMC_ROOT/proc"; then
        mount -t proc proc "$XMC_ROOT/proc"; mounted=1
    fi
    local rc=0
    chroot "$XMC_ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
    if [ $mounted = 1 ]; then umount "$XMC_ROOT/proc"; fi
    return $rc
}
