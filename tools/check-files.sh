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
set -euo pipefail
. "$(dirname "$0")/../tests/env.sh"
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
    systemd-analyze verify "$tmp/xen-mcelog-json.service" || die "systemd-analyze verify xen-mcelog-json.service failed"
    log "xen-mcelog-json.service: systemd-analyze verify ok"
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
# apt no longer offers: the hook's one line, exit 0 (README "Kernels").
bash "$XMC_REPO/tools/tests/rust-meta-hook.sh"
