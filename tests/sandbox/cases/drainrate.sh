# Drain-rate benchmark (make bench, not make check; ours only): Xen's
# telemetry queues are filled while nothing drains them (module not loaded,
# the C driver blacklisted), then modprobe: the load-time drain fetches,
# converts, stores and acks everything queued. The module's debugfs `stats`
# time every drain that stored records (drain_peak_records/_ns: the biggest).
# Prints "BENCH-DRAIN round=.. records=.. ns=.. runs=.. total_records=.. total_ns=..".
modprobe xen-privcmd
rounds=$(arg rounds); rounds=${rounds:-5}
r=0; good=0
while [ $r -lt $rounds ]; do
    # 40 corrected #MC errors: more than Xen's pool of 30 holds.
    i=0; while [ $i -lt 40 ]; do
        xmc-inject corrected --cpu $((i % 2)) --bank 1 --addr $((0x60000000 + r * 0x100000 + i * 0x1000)) --mce > /dev/null 2>&1
        i=$((i + 1))
    done
    sleep 1
    modprobe xen_mcelog drain_period_ms=0
    # (a function: `wait_for 10 test "$(stat_of ..)"` would test one value)
    drained() { [ "$(stat_of drain_runs)" -ge 1 ]; }
    wait_for 10 drained
    sleep 1
    # One stats snapshot for the whole line: Xen's poller may make the
    # module drain again (a re-report of an injected bank) between reads.
    s=$(stats_now)
    echo "# BENCH-DRAIN round=$r records=$(stat_in drain_peak_records "$s") ns=$(stat_in drain_peak_ns "$s") runs=$(stat_in drain_runs "$s") total_records=$(stat_in drain_records "$s") total_ns=$(stat_in drain_ns "$s") acked_urgent=$(stat_in acked_urgent "$s") acked_nonurgent=$(stat_in acked_nonurgent "$s") backpressure=$(stat_in backpressure "$s")"
    [ "$(stat_in drain_peak_records "$s")" -ge 30 ] && good=$((good + 1))
    cat $DEV > /dev/null
    rmmod xen_mcelog
    r=$((r + 1))
done
check "drain rate measured in $rounds rounds; $good with Xen's queues full (>= 30 records in one drain)" test $good -ge 1
