# The stock kernel on bare (emulated) metal, no Xen: ENODEV and a message.
out=$(modprobe xen_mcelog 2>&1); rc=$?
diag "modprobe: $out"
check "modprobe xen_mcelog fails" test $rc -ne 0
check "  with ENODEV" contains "$out" "No such device"
check "dmesg says why" dmesg_has "xen_mcelog: not loading: not running on Xen"
check "no /dev/xen_mcelog" test ! -e /dev/xen_mcelog
check "dmesg has no WARNING/BUG/Oops" no_warnings
