# ERST, boot 6 of tests/erst.sh: boot 5 ended in a second fatal machine check
# (bank 1, 0x21000000). rasdaemon is the only consumer, started after the
# module as Debian's unit is: nobody reads the device, and at load the
# tracepoint had no consumer. When rasdaemon enables the event, the module
# traces the saved records for it; rasdaemon logs and stores them, and the
# module then erases them from ERST (delivered). dom0's own pstore record
# stays.
ras_unpack || { return 0 2>/dev/null || exit 0; }
check "modprobe xen_mcelog" modprobe xen_mcelog
dmesg | grep 'previous boot' | sed 's/^/# dmesg: /'
nx=$(dmesg | grep -c 'fatal machine check of a previous boot (saved by Xen in ERST')
check "dmesg names the fatal machine check of the previous boot, addr 0x21000000 ($nx records)" \
    sh -c "dmesg | grep 'fatal machine check of a previous boot' | grep -q 'status 0xb600000000000150 addr 0x21000000'"
sleep 6
check "  no consumer yet: nothing erased from ERST" sh -c "! dmesg | grep -q 'erased from ERST'"
check "patched rasdaemon starts (after the module)" ras_start xen
grep -E 'Enabled event' /tmp/xen.log | sed 's/^/# xen: /'
logged() { grep -E '[0-9] +xen_mce_record ' /tmp/xen.log | grep -q 'addr= 21000000'; }
check "  rasdaemon logs the saved record (the module traced it for its new consumer)" wait_for 20 logged
grep -E '[0-9] +xen_mce_record ' /tmp/xen.log | sed 's/^/# xen: /'
check "  dmesg: traced for the new consumer" dmesg_has "traced for the new consumer of xen_mcelog:xen_mce_record"
stored() { [ "$(ras_q "select count(*) from mce_record where addr = $((0x21000000))")" -ge 1 ]; }
check "  stored in its sqlite database" wait_for 10 stored
row=$(ras_q "select bank, printf('%x', status), printf('%x', addr), mcgstatus from mce_record where addr = $((0x21000000)) limit 1")
diag "sqlite3: $row"
check "  row: bank 1, status b600000000000150, addr 21000000, mcgstatus 4" test "$row" = "1|b600000000000150|21000000|4"
erased_all() { [ "$(dmesg | grep -c 'traced to a consumer: erased from ERST')" -ge "$nx" ]; }
check "dmesg: erased from ERST once traced to rasdaemon ($nx records)" wait_for 10 erased_all
mkdir -p /sys/fs/pstore; mount -t pstore pstore /sys/fs/pstore
ls /sys/fs/pstore | sed 's/^/# pstore after: /'
left=$(ls /sys/fs/pstore | grep -c '^mce-erst-')
check "ERST holds no Xen record now ($left left)" test "$left" -eq 0
check "dom0's dmesg record is still in ERST" test -n "$(ls /sys/fs/pstore | grep '^dmesg-erst-')"
umount /sys/fs/pstore
n=$(xen-mcelog-dump /dev/xen_mcelog | grep 'addr=0x21000000' | grep -c 'previous_boot=1')
check "the device still has it for a reader that comes later ($n)" test "$n" -ge 1
ras_stop
check "rmmod xen_mcelog" rmmod xen_mcelog
check "modprobe xen_mcelog again" modprobe xen_mcelog
again=$(xen-mcelog-dump /dev/xen_mcelog | grep -c 'previous_boot=1')
check "a reload does not deliver it again ($again previous-boot records)" test "$again" -eq 0
check "dmesg has no WARNING/BUG/Oops (but rasdaemon's automount notice)" no_warnings_but_automount
