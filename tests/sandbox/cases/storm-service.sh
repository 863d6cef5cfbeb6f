# The service a Debian dom0 runs, under a corrected-error storm (make bench,
# not make check): the same storm, in the same boot, through
#   ours      xen-mcelog-dump --follow --json --retire CONF --prometheus F
#             (action = dry-run: nothing is offlined), stdout to a file;
#   rasdaemon our patched rasdaemon-xen 0.8.4 (sqlite), the only consumer
#             of the xen_mcelog:xen_mce_record tracepoint,
# one after the other. The storm: corrected memory-controller errors
# (status 0x9c0000000000009f, misc 0x86: what page retirement counts),
# each raised with its #MC (xmc-inject corrected --mce) as fast as the
# injector goes, a distinct address each, over PAGES pages (a new 64-byte
# line of a page each time round), alternating CPUs. Xen's poller reports
# a corrected #MC bank once more a few seconds later: "records" counts
# those too, "distinct" the injected errors among them.
# Prints per consumer
#   BENCH-SVC consumer=.. injected=.. inject_s=.. records=.. distinct=..
#     lost=.. busy_s=.. cpu_ticks=.. clk_tck=.. state_writes=.. stored=..
# busy_s: from the first injection to the last record the consumer had
# (records/s = records / busy_s); cpu_ticks: utime + stime of the consumer's
# process (all its threads) over that time, /proc/PID/stat fields 14 and 15
# (proc(5)), in clock ticks of clk_tck a second; state_writes: ours, the
# state file's writes (xen_mcelog_retire_state_writes_total in the textfile
# after SIGTERM, the stop's own write included); stored: records the module
# stored meanwhile (debugfs stats), all of which a consumer should get.
# The dom0 has no journald: lines lost to journald are measured elsewhere
# (tests/system/journal-storm.sh).
# Knobs on the dom0 command line: xmc.svc_storm=N (injections per consumer,
# default 1000), xmc.svc_pages=P (default 64; N <= 64 * P), xmc.ring_size.
modprobe xen-privcmd
wait_for 5 test -c /dev/xen/privcmd
rs=$(arg ring_size)
lsmod | grep -q '^xen_mcelog ' || check "modprobe xen_mcelog ${rs:+ring_size=$rs}" modprobe xen_mcelog ${rs:+ring_size=$rs}
check "xen_mcelog loaded" wait_for 5 test -c "$DEV"
# shellcheck disable=SC2317 # (exit: when run alone, not sourced)
ras_unpack || { return 0 2>/dev/null || exit 0; }
SVC_N=$(arg svc_storm); SVC_N=${SVC_N:-1000}
SVC_P=$(arg svc_pages); SVC_P=${SVC_P:-64}
# USER_HZ, the unit of /proc/PID/stat's times (100 on x86; getconf when
# busybox has it).
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
W=/tmp/svc; rm -rf $W; mkdir -p $W

# cpu_ticks PID: utime + stime of the whole process (proc(5): fields 14, 15;
# the command name in field 2 may hold spaces, so count after its ')').
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# now_cs: monotonic time in centiseconds (/proc/uptime).
now_cs() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }
# storm BASE: SVC_N corrected memory errors at BASE + page * 4096 + line * 64.
storm() {
    _i=0; _inj=0
    while [ $_i -lt "$SVC_N" ]; do
        _a=$(printf '0x%x' $(($1 + (_i % SVC_P) * 0x1000 + (_i / SVC_P) * 0x40)))
        xmc-inject corrected --cpu $((_i % 2)) --bank 1 --addr "$_a" --status 0x9c0000000000009f \
            --misc 0x86 --mce > /dev/null 2>&1 && _inj=$((_inj + 1))
        _i=$((_i + 1))
    done
    echo $_inj
}
# in_storm BASE: the addresses (one a line, 0x...) of this storm's errors.
in_storm() {
    while read -r _a; do
        case $_a in 0x[0-9a-f]*) ;; *) continue ;; esac
        _v=$((_a - $1))
        [ $_v -ge 0 ] && [ $_v -lt $((SVC_P * 4096)) ] && echo "$_a"
    done
}
# settle COUNT_CMD: waits until COUNT_CMD's number has not grown for 12 s
# (Xen's poller re-reports within 2-16 s; at most 120 s); sets SETTLED_CS to
# the time it last grew.
settle() {
    _last=-1; _still=0; _left=240
    while [ $_left -gt 0 ] && [ $_still -lt 24 ]; do
        _c=$("$@")
        if [ "$_c" != "$_last" ]; then _last=$_c; _still=0; SETTLED_CS=$(now_cs); else _still=$((_still + 1)); fi
        sleep 0.5; _left=$((_left - 1))
    done
}
# report CONSUMER BASE INJ T0 CPU0 CPU1 ALL ADDRS_FILE WRITES STORED0: one
# BENCH-SVC line; records = this storm's records the consumer had (its
# errors and their re-reports; ALL: every record it had, late re-reports of
# earlier injections too).
report() {
    _r=$(in_storm "$2" < "$8" | wc -l)
    _u=$(in_storm "$2" < "$8" | sort -u | wc -l)
    _busy=$(awk -v a="$4" -v b="$SETTLED_CS" 'BEGIN { printf "%.2f", (b - a) / 100 }')
    echo "# BENCH-SVC consumer=$1 injected=$3 inject_s=$SVC_INJ_S records=$_r all=$7 distinct=$_u" \
        "lost=$(($3 - _u)) busy_s=$_busy cpu_ticks=$(($6 - $5)) clk_tck=$CLK_TCK state_writes=$9" \
        "stored=$(($(stat_of stored) - ${10}))"
}

