#!/usr/bin/env bash
# tools/dkms/xen-mcelog-rust-meta and its hooks never break or stall apt,
# on the host with fakes (no build root, no kernel build):
#  1. a metadata build that fails (a damaged linux-source tarball) is tried
#     once; five apt runs after it (APT's post-invoke hook) do not try again
#     and say one line each, naming the log and the retry; the kernel hook and
#     the post-invoke hook of one apt run say it once; dkms.conf excludes the
#     kernel meanwhile; the builds ran under nice 19 and ionice best-effort 7;
#  2. the fix (linux-source reinstalled: the tarball is whole again) makes the
#     metadata and the module exactly once, and the next apt run is silent;
#  3. a new revision of the same kernel release (headers and source
#     7.3.4-1~bpo13+2): the metadata is made again (the overlay names the new
#     headers version); headers (+3) newer than the source: the stale metadata
#     is removed (dkms then skips the kernel) and one line names the source;
#     once it is there, the metadata and the module are made;
#  4. a module that does not compile against the kernel: the kernel hook
#     (run-parts order: ours, then dkms's) exits 0, dkms's autoinstall skips
#     the kernel (exit 0, not 11), one line; --retry tries again, fails (exit
#     1); a new xen_mcelog version is tried again by itself;
#  5. the kernel's removal (/etc/kernel/postrm.d, DEB_MAINT_PARAMS=remove)
#     removes the metadata, the shared linux-kbuild target.json only with the
#     last kernel of the series, and the failure memory; an upgrade of the
#     image package (DEB_MAINT_PARAMS=upgrade) removes nothing.
# The tool runs in a private mount namespace over a fake /usr/src, /lib/modules
# (on an overlay of /usr/lib) and /usr/sbin (first on its PATH: fake make, rustc, bindgen, gcc-14, dkms,
# apt-cache), with a fake dpkg database (DPKG_ADMINDIR) and its work directory
# in a temporary one (XEN_MCELOG_RUST_WORK). Run by tools/tests/check-files.sh.
# Usage: tools/tests/rust-meta-memory.sh   (as root)
set -euo pipefail
. "$(dirname "$0")/../../tests/build/env.sh"
[ "$(id -u)" = 0 ] || die "$0 needs root (a private mount namespace)"
for c in unshare dpkg-query flock ionice; do
    command -v "$c" > /dev/null || die "$0 needs $c"
done
tool=$XMC_REPO/tools/dkms/xen-mcelog-rust-meta
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
F=$t/fake W=$t/work
mkdir -p "$F/sbin" "$F/dkms" "$t/usr-src" "$t/modules" "$W" "$t/ovl/up" "$t/ovl/work"
K=7.3.4+deb13-amd64 K2=7.3.9+deb13-amd64 V1=7.3.4-1~bpo13+1 V2=7.3.4-1~bpo13+2 V3=7.3.4-1~bpo13+3 V9=7.3.9-1~bpo13+1
RUSTC="rustc 1.85.1 (4eb161250 2025-03-15) (built from a source tarball)"
MOD=0.1.0

# --- fakes -------------------------------------------------------------------
# make: `prepare` makes what the kernel's would, and
# every call is logged with the niceness and I/O priority it ran at.
cat > "$F/sbin/make" <<EOF
#!/bin/sh
obj=; for a; do case \$a in O=*) obj=\${a#O=} ;; esac; last=\$a; done
echo "\$last nice=\$(nice) io=\$(ionice -p \$\$)" >> "$F/make.calls"
case \$last in
prepare)
    mkdir -p "\$obj/rust/kernel" "\$obj/scripts"
    for f in libcore.rmeta libkernel.rmeta libmacros.so; do echo "\$f \$(cat $F/build-id 2>/dev/null)" > "\$obj/rust/\$f"; done
    echo asm > "\$obj/rust/kernel/generated_arch_static_branch_asm.rs"
    echo '{}' > "\$obj/scripts/target.json" ;;
