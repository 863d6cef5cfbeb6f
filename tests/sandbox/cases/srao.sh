# SRAO (uncorrected, software recoverable, action optional) through #MC,
# injected from inside dom0: xen-mceinj's type 0 (memory, L3 explicit
# writeback), on CPU 1. It has a boot of its own: Xen 4.20 under QEMU
# declared a fatal error and panicked when an SRAO #MC followed a corrected
# #MC injected on the other CPU in the same boot (seen twice).
check "modprobe xen-privcmd" modprobe xen-privcmd
check "modprobe xen_mcelog" modprobe xen_mcelog
out=$(xmc-inject srao --cpu 1 --bank 7 --addr 0x10000000 --status 0xbd2000008000017a 2>&1); diag "$out"
check "SRAO injection accepted" contains "$out" "mceinject rc=0"
xmc-test collect $DEV 1 20 > /tmp/c2
grep '^rec ' /tmp/c2 | sed 's/^/# /'
check "SRAO record arrives: status 0xbd2000008000017a, bank 7, addr 0x10000000, CPU 1" \
    test "$(recs_matching /tmp/c2 status=0xbd2000008000017a addr=0x10000000 bank=7 extcpu=1 mcgstatus=0x5)" -ge 1
l=$(grep '^rec ' /tmp/c2 | grep 'bank=7' | head -1)
check "  cpuvendor Intel, cpuid 0x506e3, apicid 1" test "$(kv cpuvendor "$l")/$(kv cpuid "$l")/$(kv apicid "$l")" = 0/0x506e3/1
check "rmmod xen_mcelog" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops" no_warnings