# --- ours -------------------------------------------------------------------
base=$((0x48000000))
cat > $W/retire.conf <<EOF
action = dry-run
memory-ce-threshold = 10 / 24h
state-file = $W/retire.state
EOF
xen-mcelog-dump --follow --json --retire $W/retire.conf --prometheus $W/x.prom > $W/ours.json 2> $W/ours.err &
opid=$!
check "ours: xen-mcelog-dump --follow --json --retire (dry-run) --prometheus runs" \
    wait_for 10 test -s $W/x.prom
st0=$(stat_of stored); c0=$(cpu_ticks $opid); t0=$(now_cs)
inj=$(storm $base)
SVC_INJ_S=$(awk -v a="$t0" -v b="$(now_cs)" 'BEGIN { printf "%.2f", (b - a) / 100 }')
ours_n() { wc -l < $W/ours.json; }
settle ours_n
c1=$(cpu_ticks $opid)
kill -TERM $opid; wait $opid; rc=$?
check "ours: SIGTERM ends it with status 0" test $rc = 0
grep -o '"addr":"0x[0-9a-f]*"' $W/ours.json | sed 's/.*"\(0x[0-9a-f]*\)"/\1/' > $W/ours.addrs
sw=$(sed -n 's/^xen_mcelog_retire_state_writes_total \([0-9]*\)$/\1/p' $W/x.prom)
grep -E '^xen_mcelog_retire_(pages|state_writes|errors)' $W/x.prom | sed 's/^/# ours prom: /'
grep -c 'retire: ' $W/ours.err | sed 's/^/# ours: retire lines on stderr: /'
grep -v 'corrected memory error at' $W/ours.err | tail -5 | sed 's/^/# ours stderr: /'
report ours "$base" "$inj" "$t0" "$c0" "$c1" "$(ours_n)" $W/ours.addrs "${sw:-na}" "$st0"
check "ours: the storm ran ($inj of $SVC_N injected, JSON lines printed)" \
    test "$inj" -gt 0 -a -s $W/ours.json

# --- rasdaemon --------------------------------------------------------------
# The device is read (and discarded) meanwhile, as the JSON reader did, so
# both runs see the same module: with nobody holding the device open the
# drain would instead drop records already traced to make room (docs/rasdaemon.md;
# cases/traceonly.sh).
base=$((0x58000000))
( while [ ! -e $W/stop ]; do dd if="$DEV" of=/dev/null bs=131072 count=1 2>/dev/null; sleep 0.05; done ) &
dpid=$!
rm -f "$RAS_DB"
check "rasdaemon-xen starts (sqlite)" ras_start xen
st0=$(stat_of stored); c0=$(cpu_ticks "$RAS_PID"); t0=$(now_cs)
inj=$(storm $base)
SVC_INJ_S=$(awk -v a="$t0" -v b="$(now_cs)" 'BEGIN { printf "%.2f", (b - a) / 100 }')
ras_n() { ras_q "select count(*) from mce_record" | tr -dc 0-9; }
settle ras_n
c1=$(cpu_ticks "$RAS_PID")
ras_q "select printf('0x%x', addr) from mce_record" > $W/ras.addrs
rows=$(ras_n)
ras_stop
touch $W/stop; wait $dpid; rm -f $W/stop
report rasdaemon "$base" "$inj" "$t0" "$c0" "$c1" "$rows" $W/ras.addrs na "$st0"
check "rasdaemon: the storm ran ($inj of $SVC_N injected, rows stored)" test "$inj" -gt 0 -a "${rows:-0}" -gt 0
check "no WARNING/BUG (but rasdaemon's automount notice)" no_warnings_but_automount