esac
exit 0
EOF
cat > "$F/sbin/rustc" <<EOF
#!/bin/sh
case \$1 in --version) echo "$RUSTC" ;; --print) echo "$F/sysroot" ;; esac
EOF
mkdir -p "$F/sysroot/lib/rustlib/src/rust/library/core"
printf '#!/bin/sh\necho "bindgen 0.71.1"\n' > "$F/sbin/bindgen"
printf '#!/bin/sh\necho "x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"\n' > "$F/sbin/x86_64-linux-gnu-gcc-14"
# tar: the real one, each run logged like make's (one per metadata attempt).
cat > "$F/sbin/tar" <<EOF
#!/bin/sh
echo "tar nice=\$(nice) io=\$(ionice -p \$\$)" >> "$F/make.calls"
exec /usr/bin/tar "\$@"
EOF
# apt-cache madison: apt's lists offer linux-source-7.3 $V3 only.
printf '#!/bin/sh\necho "linux-source-7.3 | %s | fake Packages"\n' "$V3" > "$F/sbin/apt-cache"
# dkms: xen_mcelog/$(cat F/dkms/version) added; installed for the kernels
# listed in F/dkms/installed; `install` sources the real dkms.conf as dkms
# does (kernelver, kernel_source_dir) and honours BUILD_EXCLUSIVE_KERNEL (77)
# and a missing Rust overlay; fails to compile with F/fail-module;
# `autoinstall` is dkms's kernel hook (exit 11 when a build fails).
cat > "$F/sbin/dkms" <<EOF
#!/bin/bash
D=$F/dkms; v=\$(cat \$D/version)
k=; for ((i = 1; i <= \$#; i++)); do case \${!i} in -k | --kernelver) j=\$((i + 1)); k=\${!j} ;; esac; done
installed() { grep -qxF "\$1" \$D/installed 2>/dev/null; }
build() {
    sed "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"\$v\"/" "$XMC_REPO/tools/dkms/dkms.conf" > \$D/dkms.conf
    excl=\$(kernelver=\$1 kernel_source_dir=/usr/src/linux-headers-\$1 dkms_tree=/var/lib/dkms \\
        bash -c '. "\$1" && echo "\${BUILD_EXCLUSIVE_KERNEL:-}"' _ \$D/dkms.conf)
    if [ -n "\$excl" ] && ! [[ \$1 =~ \$excl ]]; then echo "excluded by BUILD_EXCLUSIVE_KERNEL"; return 77; fi
    echo "install \$1" >> $F/dkms.calls
    if [ -e $F/fail-module ]; then echo "error[E0599]: no method named foo (fake)"; echo "Error! Bad return status for module build on kernel: \$1 (x86_64)"; return 10; fi
    echo "\$1" >> \$D/installed
}
case \$1 in
status)
    if [ -n "\$k" ]; then installed "\$k" && echo "xen_mcelog/\$v, \$k, x86_64: installed"
    else echo "xen_mcelog/\$v: added"; fi ;;
install) build "\$k" ;;
autoinstall)
    installed "\$k" && exit 0
    build "\$k"; rc=\$?
    [ \$rc = 0 ] || [ \$rc = 77 ] || { echo "Autoinstall on \$k failed for module(s) xen_mcelog(\$rc)."; exit 11; }
    [ \$rc = 0 ] || echo "Autoinstall on \$k was skipped for module(s) xen_mcelog." ;;
