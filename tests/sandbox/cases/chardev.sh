# /dev/xen_mcelog: the mcelog ABI, read sizes, write injection, cat, two
# concurrent readers, poll wake-up, O_EXCL, permissions, rmmod while open.
check "modprobe xen_mcelog" modprobe xen_mcelog
set -- $(ls -l $DEV); diag "node: $1 $3 $4"
check "node mode is crw------- root root" test "$1/$3/$4" = "crw-------/root/root"
l=$(xmc-test ioctls $DEV); diag "$l"
check "MCE_GET_RECORD_LEN = 128" test "$(kv record_len "$l")" = 128
check "MCE_GET_LOG_LEN = ring capacity 1024" test "$(kv log_len "$l")" = 1024
check "MCE_GETCLEAR_FLAGS = 0" test "$(kv flags "$l")" = 0
# The module's counters through the device (XMC_GET_STATS, no debugfs):
# what this case writes below is what they count (deltas: Xen's and ERST's
# records, if any, are counted apart, as stored and previous_boot_imported).
l=$(xmc-test stats $DEV); diag "stats: $l"
check "XMC_GET_STATS: version 2, 208 bytes, ring capacity 1024" \
    test "$(kv version "$l")/$(kv size "$l")/$(kv ring_capacity "$l")" = 2/208/1024
check "  pushed = popped + len (one snapshot)" \
    test "$(kv ring_pushed "$l")" -eq $(( $(kv ring_popped "$l") + $(kv ring_len "$l") ))
stats_pushed0=$(kv ring_pushed "$l"); stats_stored0=$(kv stored "$l")
stats_rejected0=$(kv ring_rejected_full "$l")
xmc-test write $DEV 2 > /dev/null
if [ -e /proc/sys/abi/vsyscall32 ]; then   # IA32 emulation: Debian's kernel has it
    l=$(xmc-ioctl32 $DEV); diag "32-bit client: $l"
    check "32-bit (compat_ioctl) client: record_len 128, log_len 1024, reads 2 records" \
        test "$(kv bits "$l")/$(kv record_len "$l")/$(kv log_len "$l")/$(kv read "$l")" = 32/128/1024/256
    # xmc-ioctl32 is a caller built against version 1 (200 bytes): the
    # module answers its size, with its own version.
    check "32-bit client (a version-1 caller): XMC_GET_STATS version 2, 200 bytes, 2 records in the ring" \
        test "$(kv stats_version "$l")/$(kv stats_size "$l")/$(( $(kv stats_pushed "$l") - $(kv stats_popped "$l") ))" = 2/200/2
    # XMC_PAGE_OWNER from 32 bits: Xen asked (no domain 1 here: ESRCH,
    # -3), the question back unchanged; dom0 refused before Xen (EINVAL).
    check "32-bit client: XMC_PAGE_OWNER answers Xen's ESRCH for domain 1, EINVAL for dom0" \
        test "$(kv owner_rc "$l")/$(kv owner_back "$l")/$(kv owner_dom0 "$l")" = -3/ok/err:22
else    # our minimal test/debug kernels are built without IA32 emulation
    diag "32-bit client not run: $(uname -r) has no IA32 emulation (covered on the stock kernel)"
    xmc-test read $DEV 4096 > /dev/null
fi
l=$(xmc-test ioctl $DEV 0x80044d09); check "unknown ioctl: ENOTTY" test "$(kv errno "$l")" = 25
l=$(xmc-test ioctl $DEV 0x80044d01 --null); check "bad user pointer: EFAULT" test "$(kv errno "$l")" = 14
for sz in 0 1 127; do
    l=$(xmc-test read $DEV $sz); check "read($sz) on an empty log: EINVAL" test "$(kv errno "$l")" = 22
done
for sz in 128 129 4096 131072; do
    l=$(xmc-test read $DEV $sz); check "read($sz) on an empty log returns 0 at once" test "$(kv ret "$l")/$(kv errno "$l")" = 0/0
