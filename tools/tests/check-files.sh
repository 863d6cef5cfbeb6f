#!/usr/bin/env bash
# Quick checks of the installation files that need no sandbox (part of
# make tools-check):
#  - tools/dkms/xen-mcelog-rust-meta refuses headers whose
#    CONFIG_RUSTC_VERSION_TEXT is not the build root's rustc (a fake kernel's
#    headers in the build root with a changed .config);
#  - the systemd unit passes systemd-analyze verify (when the host has it);
#  - dkms.conf, sourced as dkms does for the stock headers, names the
#    kernel's compiler and a make command for its build directory;
#  - tools/tests/rust-meta-hook.sh: the metadata tool's one line for a kernel
#    whose own linux-source apt no longer offers (on the host, fake /usr/src).
#  - tools/tests/rust-meta-memory.sh: the hooks' failure memory, nice/ionice,
#    headers revisions, dkms skipping a module that does not compile, and the
#    cleanup when a kernel is removed (on the host, fakes).
set -euo pipefail
. "$(dirname "$0")/../../tests/build/env.sh"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# A fake kernel in the build root whose headers say another rustc built it:
# the metadata tool (installed there by dkms-check) must refuse, naming the
# rustc to install, and write nothing.
fake=0.0.0-xmc-refuse
hdr=$XMC_ROOT/usr/src/linux-headers-$fake
rm -rf "$hdr"; mkdir -p "$hdr"
trap 'rm -rf "$tmp" "$hdr"' EXIT
sed 's/^CONFIG_RUSTC_VERSION_TEXT=.*/CONFIG_RUSTC_VERSION_TEXT="rustc 1.0.0 (00000000 2015-05-15)"/' \
    "$XMC_KDIR/usr/src/linux-headers-$XMC_KVER/.config" > "$hdr/.config"
install -D -m 0755 "$XMC_REPO/tools/dkms/xen-mcelog-rust-meta" "$XMC_ROOT/usr/lib/xen_mcelog/xen-mcelog-rust-meta"
if out=$(in_root /usr/lib/xen_mcelog/xen-mcelog-rust-meta "$fake" 2>&1); then
    die "xen-mcelog-rust-meta accepted headers built with another rustc"
fi
grep -q "was built with 'rustc 1.0.0 (00000000 2015-05-15)' but this system has 'rustc " <<< "$out" ||
    die "xen-mcelog-rust-meta: unexpected refusal: $out"
[ ! -e "$hdr/rust" ] || die "xen-mcelog-rust-meta wrote into headers it refused"
log "xen-mcelog-rust-meta: refuses a rustc mismatch: $out"

if command -v systemd-analyze > /dev/null; then
    printf '#!/bin/sh\nexit 0\n' > "$tmp/mcelog"; chmod +x "$tmp/mcelog"
    sed "s|/usr/sbin/mcelog|$tmp/mcelog|; /^Documentation=/d" "$XMC_REPO/tools/systemd/mcelog-xen.service" \
        > "$tmp/mcelog-xen.service"
    systemd-analyze verify "$tmp/mcelog-xen.service" || die "systemd-analyze verify mcelog-xen.service failed"
    log "mcelog-xen.service: systemd-analyze verify ok"
    cp "$tmp/mcelog" "$tmp/xen-mcelog-dump"
    sed "s|/usr/local/sbin/xen-mcelog-dump|$tmp/xen-mcelog-dump|" \
        "$XMC_REPO/tools/systemd/xen-mcelog-json.service" > "$tmp/xen-mcelog-json.service"
    cp "$XMC_REPO/tools/systemd/xen-mcelog.target" "$tmp/"
    systemd-analyze verify "$tmp/xen-mcelog-json.service" "$tmp/xen-mcelog.target" ||
        die "systemd-analyze verify xen-mcelog-json.service xen-mcelog.target failed"
    log "xen-mcelog-json.service, xen-mcelog.target: systemd-analyze verify ok"
fi
# The readers start with the device only when enabled: udev wants
# xen-mcelog.target (never a service), and both services are WantedBy= it alone.
grep -q 'TAG+="systemd", ENV{SYSTEMD_WANTS}+="xen-mcelog.target"$' "$XMC_REPO/tools/udev/61-xen-mcelog-tools.rules" &&
    ! grep -q 'SYSTEMD_WANTS.*\.service' "$XMC_REPO/tools/udev/61-xen-mcelog-tools.rules" ||
    die "61-xen-mcelog-tools.rules does not (only) want xen-mcelog.target"
for u in xen-mcelog-json.service mcelog-xen.service; do
    [ "$(sed -n 's/^WantedBy=//p' "$XMC_REPO/tools/systemd/$u")" = xen-mcelog.target ] ||
        die "$u is not WantedBy=xen-mcelog.target alone"
