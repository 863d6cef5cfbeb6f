# The debugfs binary views give one snapshot per open:
# 1-byte and odd-sized reads while records are written and consumed get whole
# entries only, with increasing sequence numbers. And every documented
# ring_size loads, fills and reads back (README, "The device").
check "modprobe xen_mcelog ring_size=64 drain_period_ms=0" modprobe xen_mcelog ring_size=64 drain_period_ms=0
XEN=/sys/kernel/debug/xen_mcelog/xen
RAW=/sys/kernel/debug/xen_mcelog/raw
xmc-test write $DEV 40 > /dev/null
# Writers and a consumer keep the ring moving while the views are read.
( j=0; while [ $j -lt 200 ]; do xmc-test write $DEV 5 > /dev/null; xmc-test read $DEV 640 > /dev/null; j=$((j + 1)); done ) &
mover=$!
k=0; bad_x=0; bad_r=0
while [ $k -lt 5 ]; do
    dd if=$XEN of=/tmp/v1 bs=1 2>/dev/null
    dd if=$RAW of=/tmp/r7 bs=7 2>/dev/null
    s1=$(wc -c < /tmp/v1); s7=$(wc -c < /tmp/r7)
    [ $((s1 % 168)) -eq 0 ] || bad_x=$((bad_x + 1))
    [ $((s7 % 128)) -eq 0 ] || bad_r=$((bad_r + 1))
    # Whole entries: the dump tool parses them, sequence numbers increase.
    xen-mcelog-dump --xen-view /tmp/v1 --json > /tmp/vj 2>/dev/null || bad_x=$((bad_x + 1))
    seqs=$(sed -n 's/.*"seq":\([0-9]*\).*/\1/p' /tmp/vj)
    [ "$(echo "$seqs" | sort -n | tr '\n' ' ')" = "$(echo "$seqs" | tr '\n' ' ')" ] || bad_x=$((bad_x + 1))
    [ "$(echo "$seqs" | grep -c .)" -eq $((s1 / 168)) ] || bad_x=$((bad_x + 1))
    k=$((k + 1))
done
wait $mover
diag "last: xen view $s1 bytes (1-byte reads), raw view $s7 bytes (7-byte reads)"
check "5 x xen view read 1 byte at a time while records move: whole entries, seq increasing" test $bad_x -eq 0
check "5 x raw view read 7 bytes at a time: whole 128-byte records" test $bad_r -eq 0
check "rmmod xen_mcelog" rmmod xen_mcelog
# Every documented ring size loads (kvmalloc), fills and reads back.
for size in 16 16384 32768 1048576; do
    if modprobe xen_mcelog ring_size=$size drain_period_ms=0; then
        l=$(xmc-test ioctls $DEV)
        xmc-test write $DEV 16 > /dev/null
        r=$(xmc-test read $DEV 4096 | head -1)
        check "ring_size=$size: loads, LOG_LEN $size, 16 written, 16 read back" \
            test "$(kv log_len "$l")" = $size -a "$(kv ret "$r")" = 2048
        rmmod xen_mcelog
    else
        fail "ring_size=$size: modprobe failed"
    fi
done
check "dmesg has no WARNING/BUG/Oops" no_warnings