done
l=$(xmc-test write $DEV 3 --addr-base 0x50000000); check "write of 3 records (384 bytes)" test "$(kv ret "$l")" = 384
l=$(xmc-test write $DEV 1 --partial); check "partial record write: EINVAL" test "$(kv errno "$l")" = 22
l=$(xmc-test read $DEV 127 | head -1); check "read(127) with records: EINVAL, nothing consumed" test "$(kv errno "$l")" = 22
xmc-test read $DEV 129 > /tmp/r1; l=$(head -1 /tmp/r1)
check "read(129) returns one whole record" test "$(kv ret "$l")" = 128
check "  the oldest, marked injected" test "$(recs_matching /tmp/r1 addr=0x50000000 inject_flags=1)" = 1
xmc-test read $DEV 4096 > /tmp/r2; l=$(head -1 /tmp/r2)
check "read(4096) returns the other two" test "$(kv ret "$l")" = 256
check "  in order" sh -c "grep '^rec' /tmp/r2 | sed -n 's/.*addr=\([^ ]*\).*/\1/p' | tr '\n' ' ' | grep -q '0x50000001 0x50000002'"
xmc-test write $DEV 5 --addr-base 0x51000000 > /dev/null
D=/sys/kernel/debug/xen_mcelog
check "debugfs records: one line per record (5)" test "$(grep -c '^seq=' $D/records)" -eq 5
head -2 $D/records | sed 's/^/# /'
check "  with status, addr, injected mark" grep -q 'bank=1 status=0x9c0000000000017a addr=0x51000004 .* injected' $D/records
cat $D/raw > /tmp/raw.bin
check "debugfs raw: the same records as 5 x 128 bytes" test "$(wc -c < /tmp/raw.bin)" -eq 640
check "debugfs stats: ring_len 5" grep -qx 'ring_len 5' $D/stats
check "debugfs views did not consume records (still 5 in the ring)" test "$(grep -c '^seq=' $D/records)" -eq 5
cat $DEV > /tmp/dump.bin
check "cat $DEV yields 5 x 128 bytes" test "$(wc -c < /tmp/dump.bin)" -eq 640
check "raw debugfs view equals the bytes read from the device" cmp -s /tmp/raw.bin /tmp/dump.bin
check "xen-mcelog-dump decodes the dump" sh -c "xen-mcelog-dump /tmp/dump.bin | grep -c 'addr=0x5100000' | grep -qx 5"
xmc-test write $DEV 1024 > /tmp/w; check "write of a full ring (1024 records)" test "$(kv ret "$(cat /tmp/w)")" = 131072
l=$(xmc-test write $DEV 1); check "write into a full ring: ENOSPC, nothing half-written" test "$(kv errno "$l")" = 28
l=$(xmc-test read $DEV 131072 | head -1); check "mcelog's read (RECORD_LEN x LOG_LEN) returns everything" test "$(kv ret "$l")" = 131072
# Two concurrent readers while records are injected: each record exactly once.
xmc-test readers $DEV 2 400 30 > /tmp/rd &
rp=$!
i=0; while [ $i -lt 40 ]; do xmc-test write $DEV 10 --addr-base $((0x60000000 + i * 10)) > /dev/null; i=$((i + 1)); done
wait $rp; l=$(cat /tmp/rd); diag "$l"
check "two readers: 400 records, 400 unique, 0 duplicates" test "$(kv total "$l")/$(kv unique "$l")/$(kv dup "$l")" = 400/400/0
pr=$(kv per_reader "$l"); check "  both readers got records ($pr)" sh -c "echo $pr | grep -Eq '^[1-9][0-9]*,[1-9][0-9]*$'"
# Written so far: 2 + 3 + 5 + 1024 + 400 records (the partial write and the
# one into the full ring stored nothing), all of them read.
l=$(xmc-test stats $DEV); diag "stats: $l"
written=$(( $(kv ring_pushed "$l") - stats_pushed0 - ($(kv stored "$l") - stats_stored0) ))
check "XMC_GET_STATS: the 1434 records written were pushed ($written)" test "$written" = 1434
check "  all were popped: ring_len 0, pushed = popped" \
    test "$(kv ring_len "$l")/$(kv ring_pushed "$l")" = "0/$(kv ring_popped "$l")"
check "  the write into the full ring counted as rejected" \
    test $(( $(kv ring_rejected_full "$l") - stats_rejected0 )) -ge 1
# poll wakes a sleeping reader.
xmc-test poll $DEV 10000 > /tmp/p &
pp=$!; sleep 1
xmc-test write $DEV 1 > /dev/null
wait $pp; l=$(cat /tmp/p); diag "$l"
check "poll woke up with POLLIN|POLLRDNORM (0x41)" test "$(kv revents "$l")" = 0x41
check "  after the write, not the timeout" test "$(kv elapsed_ms "$l")" -lt 9000
l=$(xmc-test poll $DEV 0); check "poll with a record pending: 0x41 at once" test "$(kv revents "$l")" = 0x41
xmc-test read $DEV 4096 > /dev/null
l=$(xmc-test poll $DEV 0); check "poll on an empty log: 0" test "$(kv revents "$l")" = 0x0
l=$(xmc-test excl $DEV); diag "$l"
check "O_EXCL: refused while open (EBUSY)" test "$(kv plain_then_excl "$l")" = 16
check "O_EXCL: others refused while held (EBUSY)" test "$(kv excl_then_plain "$l")/$(kv excl_then_excl "$l")" = 16/16
check "O_EXCL: granted after close" test "$(kv after_close_excl "$l")" = 0
l=$(xmc-test as-user 65534 65534 -- xmc-test open $DEV); check "non-root open: EACCES (mode 0600)" test "$l" = "open=err:13"
chmod 0666 $DEV
l=$(xmc-test as-user 65534 65534 -- xmc-test ioctls $DEV); diag "$l"
check "non-root ioctls: EPERM" test "$l" = "record_len=err:1 log_len=err:1 flags=err:1"
l=$(xmc-test as-user 65534 65534 -- xmc-test write $DEV 1); check "non-root write: EPERM" test "$(kv errno "$l")" = 1
l=$(xmc-test as-user 65534 65534 -- xmc-test stats $DEV)
check "non-root XMC_GET_STATS: answered (no capability needed, the node's mode decides)" \
    test "$(kv version "$l")/$(kv size "$l")" = 2/208
chmod 0600 $DEV
xmc-test hold $DEV 4 > /dev/null &
hp=$!; sleep 1
l=$(xmc-test stats $DEV); check "XMC_GET_STATS: open_files 2 (the holder and the asker)" test "$(kv open_files "$l")" = 2
out=$(rmmod xen_mcelog 2>&1); rc=$?; diag "rmmod while open: $out"
check "rmmod while the node is open fails cleanly" test $rc -ne 0 -a -c $DEV
wait $hp
xmc-test poll $DEV 3000 > /dev/null &
pp=$!; sleep 1
out=$(rmmod xen_mcelog 2>&1); rc=$?
check "rmmod while a reader sleeps in poll fails cleanly" test $rc -ne 0
wait $pp
check "rmmod after the last close succeeds" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops" no_warnings
