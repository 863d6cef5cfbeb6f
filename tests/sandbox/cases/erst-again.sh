# ERST, boot 5 of tests/erst.sh: the next boot delivers no previous-boot
# record (they were read and erased), and dom0's pstore record is still there.
# Then a second fatal machine check for boot 6.
check "modprobe xen_mcelog" modprobe xen_mcelog
n=$(xen-mcelog-dump /dev/xen_mcelog | grep -c 'previous_boot=1')
check "no previous-boot record delivered again ($n)" test "$n" -eq 0
mkdir -p /sys/fs/pstore; mount -t pstore pstore /sys/fs/pstore
ls /sys/fs/pstore | sed 's/^/# pstore: /'
check "dom0's dmesg record is still in ERST" test -n "$(ls /sys/fs/pstore | grep '^dmesg-erst-')"
check "no Xen MCE record left in ERST" test -z "$(ls /sys/fs/pstore | grep '^mce-erst-')"
check "dmesg has no WARNING/BUG/Oops" no_warnings
# For boot 6: a second fatal machine check (bank 1 again, another address),
# saved by Xen in ERST at its panic.
check "rmmod xen_mcelog" rmmod xen_mcelog
echo XMC-EXPECT-PANIC
host mce -b 0 1 0xb600000000000150 0x4 0x21000000 0x86
sleep 60
fail "Xen did not panic"