esac
EOF
chmod +x "$F"/sbin/*
echo "$MOD" > "$F/dkms/version"

# /usr/src: the headers of K (and K2, same series: linux-kbuild-7.3's scripts/
# shared), linux-source-7.3's tarball; /lib/modules/K/build/include.
headers() {
    local k=$1 h=$t/usr-src/linux-headers-$1
    mkdir -p "$h" "$t/usr-src/linux-kbuild-7.3/scripts" "$t/modules/$k/build/include"
    cat > "$h/.config" <<EOF
CONFIG_CC_VERSION_TEXT="x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"
CONFIG_RUSTC_VERSION_TEXT="$RUSTC"
CONFIG_BINDGEN_VERSION_TEXT="bindgen 0.71.1"
CONFIG_RUST=y
EOF
    ln -sfn ../linux-kbuild-7.3/scripts "$h/scripts"
}
# source_tarball [damaged]: linux-source-7.3's tarball, whole or cut short.
source_tarball() {
    mkdir -p "$t/src/linux-source-7.3"; echo "# $(cat "$F/build-id" 2>/dev/null)" > "$t/src/linux-source-7.3/Makefile"
    tar -cJf "$t/usr-src/linux-source-7.3.tar.xz" -C "$t/src" linux-source-7.3
    [ "${1:-}" != damaged ] || truncate -s 20 "$t/usr-src/linux-source-7.3.tar.xz"
}
stanza() {
    printf 'Package: %s\nStatus: install ok installed\nPriority: optional\nSection: kernel\nMaintainer: xen_mcelog tests <root@localhost>\nArchitecture: %s\nVersion: %s\nDescription: fake\n\n' "$1" "$3" "$2"
}
# dpkg_has HEADERS_VERSION SOURCE_VERSION [K2_VERSION]: the installed packages.
dpkg_has() {
    mkdir -p "$t/dpkg/info" "$t/dpkg/updates"
    {
        stanza "linux-headers-$K" "$1" amd64
        stanza linux-source-7.3 "$2" all
        [ -z "${3:-}" ] || stanza "linux-headers-$K2" "$3" amd64
    } > "$t/dpkg/status"
}

# run ARGS...: the tool in the namespace; its output in $out, status in $rc.
# DMP: the kernel hooks' DEB_MAINT_PARAMS.
run() {
    rc=0
    # /lib/modules may not exist on the host: an overlay on /usr/lib (in the
    # namespace only) gives the bind mount its mount point.
    out=$(env DEB_MAINT_PARAMS="${DMP:-}" DPKG_ADMINDIR="$t/dpkg" XEN_MCELOG_RUST_WORK="$W" unshare --mount --propagation private sh -c '
        mount -t overlay overlay -o "lowerdir=/usr/lib,upperdir=$1/ovl/up,workdir=$1/ovl/work" /usr/lib &&
        mkdir -p /usr/lib/modules && mount --bind "$1/modules" /usr/lib/modules &&
        mount --bind "$1/usr-src" /usr/src && mount --bind "$1/fake/sbin" /usr/sbin && shift && exec "$@"' _ "$t" "$@" 2>&1) || rc=$?
}
tool() { run sh "$tool" "$@"; }
# dkms_hook RELEASE: what dkms's kernel hook runs after ours.
dkms_hook() { run /usr/sbin/dkms autoinstall --kernelver "$1"; }
calls() { grep -c "^$1" "$F/make.calls" 2>/dev/null || true; }
lines() { if [ -z "$out" ]; then echo 0; else wc -l <<< "$out"; fi; }
excluded() {   # dkms.conf of the version dkms has, sourced as dkms does for that kernel, excludes it
    local re
    sed "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$(cat "$F/dkms/version")\"/" "$XMC_REPO/tools/dkms/dkms.conf" > "$t/dkms.conf"
    re=$(kernelver=$1 kernel_source_dir=$t/usr-src/linux-headers-$1 dkms_tree=/var/lib/dkms XEN_MCELOG_RUST_WORK=$W \
        bash -c '. "$1" && echo "${BUILD_EXCLUSIVE_KERNEL:-}"' _ "$t/dkms.conf")
    [ -n "$re" ] && ! [[ $1 =~ $re ]]
}
hdr=$t/usr-src/linux-headers-$K

# --- 1. a failed metadata build is remembered ----------------------------------
headers "$K"; echo a > "$F/build-id"; source_tarball damaged; dpkg_has "$V1" "$V1"
tool --post-invoke
[ "$rc" = 0 ] || die "post-invoke with a failing metadata build exited $rc: $out"
[ "$(calls tar)" = 1 ] || die "post-invoke tried the metadata $(calls tar) times, not once"
grep -q "^xen_mcelog: could not make the Rust metadata of $K (log: $W/log/$K.log); .*retry now: /usr/lib/xen_mcelog/xen-mcelog-rust-meta --retry $K$" <<< "$out" ||
    die "post-invoke did not say the metadata failed, with the log and the retry:
$out"
[ -f "$W/failed/$K" ] && [ -s "$W/log/$K.log" ] || die "no failure record or log for $K"
[ ! -e "$hdr/rust/libkernel.rmeta" ] || die "a failed metadata build left metadata in the headers"
[ ! -e "$F/dkms.calls" ] || die "dkms install ran although the metadata failed"
excluded "$K" || die "dkms.conf does not exclude $K after its failure"
grep -q "nice=19 io=best-effort: prio 7" "$F/make.calls" || die "the build did not run at nice 19, ionice best-effort 7: $(head -1 "$F/make.calls")"
log "1. failure (linux-source damaged): tried once, exit 0, nice 19 + ionice be/7, $(lines) lines:"; sed 's/^/     /' <<< "$out" >&2
for i in 1 2 3 4 5; do
    tool --post-invoke
    [ "$rc" = 0 ] && [ "$(lines)" = 1 ] && [[ $out == "xen_mcelog: skipping $K: its Rust metadata failed on "*"(log: $W/log/$K.log), and its headers, rustc, linux-source-7.3 and xen_mcelog are unchanged since; retry now: /usr/lib/xen_mcelog/xen-mcelog-rust-meta --retry $K" ]] ||
        die "apt run $i after the failure: exit $rc, printed:
$out"
done
[ "$(calls tar)" = 1 ] || die "the five apt runs tried the metadata again ($(calls tar) attempts)"
[ ! -e "$F/dkms.calls" ] || die "the five apt runs ran dkms install"
log "   five apt runs: no rebuild, exit 0, one line each: $out"
# One apt run that installs a kernel package: header hook, image hook, post-invoke: one line.
tool --hook "$K"; o1=$out; tool --hook "$K"; o2=$out; tool --post-invoke; o3=$out
all=$(printf '%s\n' "$o1" "$o2" "$o3" | sed '/^$/d')
[ "$(wc -l <<< "$all")" = 1 ] || die "the kernel hooks and post-invoke of one apt run said:
$all"
[ "$(calls tar)" = 1 ] || die "the kernel hook tried the metadata again"
log "   kernel hooks + post-invoke of one apt run: one line"

# --- 2. the fix: rebuilt once ---------------------------------------------------
source_tarball   # apt-get install --reinstall linux-source-7.3: whole again
tool --post-invoke
[ "$rc" = 0 ] || die "post-invoke after the fix exited $rc: $out"
[ "$(calls tar)" = 2 ] && [ "$(calls prepare)" = 1 ] || die "after the fix the metadata was made $(( $(calls tar) - 1 )) times, not once"
[ "$(grep -c "^install $K" "$F/dkms.calls")" = 1 ] && grep -qxF "$K" "$F/dkms/installed" || die "the module was not built once for $K after the fix"
grep -qxF "# headers: $V1" "$hdr/rust/.xen_mcelog-overlay" || die "the overlay does not name headers $V1"
[ ! -e "$W/failed/$K" ] || die "the failure record stayed after a good build"
grep -q "^xen_mcelog: xen_mcelog $MOD built and installed for $K$" <<< "$out" || die "no line for the built module: $out"
log "2. fix (source whole again): metadata and module built once:"; sed 's/^/     /' <<< "$out" >&2
tool --post-invoke
[ "$rc" = 0 ] && [ -z "$out" ] && [ "$(calls tar)" = 2 ] || die "the apt run after the fix: exit $rc, printed: $out"
tool --check "$K" || die "--check $K fails after the fix"
log "   next apt run: silent, nothing rebuilt; --check: current"

# --- 3. a new revision of the same release --------------------------------------
echo b > "$F/build-id"; source_tarball; dpkg_has "$V2" "$V2"
tool --check "$K"; [ "$rc" = 1 ] || die "--check says metadata of headers $V1 is current for headers $V2"
sed -i "/^$K\$/d" "$F/dkms/installed"   # dkms's kernel_preinst removed the module for the upgrade
tool --hook "$K"
[ "$rc" = 0 ] && [ "$(calls prepare)" = 2 ] || die "the kernel hook for headers $V2: exit $rc, prepare calls $(calls prepare): $out"
grep -qxF "# headers: $V2" "$hdr/rust/.xen_mcelog-overlay" && grep -q "libkernel.rmeta b" "$hdr/rust/libkernel.rmeta" ||
    die "the metadata was not made again for headers $V2"
grep -qxF "$K" "$F/dkms/installed" || die "the module was not rebuilt for headers $V2"
log "3. headers $V1 -> $V2, same release: metadata made again, module rebuilt"
# Headers newer than the installed source: the old metadata goes, one line names the source.
dpkg_has "$V3" "$V2"; sed -i "/^$K\$/d" "$F/dkms/installed"
tool --hook "$K"
[ "$rc" = 0 ] && [ "$out" = "xen_mcelog: linux-source-7.3 is $V2 but $K is $V3: install linux-source-7.3=$V3" ] ||
    die "headers $V3 with source $V2: exit $rc, printed: $out"
[ ! -e "$hdr/rust/libkernel.rmeta" ] && excluded "$K" || die "stale metadata stayed (dkms would build against it)"
log "   headers newer than the source: stale metadata removed, dkms skips, one line: $out"
dpkg_has "$V3" "$V3"; tool --post-invoke
[ "$rc" = 0 ] && grep -qxF "$K" "$F/dkms/installed" && grep -qxF "# headers: $V3" "$hdr/rust/.xen_mcelog-overlay" || die "no metadata and module after the source came: $out"

# --- 4. a module that does not compile against the kernel ----------------------
: > "$F/fail-module"; sed -i "/^$K\$/d" "$F/dkms/installed"; : > "$F/dkms.calls"
tool --hook "$K"; o1=$out r1=$rc
dkms_hook "$K"; o2=$out r2=$rc
[ "$r1" = 0 ] && [ "$r2" = 0 ] || die "kernel postinst.d with a module that does not compile: our hook $r1, dkms's $r2 ($o2)"
[ "$(grep -c '^xen_mcelog:' <<< "$o1")" = 1 ] &&
    grep -q "^xen_mcelog: xen_mcelog $MOD does not build for $K (log: $W/log/$K.log); $K works without it, .*--retry $K$" <<< "$o1" ||
    die "our kernel hook said:
$o1"
grep -q "Bad return status" "$W/log/$K.log" || die "the log does not hold dkms's error"
[ "$(grep -c "^install $K" "$F/dkms.calls")" = 1 ] || die "dkms's hook built the module again after ours failed"
log "4. module does not compile: kernel hook 0, dkms autoinstall 0 (skipped), one line: $o1"
tool --retry "$K"
[ "$rc" = 1 ] && [ "$(grep -c "^install $K" "$F/dkms.calls")" = 2 ] || die "--retry: exit $rc, $(grep -c "^install $K" "$F/dkms.calls") builds: $out"
log "   --retry tries again (exit 1, still failing)"
echo 0.2.0 > "$F/dkms/version"; rm -f "$F/fail-module"
excluded "$K" && die "dkms.conf of xen_mcelog 0.2.0 excludes $K for 0.1.0's failure"
tool --post-invoke
[ "$rc" = 0 ] && grep -qxF "$K" "$F/dkms/installed" && [ ! -e "$W/failed/$K" ] || die "xen_mcelog 0.2.0 was not tried by itself: $out"
log "   xen_mcelog 0.2.0: tried by itself and built"

# --- 5. the kernel goes ---------------------------------------------------------
headers "$K2"; dpkg_has "$V3" "$V9" "$V9"
echo "$MOD" > "$F/dkms/version"
tool --hook "$K2"   # K2's own metadata (same linux-kbuild-7.3 scripts/)
[ -f "$t/usr-src/linux-headers-$K2/rust/libkernel.rmeta" ] || die "no metadata for $K2: $out"
: > "$F/fail-module"; sed -i "/^$K\$/d" "$F/dkms/installed"; tool --hook "$K"; rm -f "$F/fail-module"
[ -f "$W/failed/$K" ] || die "setup: no failure record for $K"
DMP="upgrade $V3" tool --remove "$K"
[ "$rc" = 0 ] && [ -f "$hdr/rust/libkernel.rmeta" ] && [ -f "$W/failed/$K" ] || die "the image's upgrade (postrm upgrade) removed metadata or memory"
# The headers package went first (only our files are left), then the image's postrm.
find "$hdr" -mindepth 1 -maxdepth 1 ! -name rust -exec rm -rf {} +
DMP=remove tool --remove "$K"
[ "$rc" = 0 ] && [ ! -e "$hdr" ] || die "postrm remove left $(find "$hdr" 2>/dev/null | head -5)"
[ ! -e "$W/failed/$K" ] && [ ! -e "$W/log/$K.log" ] || die "postrm remove left the failure memory of $K"
[ -f "$t/usr-src/linux-kbuild-7.3/scripts/target.json" ] || die "postrm of $K removed target.json that $K2 still uses"
[ -f "$t/usr-src/linux-headers-$K2/rust/libkernel.rmeta" ] || die "postrm of $K touched $K2"
DMP=remove tool --remove "$K2"
[ ! -e "$t/usr-src/linux-kbuild-7.3/scripts/target.json" ] && [ ! -e "$t/usr-src/linux-headers-$K2/rust" ] ||
    die "postrm of the last kernel of the series left target.json or rust/"
# kernel-hook dispatches by the directory it is installed in.
sed 's|/usr/lib/xen_mcelog/xen-mcelog-rust-meta|/usr/bin/echo|g' "$XMC_REPO/tools/dkms/kernel-hook" > "$t/hook"
mkdir -p "$t/etc/kernel/postrm.d" "$t/etc/kernel/postinst.d"
cp "$t/hook" "$t/etc/kernel/postrm.d/50-x"; cp "$t/hook" "$t/etc/kernel/postinst.d/50-x"
[ "$(sh "$t/etc/kernel/postrm.d/50-x" "$K" /boot/vmlinuz-$K)" = "--remove $K" ] &&
    [ "$(sh "$t/etc/kernel/postinst.d/50-x" "$K" /boot/vmlinuz-$K)" = "--hook $K" ] || die "kernel-hook does not dispatch by its directory"
log "5. kernel removal: metadata, target.json (last of the series), memory removed; upgrade: nothing"
log "rust-meta-memory: all 5 cases passed"
