# Storm benchmark (make bench, not make check): bursts of injected corrected
# #MC errors, each with a distinct address, against whichever driver this boot
# runs: ours (/dev/xen_mcelog, modprobed here) or the built-in C driver
# (/dev/mcelog, 112-byte records, 32 slots). Readers either keep up (a
# background reader from the start) or stall until the burst is over.
# Prints "BENCH driver=.. burst=.. reader=.. injected=.. delivered=.. unique=..
# overflow=.. stored=.. backpressure=..": overflow is the device's MCE_OVERFLOW
# flag after the burst (C driver: it acked and dropped records; ours: it left
# entries in Xen's pool, which then drops new telemetry); stored and
# backpressure (ours only, debugfs) say whether the driver lost anything it
# had taken from Xen (stored = delivered) or Xen's pool did.
modprobe xen-privcmd
if [ -c /dev/mcelog ]; then
    drv=c-driver; dev=/dev/mcelog; rl=112
else
    # xmc.ring_size=N on the dom0 command line: load with that ring.
    rs=$(arg ring_size)
    drv=xen_mcelog${rs:+/ring_size=$rs}; dev=$DEV; rl=128
    check "modprobe xen_mcelog ${rs:+ring_size=$rs}" modprobe xen_mcelog ${rs:+ring_size=$rs}
fi
# read_all FILE: append everything the device has now (whole records).
read_all() { dd if=$dev bs=$((rl * 1024)) count=1 2>/dev/null >> "$1"; }
addrs_of() { # FILE -> one address per record (offset 16, u64)
    n=$(( $(wc -c < "$1") / rl )); i=0
    while [ $i -lt $n ]; do od -A n -t x8 -j $((i * rl + 16)) -N 8 "$1" | tr -d ' '; i=$((i + 1)); done
}
base=$((0x40000000))
# xmc.bursts=10,30 on the dom0 command line picks the bursts.
bursts=$(arg bursts | tr , ' ')
for burst in ${bursts:-10 30 100 1000}; do
    # xmc.readers=stalled (or keeping-up) picks the readers.
    readers=$(arg readers | tr , ' ')
    for reader in ${readers:-keeping-up stalled}; do
        : > /tmp/out
        read_all /tmp/junk; rm -f /tmp/junk
        xmc-test ioctls $dev > /dev/null   # clears the overflow flag
        # Counters from one stats snapshot (ours; empty for the C driver).
        # Xen's poller may store a re-report of an earlier burst's bank at
        # any moment (after the read above too): a record in the ring at
        # the snapshot is read into /tmp/out below, so it counts as stored.
        s0=$(stats_now); st0=$(stat_in stored "$s0"); bp0=$(stat_in backpressure "$s0"); len0=$(stat_in ring_len "$s0")
        if [ $reader = keeping-up ]; then
            ( while [ ! -e /tmp/stop ]; do read_all /tmp/out; sleep 0.05; done ) &
            rp=$!
        fi
        i=0; inj=0
        while [ $i -lt $burst ]; do
            a=$(printf '0x%x' $((base + i * 0x1000)))
            xmc-inject corrected --cpu $((i % 2)) --bank 1 --addr $a --mce > /dev/null 2>&1 && inj=$((inj + 1))
            i=$((i + 1))
        done
        sleep 8   # let Xen's softirq and the drivers' drains finish
        if [ $reader = keeping-up ]; then touch /tmp/stop; wait $rp; rm -f /tmp/stop; fi
        ov=$(kv flags "$(xmc-test ioctls $dev)")
        # A stalled reader (and the final sweep) reads until the device is empty.
        k=0; while [ $k -lt 40 ]; do s=$(wc -c < /tmp/out); read_all /tmp/out; [ "$(wc -c < /tmp/out)" = "$s" ] && break; k=$((k + 1)); sleep 0.2; done
        addrs_of /tmp/out | grep -v '^$' > /tmp/addrs
        d=$(wc -l < /tmp/addrs)
        # count only this burst's addresses (Xen's poller may re-report a bank)
        u=$(while read -r a; do v=$((0x$a - base))
                if [ $v -ge 0 ] && [ $v -lt $((burst * 4096)) ] && [ $((v % 4096)) -eq 0 ]; then echo $a; fi
            done < /tmp/addrs | sort -u | wc -l)
        # stored: what the driver took from Xen and put in the ring since the
        # first snapshot, plus what was in it then, less what is in it now
        # (stored after the final sweep, never read): one snapshot each, so
        # stored = delivered exactly when nothing taken from Xen was lost.
        st=na; bp=na
        if [ "$st0" != na ]; then
            s1=$(stats_now)
            st=$(($(stat_in stored "$s1") - st0 + len0 - $(stat_in ring_len "$s1")))
            bp=$(($(stat_in backpressure "$s1") - bp0))
        fi
        echo "# BENCH driver=$drv burst=$burst reader=$reader injected=$inj delivered=$d unique=$u overflow=$ov stored=$st backpressure=$bp"
        base=$((base + 0x1000000))
    done
done
ok "storm benchmark ran ($drv)"
