# shellcheck shell=sh
# XMC_PAGE_OWNER, the page-owner probe (chardev/owner.rs, src/xmc_owner.c;
# docs/page-retirement.md, "The owner probe"), as far as the sandbox can ask
# it: dom0 is the only domain here (no domU, no toolstack), so every question
# the module lets through gets Xen's "no such domain" (ESRCH, xen_rc=-3);
# what a guest's own, a free and dom0's frame answer is checked on the
# installed system (tests/system/owner-probe.sh, make check-system). Here:
# the probe is set up at each load (its page-table entry checked with Xen;
# it says nothing when that works, so: no "page-owner probe" line, and the
# ioctl reaches Xen instead of answering EOPNOTSUPP), what the module refuses
# before Xen is asked, who may ask, two thousand probes (two askers at once,
# one entry behind a mutex) after which a record still travels Xen ->
# /dev/xen_mcelog, and the probe's teardown and set-up across two reloads.
check "xmc-test has 'owner --count' and 'without-cap' (the initramfs has this tree's static tools)" \
    sh -c "xmc-test --help | grep -q 'xmc-test owner DEV MFN_HEX DOMID .*--count N' &&
        xmc-test --help | grep -q 'xmc-test without-cap CAP'"
# The kernel log from here on (the boot's other cases loaded the module too).
echo "xmc-case owner: begins" > /dev/kmsg
owner_log() { dmesg | sed -n '/xmc-case owner: begins/,$p'; }
# no_probe_line: the marker is there (not wrapped away) and no line of the
# probe (its C side's reason, or "page-owner probe unavailable") follows it.
no_probe_line() {
    l=$(owner_log)
    [ -n "$l" ] || { diag "the case's marker is gone from the kernel log"; return 1; }
    echo "$l" | grep 'page-owner probe' | sed 's/^/# dmesg: /'
    ! echo "$l" | grep -q 'page-owner probe'
}
# Any frame: Xen looks the domain up first, and none but dom0 exists.
F=0x3a5b1
check "modprobe xen_mcelog" modprobe xen_mcelog
check "  no 'page-owner probe' line: the probe's entry passed its check with Xen" no_probe_line
l=$(xmc-test owner "$DEV" "$F" 1)
check "domain 1 (there is none): asked of Xen, ESRCH, xen_rc=-3 ($l; EOPNOTSUPP would be err:95)" \
    test "$l" = xen_rc=-3
l=$(xmc-test owner "$DEV" "$F" 0x7fef)
check "  domain 0x7FEF, the last ordinary id, is asked too: xen_rc=-3 ($l)" test "$l" = xen_rc=-3
l=$(xmc-test owner "$DEV" 0xfffffffffe 1)
check "  frame 2^40 - 2, the highest, is asked too: xen_rc=-3 ($l)" test "$l" = xen_rc=-3
# Refused before Xen is asked (EINVAL), each with everything else valid.
for d in 0 0x7ff0 0x7ff1 0x7ff2 0x7ff3 0xffff; do  # dom0, SELF, IO, XEN, COW, INVALID
    l=$(xmc-test owner "$DEV" "$F" "$d")
    check "domain $d: refused, EINVAL ($l)" test "$l" = owner=err:22
done
for m in 0xffffffffff 0x10000000000 0xffffffffffffffff; do  # INVALID_MFN, 2^40, all ones
    l=$(xmc-test owner "$DEV" "$m" 1)
    check "frame $m: refused, EINVAL ($l)" test "$l" = owner=err:22
done
for fl in 1 0x8000; do
    l=$(xmc-test owner "$DEV" "$F" 1 --flags "$fl")
    check "flags $fl: refused, EINVAL ($l)" test "$l" = owner=err:22
done
# Who may ask: CAP_SYS_ADMIN, checked before the arguments (EPERM first).
chmod 0666 "$DEV"
l=$(xmc-test as-user 65534 65534 -- xmc-test owner "$DEV" "$F" 1)
check "non-root (uid 65534, node opened 0666): EPERM ($l)" test "$l" = owner=err:1
l=$(xmc-test as-user 65534 65534 -- xmc-test owner "$DEV" "$F" 0)
check "  also with an argument the module refuses: EPERM first ($l)" test "$l" = owner=err:1
chmod 0600 "$DEV"
# Root without CAP_SYS_ADMIN (21): dropped from the bounding set before exec.
c0=$(awk '/^CapEff:/ { print $2 }' /proc/self/status)
# shellcheck disable=SC2016 # awk's own $2
c1=$(xmc-test without-cap 21 -- awk '/^CapEff:/ { print $2 }' /proc/self/status)
diag "CapEff: root $c0, after without-cap 21: ${c1:-?}"
check "root has CAP_SYS_ADMIN; xmc-test without-cap 21 runs a root program without it" \
    test "$((0x${c0:-0} >> 21 & 1))/$((0x${c1:-200000} >> 21 & 1))/$(xmc-test without-cap 21 -- id -u)" = 1/0/0
l=$(xmc-test without-cap 21 -- xmc-test owner "$DEV" "$F" 1)
check "  uid 0 without CAP_SYS_ADMIN: EPERM ($l)" test "$l" = owner=err:1
# Two askers at once, a thousand probes each, on the module's one entry.
xmc-test owner "$DEV" "$F" 1 --count 1000 > /tmp/owner1 &
op=$!
xmc-test owner "$DEV" "$F" 0x7fef --count 1000 > /tmp/owner2
wait $op
l1=$(cat /tmp/owner1); l2=$(cat /tmp/owner2); diag "$l1"; diag "$l2"
check "1000 probes for domain 1 beside 1000 for 0x7FEF: every one xen_rc=-3 ($(kv answers "$l1"))" \
    test "$(kv probes "$l1")/$(kv answers "$l1")" = "1000/xen_rc=-3:1000"
check "  and the other asker's: every one xen_rc=-3 ($(kv answers "$l2"))" \
    test "$(kv probes "$l2")/$(kv answers "$l2")" = "1000/xen_rc=-3:1000"
l=$(xmc-test owner "$DEV" "$F" 1)
check "  the probe still answers: xen_rc=-3 ($l; EIO would be err:5)" test "$l" = xen_rc=-3
# The log still works: a corrected error from outside (Xen's poller, 2-16 s).
host mce 0 3 0x9c0000000000017a 0 0x3c5b1000 0x86
check "then a corrected error travels Xen -> /dev/xen_mcelog (bank 3, addr 0x3c5b1000, 60 s)" \
    collect_until /tmp/owner-rec 60 status=0x9c0000000000017a addr=0x3c5b1000 bank=3
# The probe's teardown (rmmod) and set-up (modprobe), twice.
n=1
while [ $n -le 2 ]; do
    check "reload $n of 2: rmmod xen_mcelog" rmmod xen_mcelog
    check "  modprobe xen_mcelog" modprobe xen_mcelog
    l=$(xmc-test owner "$DEV" "$F" 1)
    check "  the probe is set up again: xen_rc=-3 ($l)" test "$l" = xen_rc=-3
    n=$((n + 1))
done
check "rmmod xen_mcelog" rmmod xen_mcelog
check "no 'page-owner probe' line over the case's three loads and unloads" no_probe_line
check "dmesg has no WARNING/BUG/Oops" no_warnings
