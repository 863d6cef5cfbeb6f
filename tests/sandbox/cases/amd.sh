# A second CPU vendor: the `amd` mode boots QEMU's EPYC vCPU (AuthenticAMD,
# family 0x17 model 1 stepping 2: CPUID.1.EAX 0x800f12) with two sockets, so
# CPU 1 is socket 1. A corrected error written into CPU 1's bank 2 from outside
# the VM (QEMU monitor) is found by Xen's AMD poller and must arrive with the
# AMD vendor, that CPUID, CPU 1, socket 1 and CPU 1's APIC id, and be decoded
# and traced as AMD.
check "modprobe xen_mcelog" modprobe xen_mcelog
dmesg | grep xen_mcelog | sed 's/^/# dmesg: /'
grep -m1 'vendor_id' /proc/cpuinfo | sed 's/^/# /'
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs tracefs $T
EV=$T/events/xen_mcelog/xen_mce_record
echo > $T/trace
echo 1 > $EV/enable
host mce 1 2 0x9c0000000000017a 0 0x10000000 0x86
: > /tmp/amd
got() {
    xmc-test collect $DEV 0 2 >> /tmp/amd
    [ "$(recs_matching /tmp/amd status=0x9c0000000000017a addr=0x10000000 bank=2 extcpu=1)" -ge 1 ]
}
check "the corrected error arrives (Xen's AMD poller: 2-30 s)" wait_for 90 got
grep '^rec ' /tmp/amd | sed 's/^/# /'
l=$(grep '^rec ' /tmp/amd | grep 'bank=2 ' | head -1)
check "  cpuvendor AMD (2, from Xen's vendor string)" test "$(kv cpuvendor "$l")" = 2
check "  cpuid 0x800f12 (family 0x17 model 1 stepping 2)" test "$(kv cpuid "$l")" = 0x800f12
check "  CPU 1, socket 1" test "$(kv extcpu "$l")/$(kv socketid "$l")" = 1/1
apic=$(kv apicid "$l")
check "  apicid $apic is CPU 1's, not CPU 0's" test -n "$apic" -a "$apic" != 0
check "  misc 0x86" test "$(kv misc "$l")" = 0x86
# The dump tool decodes a record's bytes: a second injection, read with cat.
host mce 0 3 0x9c0000000000017a 0 0x18000000 0x86
: > /tmp/amd.bin
got_raw() { cat $DEV >> /tmp/amd.bin; [ -s /tmp/amd.bin ]; }
check "a second corrected error (CPU 0, bank 3) arrives" wait_for 90 got_raw
out=$(xen-mcelog-dump --decode /tmp/amd.bin 2>&1); echo "$out" | sed 's/^/# /'
check "  xen-mcelog-dump decodes vendor AMD, family 0x17" contains "$out" "vendor AMD (2), cpuid 0x800f12: family 0x17 model 0x1 stepping 2"
tl=$(grep 'xen_mce_record:' $T/trace | grep 'MC2: 9c0000000000017a' | head -1)
diag "trace: $tl"
check "the tracepoint has the record with vendor 2 (AMD), CPUID 800f12, socket 1" \
    contains "$tl" "vendor: 2, CPUID: 800f12, "
check "  ... socket 1" contains "$tl" "socket: 1, "
check "rmmod xen_mcelog" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops" no_warnings
