# make demo: load the module on Debian's stock dom0 kernel, inject a corrected
# machine check into the (virtual) CPU from outside through QEMU's monitor,
# and read it back from /dev/xen_mcelog once Xen's poller has found it.
check "modprobe xen_mcelog" modprobe xen_mcelog
dmesg | grep xen_mcelog | sed 's/^/# dmesg: /'
diag "injecting: QEMU monitor 'mce 0 1 0x9c0000000000017a 0 0x10000000 0x86' (CPU 0, bank 1, corrected)"
host mce 0 1 0x9c0000000000017a 0 0x10000000 0x86
: > /tmp/recs
got_record() { cat /dev/xen_mcelog >> /tmp/recs; [ -s /tmp/recs ]; }
check "a record arrives on /dev/xen_mcelog (Xen polls every 2-16 s)" wait_for 60 got_record
diag "$(wc -c < /tmp/recs) bytes read:"
if command -v xen-mcelog-dump >/dev/null; then
    xen-mcelog-dump /tmp/recs | sed 's/^/# /'
else
    od -A d -t x8 /tmp/recs | sed 's/^/# /'
fi
status=$(od -A n -t x8 -N 8 /tmp/recs | tr -d ' ')
addr=$(od -A n -t x8 -j 16 -N 8 /tmp/recs | tr -d ' ')
check "status is the injected 9c0000000000017a (got $status)" test "$status" = 9c0000000000017a
check "addr is the injected 0x10000000 (got $addr)" test "$addr" = 0000000010000000
check "rmmod xen_mcelog" rmmod xen_mcelog
dmesg | grep 'xen_mcelog: unloaded' | sed 's/^/# dmesg: /'
check "dmesg has no WARNING/BUG/Oops" no_warnings
