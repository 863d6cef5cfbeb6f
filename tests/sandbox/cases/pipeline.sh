# The telemetry pipeline on Debian's stock dom0 kernel, asserted on the bytes
# read back from /dev/xen_mcelog: records queued in Xen before modprobe, a
# UCNA (found by Xen's poller) injected from inside dom0 through the mca
# hypercall, and a corrected error injected from outside (QEMU monitor).
# SRAO has its own boot (srao.sh).
# Skylake-Client-v1 vCPU: vendor Intel (0), CPUID.1.EAX 0x506e3.
check "modprobe xen-privcmd" modprobe xen-privcmd
check "/dev/xen/privcmd exists" wait_for 5 test -c /dev/xen/privcmd
# 1. queued before we load: a corrected #MC goes to Xen's URGENT queue even
#    with nobody listening, and Xen never signals it again.
out=$(xmc-inject corrected --cpu 0 --bank 2 --addr 0x20000000 --mce 2>&1); diag "$out"
check "pre-load injection accepted by Xen" contains "$out" "mceinject rc=0"
sleep 2
check "modprobe xen_mcelog" modprobe xen_mcelog
xmc-test collect $DEV 1 20 > /tmp/c1
check "the record queued before modprobe arrives" \
    test "$(recs_matching /tmp/c1 status=0x9c0000000000017a addr=0x20000000 bank=2)" -ge 1
# (Xen's poller may deliver an earlier case's bank again: pick ours.)
l=$(grep '^rec ' /tmp/c1 | grep ' addr=0x20000000 ' | head -1); diag "$l"
check "  mcgstatus is the injected 0x5" test "$(kv mcgstatus "$l")" = 0x5
check "  misc 0x86" test "$(kv misc "$l")" = 0x86
check "  cpuvendor Intel (0, from the vendor string)" test "$(kv cpuvendor "$l")" = 0
check "  cpuid 0x506e3 (family 6 model 0x5e stepping 3)" test "$(kv cpuid "$l")" = 0x506e3
check "  extcpu 0, finished 1" test "$(kv extcpu "$l")/$(kv finished "$l")" = 0/1
check "  mcgcap from physcpuinfo (0x100010a)" test "$(kv mcgcap "$l")" = 0x100010a
now=$(date +%s); t=$(kv time "$l")
check "  time is the fetch's wall clock ($t vs now $now)" test "$t" -gt $((now - 120)) -a "$t" -le "$now"
# 3. UCNA found by Xen's poller (2-16 s on Intel), injected from inside, and
# 4. a corrected error written into CPU 1's bank 5 from outside the VM (QEMU
#    monitor), also found by the poller: one wait serves both.
out=$(xmc-inject ucna --cpu 0 --bank 4 --addr 0x30000000 2>&1); diag "$out"
check "UCNA injection accepted" contains "$out" "rc=0"
host mce 1 5 0x9c0000000000017a 0 0x10000000 0x86
got_both() {
    xmc-test collect $DEV 0 2 >> /tmp/c3
    [ "$(recs_matching /tmp/c3 status=0xbc20000080000136 addr=0x30000000 bank=4 extcpu=0)" -ge 1 ] &&
        [ "$(recs_matching /tmp/c3 status=0x9c0000000000017a addr=0x10000000 bank=5 extcpu=1)" -ge 1 ]
}
: > /tmp/c3
wait_for 60 got_both
grep '^rec ' /tmp/c3 | sed 's/^/# /'
check "UCNA record arrives: status 0xbc20000080000136, bank 4, addr 0x30000000, CPU 0" \
    test "$(recs_matching /tmp/c3 status=0xbc20000080000136 addr=0x30000000 bank=4 extcpu=0)" -ge 1
check "outside corrected error arrives: bank 5, CPU 1, addr 0x10000000" \
    test "$(recs_matching /tmp/c3 status=0x9c0000000000017a addr=0x10000000 bank=5 extcpu=1)" -ge 1
check "rmmod xen_mcelog" rmmod xen_mcelog
dmesg | grep 'xen_mcelog: unloaded' | sed 's/^/# dmesg: /'
check "dmesg has no WARNING/BUG/Oops" no_warnings
