# A host whose only consumer is the tracepoint (rasdaemon, here a tracefs
# instance: the event enabled, nobody reading /dev/xen_mcelog), with
# drop_traced=1 (opt-in; the default keeps everything: part 5 below): records
# traced to a consumer while no file has the device open are delivered, and
# the drain takes them out of a full ring instead of leaving Xen's entries
# queued (docs/rasdaemon.md). A ring of 16 records and
# 40 corrected errors: every one reaches the trace, Xen's pool never fills
# (the drain never waits, no MCE_OVERFLOW), the ring keeps the newest 16.
# Two errors stored before the event had a consumer are traced for it when
# it comes. Then a file holds the device open: lossless again, the ring
# keeps what it has for it and Xen keeps what does not fit.
# drain_period_ms=0: every drain comes from VIRQ_MCA, the consumer's
# registration callback or a reader (no periodic drain hides a stall).
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs tracefs $T
check "tracefs mounted" test -d $T/events
check "modprobe xen-privcmd" modprobe xen-privcmd
check "/dev/xen/privcmd exists" wait_for 5 test -c /dev/xen/privcmd
check "modprobe xen_mcelog ring_size=16 drain_period_ms=0 drop_traced=1" modprobe xen_mcelog ring_size=16 drain_period_ms=0 drop_traced=1
EV=$T/events/xen_mcelog/xen_mce_record
# inject BASE FROM TO: corrected #MCs with addresses BASE + i * 0x1000, i in
# FROM..TO-1, 0.1 s apart; prints how many were refused.
inject() {
    _i=$2; _bad=0
    while [ $_i -lt $3 ]; do
        xmc-inject corrected --cpu 0 --bank 1 --addr "$(printf '0x%x' $(($1 + _i * 0x1000)))" --mce \
            > /tmp/inj 2>&1 || { _bad=$((_bad + 1)); sed 's/^/# /' /tmp/inj >&2; }
        _i=$((_i + 1)); sleep 0.1
    done
    echo $_bad
}
# traced ADDR: the trace holds an event of this address (tracefs prints it
# as 16 hex digits).
traced() { grep 'xen_mce_record:' /tmp/trace.txt | grep -q "ADDR: $(printf '%016x' $(($1))),"; }
# not_read FILE BASE N: how many of the addresses BASE + i * 0x1000, i in
# 0..N-1, the records in FILE (xmc-test collect --xen) lack.
not_read() {
    _i=0; _miss=0
    while [ $_i -lt $3 ]; do
        grep -q "addr=$(printf '0x%x' $(($2 + _i * 0x1000))) " "$1" || _miss=$((_miss + 1))
        _i=$((_i + 1))
    done
    echo $_miss
}
# in_ring ADDR: debugfs records has a record of this address.
in_ring() { grep -q "addr=$(printf '0x%x' $(($1))) " /sys/kernel/debug/xen_mcelog/records; }

# 1. Before any consumer: stored untraced, kept.
PRE=$((0x42f00000))
check "2 corrected #MCs before the event has a consumer" test "$(inject $PRE 0 2)" = 0
stored_pre() { in_ring $PRE && in_ring $((PRE + 0x1000)); }
check "  both stored in the ring" wait_for 10 stored_pre
check "  untraced, waiting for a consumer (untraced_waiting 1)" test "$(stat_of untraced_waiting)" = 1

# 2. The event gets its consumer: the two are traced for it.
echo > $T/trace
echo 1 > $EV/enable
check "event enabled: a consumer (trace_consumer 1)" wait_for 5 sh -c "grep -qx 'trace_consumer 1' $STATS"
late() { [ "$(stat_of untraced_waiting)" = 0 ] && [ "$(stat_of traced_late)" -ge 2 ]; }
check "  the records stored before it are traced for it (traced_late >= 2)" wait_for 10 late
check "  dmesg says so" dmesg_has "had no consumer traced for its new consumer"

# 3. 40 errors into the 16-record ring, nobody reading the device.
N=40; BASE=$((0x42000000))
check "$N corrected #MC injections accepted" test "$(inject $BASE 0 $N)" = 0
sleep 3
cat $T/trace > /tmp/trace.txt
s=$(stats_now); echo "$s" | grep -E 'traced|backpress|overflow|ring_|acked|open_files|delivered' | sed 's/^/# stats: /'
i=0; missing=0
while [ $i -lt $N ]; do
    traced $((BASE + i * 0x1000)) || { missing=$((missing + 1)); diag "not traced: $(printf '0x%x' $((BASE + i * 0x1000)))"; }
    i=$((i + 1))
done
check "every one of the $N reached the trace (Xen dropped none)" test $missing -eq 0
check "  and the 2 stored before the consumer came" sh -c "grep -q 'ADDR: $(printf '%016x' $PRE),' /tmp/trace.txt"
check "  Xen's entries all acked: acked_urgent >= $((N + 2))" test "$(stat_in acked_urgent "$s")" -ge $((N + 2))
# Whether the drain waited is not the outcome (a record stored while the
# consumer attached counts as untraced until the next drain traces it, and
# may hold the ring for that long); that Xen's pool never filled is.
diag "backpressure $(stat_in backpressure "$s"), backpressured $(stat_in backpressured "$s")"
check "  Xen's pool never may have filled (overflow_xen_pool 0, flags 0x0)" \
    test "$(stat_in overflow_xen_pool "$s")/$(stat_in flags "$s")" = 0/0x0
