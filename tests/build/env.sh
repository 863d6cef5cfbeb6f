# Shared settings for the build and sandbox scripts (sourced, not run).
# Everything heavy lives in XMC_CACHE, outside the repository, so `git clean`
# never throws away a kernel build.
XMC_CACHE=${XMC_CACHE:-/var/cache/xen_mcelog}
XMC_MIRROR=${XMC_MIRROR:-http://deb.debian.org/debian}
XMC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
XMC_KERNELS_CONF=$XMC_REPO/tests/kernels.conf
XMC_LLVM=-22                                         # the KASAN flavour's Clang/LLVM (make LLVM=)

# The kernel this run builds for and boots: an ID of tests/kernels.conf.
# sid's 7.2.13+deb14 is also the one the test/debug/kasan kernels, the tools
# and rasdaemon cases are built with (its root is the reference root).
XMC_KERNEL=${XMC_KERNEL:-sid}
export XMC_KERNEL

# conf_field KIND NAME N: field N (1-based, after the name) of that line.
conf_field() {
    awk -F' *[|] *' -v kind="$1" -v name="$2" -v n="$3" '
        $0 ~ "^" kind " " { split($1, a, " +"); if (a[2] == name) { print $(n + 1); found = 1 } }
        END { exit !found }' "$XMC_KERNELS_CONF"
}
# The kernel IDs, in the file's order.
kernel_ids() { awk '/^kernel /{ print $2 }' "$XMC_KERNELS_CONF"; }

# Load one kernel's facts (and its build root's) into the XMC_* variables.
load_kernel() {
    local id=$1
    XMC_KVER=$(conf_field kernel "$id" 1) || { echo "[xmc] ERROR: no kernel '$id' in $XMC_KERNELS_CONF (have: $(kernel_ids | tr '\n' ' '))" >&2; exit 1; }
    XMC_KPKG_VER=$(conf_field kernel "$id" 2)
    XMC_KSUITE=$(conf_field kernel "$id" 3)
    XMC_ROOT_NAME=$(conf_field kernel "$id" 4)
    XMC_SRC_PKG=$(conf_field kernel "$id" 5)
    XMC_WANT_RUSTC=$(conf_field kernel "$id" 6)
    XMC_WANT_CC=$(conf_field kernel "$id" 7)
    XMC_WANT_BINDGEN=$(conf_field kernel "$id" 8)
    XMC_ROOT_SUITE=$(conf_field root "$XMC_ROOT_NAME" 1) || { echo "[xmc] ERROR: kernel $id names build root '$XMC_ROOT_NAME', which $XMC_KERNELS_CONF does not define" >&2; exit 1; }
    XMC_ROOT_EXTRA=$(conf_field root "$XMC_ROOT_NAME" 2); [ "$XMC_ROOT_EXTRA" != - ] || XMC_ROOT_EXTRA=
    XMC_CC=$(conf_field root "$XMC_ROOT_NAME" 3)
    XMC_CC_PKG=$(conf_field root "$XMC_ROOT_NAME" 4)
    XMC_ROOT=$XMC_CACHE/$XMC_ROOT_NAME-root           # the Debian build root (debootstrap)
    XMC_WORK=$XMC_ROOT/xmc                             # build area inside the root (/xmc there)
    XMC_KDIR=$XMC_CACHE/kernel-$id                     # Debian's image, modules, headers (dpkg -x)
    XMC_XEN_DIR=$XMC_CACHE/xen-$XMC_ROOT_NAME          # the root's suite's Xen hypervisor (dpkg -x)
    # The kernel's make line: the root's compiler for target and host programs.
    XMC_KMAKE_CC=(ARCH=x86 CROSS_COMPILE=x86_64-linux-gnu- CC="$XMC_CC" HOSTCC="$XMC_CC")
}
load_kernel "$XMC_KERNEL"
XMC_XEN_PKG=xen-hypervisor-4.20-amd64
# Packages of every build root: the kernel's exact toolchain (the suite's own
# rustc, bindgen and C compiler) and what kernel builds need. perl is named:
# checkpatch.pl needs its standard modules (Term::ANSIColor), which perl-base
# lacks and which sid's toolchain stopped pulling in (a fresh root had none).
XMC_ROOT_PKGS="rustc rust-src rust-clippy rustfmt bindgen libclang-dev $XMC_CC_PKG make flex bison bc
  libelf-dev libssl-dev openssl python3 cpio kmod pahole dwarves xz-utils zstd binutils libc6-dev ca-certificates perl"

log() { printf '\033[1m[xmc %(%H:%M:%S)T]\033[0m %s\n' -1 "$*" >&2; }
die() { printf '[xmc] ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command inside the build root, with /proc mounted only for its
# duration, in a mount namespace of its own: two in_root at once (a module
# build beside a kernel build) each have their /proc, and none unmounts the
# other's (a shared mount made "umount: .../proc: target is busy" fail one).
in_root() {
    unshare --mount --propagation private -- /bin/sh -c '
        root=$1; shift
        mount -t proc proc "$root/proc" || exit 125
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' in_root "$XMC_ROOT" "$@"
}

# cargo for the host-side crates (tests, tools): the host's own (rustup) when
# there is one; on a machine without a Rust toolchain (or XMC_HOST_CARGO=root),
# Debian's cargo in the sid build root, run on the repository bind-mounted
# into it. CARGO_TARGET_DIR under $XMC_CACHE/cargo keeps its meaning (mounted).
xmc_cargo() {
    if [ "${XMC_HOST_CARGO:-auto}" != root ] && command -v cargo > /dev/null; then
        cargo "$@"
        return
    fi
    local root=$XMC_CACHE/sid-root cwd rel rc=0
    if [ ! -x "$root/usr/bin/cargo" ]; then
        [ -x "$root/usr/bin/rustc" ] || XMC_KERNEL=sid bash "$XMC_REPO/tests/build/bootstrap.sh"
        log "no cargo on this host: installing Debian's cargo into the sid build root"
        chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq cargo > /dev/null || die "apt-get install cargo in $root failed"
    fi
    local XMC_CARGO_CA=; [ -f /etc/ssl/certs/ca-certificates.crt ] && XMC_CARGO_CA=1
    cwd=$(pwd); rel=${cwd#"$XMC_REPO"}
    [ "$rel" != "$cwd" ] || die "xmc_cargo: run from inside the repository ($XMC_REPO)"
    mkdir -p "$root/xmc/repo" "$root/xmc/hostcargo" "$XMC_CACHE/cargo" "$root/xmc/cargo-home"
    mount --bind "$XMC_REPO" "$root/xmc/repo"
    mount --bind "$XMC_CACHE/cargo" "$root/xmc/hostcargo"
    mountpoint -q "$root/proc" || { mount -t proc proc "$root/proc"; local proc=1; }
    local tdir=${CARGO_TARGET_DIR:-$XMC_CACHE/cargo/target}
    # The host's trust store (crates.io may be reached through a proxy whose
    # CA only the host knows).
    cp /etc/ssl/certs/ca-certificates.crt "$root/xmc/host-ca.crt" 2>/dev/null || true
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        ${XMC_CARGO_CA:+CARGO_HTTP_CAINFO=/xmc/host-ca.crt} \
        CARGO_HOME=/xmc/cargo-home CARGO_TARGET_DIR="/xmc/hostcargo${tdir#"$XMC_CACHE/cargo"}" \
        ${RUSTFLAGS:+RUSTFLAGS="$RUSTFLAGS"} sh -c 'cd "/xmc/repo$0" && exec cargo "$@"' "$rel" "$@" || rc=$?
    [ -z "${proc:-}" ] || umount "$root/proc"
    umount "$root/xmc/hostcargo"
    umount "$root/xmc/repo"
    return $rc
}
