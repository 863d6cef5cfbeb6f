# Stock dom0 with initcall_blacklist=xen_late_init_mcelog: our module loads,
# owns /dev/xen_mcelog, reports the CPU count, and unloads cleanly.
check "built-in C driver is off (no /dev/mcelog)" test ! -e /dev/mcelog
out=$(modprobe xen_mcelog 2>&1); rc=$?
[ -n "$out" ] && diag "modprobe: $out"
check "modprobe xen_mcelog succeeds" test $rc -eq 0
check "/dev/xen_mcelog is a character device" test -c /dev/xen_mcelog
check "dmesg shows the physcpuinfo CPU count" dmesg_has "xen_mcelog: Xen reports 2 physical CPUs"
# XENVER_version/extraversion as read at load (Debian's 4.20 says 4.20.5-pre);
# no known machine-check defect of that Xen concerns this family-6 vCPU.
check "dmesg names the Xen version" dmesg_has "xen_mcelog: running on Xen 4.20."
check "no Xen defect warned about" test -z "$(dmesg | grep 'xen_mcelog: Xen .*(Xen commit ')"
check "xen_mcelog listed in /proc/modules" grep -q '^xen_mcelog ' /proc/modules
out=$(rmmod xen_mcelog 2>&1); rc=$?
[ -n "$out" ] && diag "rmmod: $out"
check "rmmod xen_mcelog succeeds" test $rc -eq 0
check "/dev/xen_mcelog is gone after rmmod" test ! -e /dev/xen_mcelog
check "modprobe again after rmmod" modprobe xen_mcelog
check "rmmod again" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops" no_warnings
