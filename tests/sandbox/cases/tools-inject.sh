# The injector's presets and raw mode, each producing the right record in
# /dev/xen_mcelog; its refusals. Needs tools-install (module loaded).
# Corrected --mce and SRAO arrive by #MC within a second or two; UCNA and the
# raw interposed bank wait for Xen's poller (2-30 s), so they run together.
# Records are matched by address: Xen's poller may report a #MC bank twice.
check "modprobe xen-privcmd" modprobe xen-privcmd
check "/dev/xen/privcmd exists" wait_for 5 test -c /dev/xen/privcmd
# (collect_until, lib.sh: Xen's poller may deliver re-reports in between.)
# Refusals happen before any hypercall (exit 2).
xmc-inject corrected --cpu 0 --bank 1 --addr 0x1000 >/tmp/o 2>&1; rc=$?; diag "$(cat /tmp/o)"
check "address 0x1000 (a DOMID_IO page: Xen 4.20 panics) refused without --force" test $rc = 2
xmc-inject msr --cpu 0 --interpose 1 0xbf2000008000017a 0x11000000 >/tmp/o 2>&1; rc=$?; diag "$(cat /tmp/o)"
check "PCC status refused (exit 2)" test $rc = 2
xmc-inject corrected --cpu 0 --bank 1 --addr 0x11000000 --mce >/tmp/o 2>&1; rc=$?; diag "$(cat /tmp/o)"
check "corrected --mce: hypercalls rc=0" test $rc = 0
collect_until /tmp/t1 20 addr=0x11000000; grep '^rec ' /tmp/t1 | sed 's/^/# /'
check "corrected: status 0x9c0000000000017a bank 1 addr 0x11000000 misc 0x86 mcgstatus 0x5 cpu 0" \
    test "$(recs_matching /tmp/t1 status=0x9c0000000000017a addr=0x11000000 misc=0x86 bank=1 mcgstatus=0x5 extcpu=0)" -ge 1
xmc-inject srao --cpu 1 --bank 2 --addr 0x11010000 >/tmp/o 2>&1; rc=$?; diag "$(cat /tmp/o)"
check "srao: hypercalls rc=0" test $rc = 0
collect_until /tmp/t2 20 addr=0x11010000; grep '^rec ' /tmp/t2 | sed 's/^/# /'
check "SRAO: status 0xbd000000000000c0 bank 2 addr 0x11010000 misc 0x86 mcgstatus 0x5 cpu 1" \
    test "$(recs_matching /tmp/t2 status=0xbd000000000000c0 addr=0x11010000 misc=0x86 bank=2 mcgstatus=0x5 extcpu=1)" -ge 1
# Poller-found errors: UCNA preset on CPU 0, a raw corrected bank on CPU 1.
xmc-inject ucna --cpu 0 --bank 3 --addr 0x11020000 >/tmp/o 2>&1; rc=$?; diag "$(cat /tmp/o)"
check "ucna: hypercall rc=0" test $rc = 0
xmc-inject msr --cpu 1 --interpose 4 0x9c0000000000017a 0x11030000 0x86 >/tmp/o 2>&1; rc=$?; diag "$(cat /tmp/o)"
check "raw msr --interpose (MCi_STATUS/ADDR/MISC of bank 4): rc=0" test $rc = 0
: > /tmp/t3; t=0
while [ $t -lt 50 ]; do
    xmc-test collect $DEV 1 5 >> /tmp/t3
    [ "$(recs_matching /tmp/t3 addr=0x11020000)" -ge 1 ] && [ "$(recs_matching /tmp/t3 addr=0x11030000)" -ge 1 ] && break
    t=$((t + 5))
done
grep '^rec ' /tmp/t3 | sed 's/^/# /'
check "UCNA (poller): status 0xbc20000080000136 bank 3 addr 0x11020000 cpu 0" \
    test "$(recs_matching /tmp/t3 status=0xbc20000080000136 addr=0x11020000 bank=3 extcpu=0)" -ge 1
check "raw values (poller): status 0x9c0000000000017a bank 4 addr 0x11030000 misc 0x86 cpu 1" \
    test "$(recs_matching /tmp/t3 status=0x9c0000000000017a addr=0x11030000 misc=0x86 bank=4 extcpu=1)" -ge 1
check "no WARNING/BUG after the injections" no_warnings
