# ERST, boot 5 of tests/erst.sh: the next boot delivers no previous-boot
# record (they were read and erased), and dom0's pstore record is still there.
check "modprobe xen_mcelog" modprobe xen_mcelog
n=$(xen-mcelog-dump /dev/xen_mcelog | grep -c 'previous_boot=1')
check "no previous-boot record delivered again ($n)" test "$n" -eq 0
mkdir -p /sys/fs/pstore; mount -t pstore pstore /sys/fs/pstore
ls /sys/fs/pstore | sed 's/^/# pstore: /'
check "dom0's dmesg record is still in ERST" test -n "$(ls /sys/fs/pstore | grep '^dmesg-erst-')"
check "no Xen MCE record left in ERST" test -z "$(ls /sys/fs/pstore | grep '^mce-erst-')"
check "dmesg has no WARNING/BUG/Oops" no_warnings
