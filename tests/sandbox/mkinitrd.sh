#!/usr/bin/env bash
# Build the sandbox initramfs for one dom0 kernel flavour (stock = Debian's
# kernel XMC_KERNEL of tests/kernels.conf):
#   mkinitrd.sh stock|test|debug|kasan OUT.cpio.gz MODULE.ko [EXTRA_BIN...]
# It holds busybox, /init (tests/sandbox/init), the test cases, our module and
# (stock) the Xen modules it may need, under /lib/modules/<release>/ with
# depmod data, so the cases run `modprobe xen_mcelog` exactly as users do.
set -euo pipefail
. "$(dirname "$0")/../build/env.sh"
flavour=$1 out=$2 ko=$3; shift 3
stage=$(mktemp -d "$XMC_WORK/initrd.XXXXXX")
trap 'rm -rf "$stage"' EXIT
case $flavour in
    stock) rel=$XMC_KVER ;;
    test | debug | kasan) rel=$(cat "$XMC_ROOT$(bash "$XMC_REPO/tests/build/kernels.sh" "path-$flavour")/include/config/kernel.release") ;;
    *) die "flavour must be stock, test, debug or kasan" ;;
esac
chmod 755 "$stage"   # mktemp made it 0700: unprivileged test users must traverse /
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,root,etc,cases,lib/modules/$rel/extra}
cp /bin/busybox "$stage/bin/busybox"
cp "$XMC_REPO/tests/sandbox/init" "$stage/init"; chmod +x "$stage/init"
cp "$XMC_REPO"/tests/sandbox/cases/*.sh "$stage/cases/"
install -D -m 0644 "$XMC_REPO/tests/lib/tap.sh" "$stage/lib/xmc/tap.sh"   # sourced by cases/lib.sh
cp "$ko" "$stage/lib/modules/$rel/extra/xen_mcelog.ko"
for b in "$@"; do cp "$b" "$stage/bin/"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$stage/etc/passwd"
echo "nobody:x:65534:65534:nobody:/:/bin/sh" >> "$stage/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$stage/etc/group"
if [ "$flavour" = stock ]; then
    mods=$XMC_KDIR/usr/lib/modules/$rel
    cp "$mods"/modules.builtin "$mods"/modules.builtin.modinfo "$mods"/modules.order "$stage/lib/modules/$rel/"
    for m in drivers/xen/xen-privcmd drivers/xen/xen-evtchn drivers/xen/xenfs/xenfs; do
        mkdir -p "$stage/lib/modules/$rel/kernel/$(dirname $m)"
        xz -dc "$mods/kernel/$m.ko.xz" > "$stage/lib/modules/$rel/kernel/$m.ko"
    done
fi
if [ "$flavour" != stock ]; then
    obj=$XMC_ROOT$(bash "$XMC_REPO/tests/build/kernels.sh" "path-$flavour")
    for f in modules.builtin modules.builtin.modinfo modules.order; do
        if [ -e "$obj/$f" ]; then cp "$obj/$f" "$stage/lib/modules/$rel/"; else : > "$stage/lib/modules/$rel/$f"; fi
    done
fi
# depmod from the build root (kmod there matches the kernel generation).
rel_stage=${stage#"$XMC_ROOT"}
in_root depmod -b "$rel_stage" "$rel"
(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) > "$out"
