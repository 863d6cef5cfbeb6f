# ERST, boot 4 of tests/erst.sh: xen_mcelog delivers the fatal machine check
# Xen saved before the reset, marked previous_boot, with the injected bank,
# status and address; the dump tool shows it; it stays in ERST while nobody
# got it (no reader, the tracepoint without a consumer), and once read it is
# erased from ERST (a reload does not deliver it again); dom0's own pstore
# record (boot 1) is never touched. (Boot 6 delivers through the tracepoint.)
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs tracefs $T
mkdir -p /sys/fs/pstore
mount -t pstore pstore /sys/fs/pstore
ls /sys/fs/pstore | sed 's/^/# pstore: /'
nx=$(ls /sys/fs/pstore | grep -c '^mce-erst-')
check "pstore shows Xen's saved records ($nx mce-erst files)" test "$nx" -ge 1
dm=$(ls /sys/fs/pstore | grep '^dmesg-erst-' | head -1)
check "pstore shows dom0's own dmesg record of boot 1 ($dm)" test -n "$dm"
for f in /sys/fs/pstore/mce-erst-*; do diag "$f: $(wc -c < $f) bytes, cpuvendor byte $(od -An -tu1 -j56 -N1 $f)"; done
# The dump tool decodes pstore's copies (Xen's 88-byte layout).
out=$(xen-mcelog-dump --pstore /sys/fs/pstore); echo "$out" | sed 's/^/# dump --pstore: /'
check "  xen-mcelog-dump --pstore decodes bank 1, status, address, previous_boot" \
    contains "$out" "bank=1 status=0xb600000000000150 addr=0x20000000"
check "  ... marked previous_boot" contains "$out" "previous_boot=1"
umount /sys/fs/pstore
echo > $T/trace
check "modprobe xen_mcelog" modprobe xen_mcelog
dmesg | grep 'previous boot' | sed 's/^/# dmesg: /'
check "dmesg names the fatal machine check of the previous boot" \
    dmesg_has "fatal machine check of a previous boot (saved by Xen in ERST"
# Not delivered yet: the load's drain and the first periodic one (5 s) ran,
# and neither erased anything.
sleep 6
check "  nobody got it yet: nothing erased from ERST" sh -c "! dmesg | grep -q 'erased from ERST'"
out=$(xen-mcelog-dump /dev/xen_mcelog); echo "$out" | sed 's/^/# device: /'
rec=$(echo "$out" | grep 'previous_boot=1' | grep 'status=0xb600000000000150' | head -1)
check "/dev/xen_mcelog delivers it: bank 1, status 0xb600000000000150, addr 0x20000000" \
    contains "$rec" "bank=1 status=0xb600000000000150 addr=0x20000000"
check "  mcgstatus 0x4 (MCIP), machine address" contains "$rec" "mcgstatus=0x4"
check "  addr_space machine" contains "$rec" "addr_space=machine"
t=$(kv time "$rec"); now=$(date +%s)
diag "record time $t, dom0 clock $now"
check "  its time is the time Xen saved it (non-zero, not after now)" test "${t:-0}" -gt 1000000000 -a "${t:-0}" -le $((now + 60))
check "  cpuid from the record (0x506e3, the Skylake vCPU)" contains "$rec" "cpuid=0x506e3"
n0=$(echo "$out" | grep -c 'previous_boot=1')
check "every saved Xen record delivered ($n0 of $nx)" test "$n0" -eq "$nx"
# Erased from ERST once read (the module's next drain): a remount of pstore
# reads ERST again. The drain erases the records one by one and logs each
# after its erase: wait for all of them, or pstore may still list the last.
erased_all() { [ "$(dmesg | grep -c 'read: erased from ERST')" -ge "$nx" ]; }
check "dmesg: erased from ERST once read ($nx records)" wait_for 10 erased_all
mount -t pstore pstore /sys/fs/pstore
ls /sys/fs/pstore | sed 's/^/# pstore after: /'
left=$(ls /sys/fs/pstore | grep -c "^mce-erst-")
check "ERST holds none of the delivered Xen records now ($left left)" test "$left" -eq 0
check "dom0's dmesg record is still in ERST ($dm)" test -e "/sys/fs/pstore/$dm"
umount /sys/fs/pstore
check "rmmod xen_mcelog" rmmod xen_mcelog
check "modprobe xen_mcelog again" modprobe xen_mcelog
again=$(xen-mcelog-dump /dev/xen_mcelog | grep -c 'previous_boot=1')
check "a reload does not deliver them again ($again previous-boot records)" test "$again" -eq 0
check "dmesg has no WARNING/BUG/Oops" no_warnings