done
log "udev wants xen-mcelog.target; the readers are WantedBy= it (enablement decides)"
if command -v systemctl > /dev/null; then
    # systemctl enable/disable/mask, offline (--root): the links that decide.
    r=$tmp/sysroot; mkdir -p "$r/usr/lib/systemd/system" "$r/etc/systemd/system"
    cp "$XMC_REPO"/tools/systemd/{xen-mcelog-json.service,mcelog-xen.service,xen-mcelog.target} "$r/usr/lib/systemd/system/"
    w=$r/etc/systemd/system/xen-mcelog.target.wants
    systemctl --root="$r" -q enable xen-mcelog-json.service
    [ -L "$w/xen-mcelog-json.service" ] || die "systemctl enable made no xen-mcelog.target.wants link"
    systemctl --root="$r" -q disable xen-mcelog-json.service
    systemctl --root="$r" -q enable mcelog-xen.service
    [ ! -e "$w/xen-mcelog-json.service" ] && [ -L "$w/mcelog-xen.service" ] ||
        die "the switch to mcelog-xen left $(ls "$w" 2>/dev/null)"
    systemctl --root="$r" -q mask xen-mcelog-json.service
    [ "$(systemctl --root="$r" is-enabled xen-mcelog-json.service mcelog-xen.service | tr '\n' ' ')" = "masked enabled " ] ||
        die "after the switch and mask: $(systemctl --root="$r" is-enabled xen-mcelog-json.service mcelog-xen.service | tr '\n' ' ')"
    log "systemctl --root: enable links the reader into xen-mcelog.target.wants; disable/mask remove it"
fi
# The mcelog unit runs mcelog with the dom0-safe config, which keeps memory
# errors accounted only and has no CPU-offlining trigger.
grep -q '^ExecStart=/usr/sbin/mcelog .*--config-file /etc/mcelog/mcelog-xen.conf' \
    "$XMC_REPO/tools/systemd/mcelog-xen.service" || die "mcelog-xen.service does not use mcelog-xen.conf"
conf=$XMC_REPO/tools/mcelog/mcelog-xen.conf
grep -q '^memory-ce-action = account$' "$conf" || die "mcelog-xen.conf: memory-ce-action is not account"
! grep -Eq '^[[:space:]]*[a-z-]+-trigger[[:space:]]*=' "$conf" || die "mcelog-xen.conf configures a trigger"
log "mcelog-xen.conf: memory-ce-action = account, no trigger; mcelog-xen.service uses it"

make_cmd=$(kernel_source_dir=$XMC_KDIR/usr/src/linux-headers-$XMC_KVER dkms_tree=/var/lib/dkms \
    bash -c '. "$1" && echo "${MAKE[0]}"' _ "$XMC_REPO/tools/dkms/dkms.conf")
case $make_cmd in
    *"M=/var/lib/dkms/xen_mcelog/"*"/build CC=$XMC_CC CROSS_COMPILE=x86_64-linux-gnu- modules") ;;
    *) die "dkms.conf MAKE is '$make_cmd'" ;;
esac
log "dkms.conf: $make_cmd"

# PRE_BUILD refuses headers without the Rust overlay (the fake root above).
if out=$(sh "$XMC_REPO/tools/dkms/dkms-pre-build.sh" "$hdr" 2>&1); then
    die "dkms-pre-build.sh accepted headers without Rust metadata"
fi
grep -q "xen-mcelog-rust-meta <kernel version>" <<< "$out" || die "dkms-pre-build.sh: unexpected message: $out"
log "dkms PRE_BUILD: refuses headers without Rust metadata"

# dkms.conf makes dkms skip (not fail) a kernel whose headers lack the metadata:
# a failed autoinstall would fail the kernel package's installation.
excl() { kernel_source_dir=$1 dkms_tree=/var/lib/dkms bash -c '. "$1" && echo "${BUILD_EXCLUSIVE_KERNEL:-}"' _ "$XMC_REPO/tools/dkms/dkms.conf"; }
re=$(excl "$hdr")
[ -n "$re" ] && ! [[ $XMC_KVER =~ $re ]] || die "dkms.conf does not exclude headers without Rust metadata (BUILD_EXCLUSIVE_KERNEL='$re')"
mkdir -p "$hdr/rust"; : > "$hdr/rust/libkernel.rmeta"
[ -z "$(excl "$hdr")" ] || die "dkms.conf excludes headers that have Rust metadata"
log "dkms.conf: skips a kernel without Rust metadata, builds one with it"

# The metadata tool: usage, and a refusal naming the package when a kernel's
# headers are not installed.
out=$(sh "$XMC_REPO/tools/dkms/xen-mcelog-rust-meta" 0.0.0-none 2>&1) && die "xen-mcelog-rust-meta accepted a missing kernel"
grep -q "install linux-headers-0.0.0-none" <<< "$out" || die "xen-mcelog-rust-meta: unexpected message: $out"
sh "$XMC_REPO/tools/dkms/xen-mcelog-rust-meta" --hook 0.0.0-none || die "the kernel hook failed for a kernel without headers"
log "xen-mcelog-rust-meta: names the missing headers; the hook never fails"

# A host still running an older kernel of its series whose own linux-source
# apt no longer offers: the hook's one line, exit 0 (docs/kernels.md).
bash "$XMC_REPO/tools/tests/rust-meta-hook.sh"

# Hooks that never break or stall apt: a failed build remembered (one line an
# apt run, no rebuild until what it depends on changes), nice/ionice, a new
# headers revision made again, a module that does not compile skipped by
# dkms's kernel hook, the kernel's removal cleaned up (fakes, on the host).
bash "$XMC_REPO/tools/tests/rust-meta-memory.sh"
