# Latency benchmark (make bench, not make check): in-dom0 injection of a
# corrected #MC (xmc-inject's hypercalls, alternating CPUs, distinct
# addresses) to the wake-up of a reader waiting in poll(2) that then reads
# the record, against whichever driver this boot runs: ours (/dev/xen_mcelog)
# or the built-in C driver (/dev/mcelog). The clock is stamped before and
# after the #MC hypercall (it returns once Xen's handler ran on every CPU).
# xmc.events=N on the dom0 command line sets the count (default 120).
# Prints "BENCH-LAT driver=.. events=.. missed=.. <name>_{min,median,p99,max}_us=..".
modprobe xen-privcmd
if [ -c /dev/mcelog ]; then
    drv=c-driver; dev=/dev/mcelog
else
    drv=xen_mcelog; dev=$DEV
    check "modprobe xen_mcelog" modprobe xen_mcelog
fi
n=$(arg events); n=${n:-120}
xmc-test latency $dev "$n" > /tmp/lat 2>&1
sed -n 's/^lat /# lat /p' /tmp/lat
l=$(grep '^events=' /tmp/lat)
echo "# BENCH-LAT driver=$drv $l"
check "latency: $n events measured on $drv" test -n "$l" -a "$(kv events "$l")" = "$n"
check "  every event's record reached the poll-waiting reader ($(kv missed "$l") missed)" test "$(kv missed "$l")" = 0
