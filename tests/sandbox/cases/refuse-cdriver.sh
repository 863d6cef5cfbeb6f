# Stock dom0 WITHOUT the boot parameter: the built-in C driver owns VIRQ_MCA.
# We must refuse with EBUSY and a message naming the fix, and leave the C
# driver (and /dev/mcelog) intact: we never call bind_virq_to_irqhandler.
check "built-in C driver registered /dev/mcelog" test -c /dev/mcelog
out=$(modprobe xen_mcelog 2>&1); rc=$?
diag "modprobe: $out"
check "modprobe xen_mcelog fails" test $rc -ne 0
check "  with EBUSY" contains "$out" "Device or resource busy"
check "dmesg names CONFIG_XEN_MCE_LOG" dmesg_has "CONFIG_XEN_MCE_LOG"
check "dmesg names initcall_blacklist=xen_late_init_mcelog" dmesg_has "initcall_blacklist=xen_late_init_mcelog"
check "no /dev/xen_mcelog left behind" test ! -e /dev/xen_mcelog
check "module not loaded" sh -c "! grep -q '^xen_mcelog ' /proc/modules"
# /dev/mcelog still works: an empty full-size read (32 x 112 bytes) returns 0 bytes.
n=$(dd if=/dev/mcelog bs=3584 count=1 2>/dev/null | wc -c); rc=$?
check "/dev/mcelog still readable (read returned $n bytes)" test "$rc" -eq 0 -a "$n" -eq 0
check "C driver's irq still registered (mce in /proc/interrupts)" grep -q ' mce$' /proc/interrupts
check "dmesg has no WARNING/BUG/Oops (no genirq Flags mismatch)" no_warnings