dropped=$(stat_in traced_only_dropped "$s")
check "  traced records dropped to make room: traced_only_dropped $dropped >= $((N + 2 - 16))" test "$dropped" -ge $((N + 2 - 16))
check "  ring_popped counts them: $(stat_in ring_popped "$s") = $dropped (nobody read)" test "$(stat_in ring_popped "$s")" = "$dropped"
check "  the ring is full with the newest (ring_len 16, the last injected in it)" \
    sh -c "test '$(stat_in ring_len "$s")' = 16 && grep -q 'addr=$(printf '0x%x' $((BASE + (N - 1) * 0x1000))) ' /sys/kernel/debug/xen_mcelog/records"
check "  the oldest went first (the first injected is gone)" sh -c "! grep -q 'addr=$(printf '0x%x' $BASE) ' /sys/kernel/debug/xen_mcelog/records"

# 4. A file holds the device open: what is in the ring is kept for it.
# Until the open, a record Xen's poller reports late (a bank re-reported as a
# non-urgent entry) may still push a traced one out: the baseline is what
# the ring holds once the open is seen. The stats file is read under the
# drain's mutex, and a drain decides on dropping under it by the open count:
# after a read that shows open_files 1, no drain can drop any more.
xmc-test hold $DEV 30 > /tmp/hold.out &
hp=$!
check "a file holds the device open (open_files 1)" wait_for 5 sh -c "grep -qx 'open_files 1' $STATS"
dropped=$(stat_of traced_only_dropped)
sed -n 's/^seq=\([0-9]*\) .*/\1/p' /sys/kernel/debug/xen_mcelog/records > /tmp/held.seqs
M=8; BASE2=$((0x43000000))
check "$M more corrected #MCs while it is open" test "$(inject $BASE2 0 $M)" = 0
sleep 3
cat $T/trace > /tmp/trace.txt
s=$(stats_now); echo "$s" | grep -E 'traced_only|backpress|ring_len|open_files' | sed 's/^/# stats: /'
check "  nothing dropped while open (traced_only_dropped still $dropped)" test "$(stat_in traced_only_dropped "$s")" = "$dropped"
check "  the drain waits for the reader (backpressured 1), lossless" test "$(stat_in backpressured "$s")" = 1
sed -n 's/^seq=\([0-9]*\) .*/\1/p' /sys/kernel/debug/xen_mcelog/records > /tmp/held2.seqs
check "  the ring still holds the 16 it had (same seqs)" cmp -s /tmp/held.seqs /tmp/held2.seqs
# A reader (a second open) takes them: the 16 kept, then the 8 Xen kept.
xmc-test collect $DEV 0 6 --xen > /tmp/r
n=$(grep -c '^rec ' /tmp/r); diag "read $n records"
bad=0
for q in $(cat /tmp/held.seqs); do grep -q " seq=$q " /tmp/r || bad=$((bad + 1)); done
check "  the reader got every record the ring held at the open ($bad missing)" test $bad -eq 0
missing=$(not_read /tmp/r $BASE2 $M)
check "  and all $M stored while it was open ($missing missing)" test $missing -eq 0
check "  MCE_OVERFLOW still clear" test "$(stat_of flags)" = 0x0
kill $hp 2>/dev/null; wait $hp 2>/dev/null
check "closed again (open_files 0)" wait_for 5 sh -c "grep -qx 'open_files 0' $STATS"

echo 0 > $EV/enable
check "rmmod xen_mcelog" rmmod xen_mcelog

# 5. The default (drop_traced=0): a consumer of the event, nobody reading,
# and a full ring keeps everything; the drain waits and Xen keeps the rest.
check "drop_traced=2 is refused (EINVAL)" sh -c '! modprobe xen_mcelog drop_traced=2'
check "modprobe xen_mcelog ring_size=16 drain_period_ms=0 (drop_traced default 0)" \
    modprobe xen_mcelog ring_size=16 drain_period_ms=0
echo 1 > $EV/enable
K=20; BASE3=$((0x44000000))
check "$K corrected #MCs, the event enabled, nobody reading" test "$(inject $BASE3 0 $K)" = 0
# Nobody reads and no periodic drain runs: once full and waiting, the ring
# stays so (a late re-report only makes the drain wait again), and a drop
# would stay counted.
kept() { [ "$(stat_of traced_only_dropped)/$(stat_of ring_len)/$(stat_of backpressured)" = 0/16/1 ]; }
check "  nothing dropped (traced_only_dropped 0), the ring full (ring_len 16), the drain waits" wait_for 10 kept
stats_now | grep -E 'traced_only|backpress|ring_len' | sed 's/^/# stats: /'
xmc-test collect $DEV 0 6 --xen > /tmp/r
missing=$(not_read /tmp/r $BASE3 $K)
check "  a reader gets all $K ($missing missing)" test $missing -eq 0
echo 0 > $EV/enable
check "rmmod xen_mcelog" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops" no_warnings
