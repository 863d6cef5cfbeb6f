# rasdaemon in Xen dom0 (Debian's rasdaemon 0.8.4 source, built with
# --enable-all in the build root by tests/build/rasdaemon.sh, bundled with its
# libraries): unpatched, it listens to mce:mce_record, which never fires in a
# Xen dom0, and logs and stores nothing for an injected machine check (the
# gap). With tools/rasdaemon/0001-xen-mcelog-tracepoint.patch it also
# subscribes to xen_mcelog:xen_mce_record and decodes, logs and stores the
# record in its sqlite database like a native one.
ras_unpack || { return 0 2>/dev/null || exit 0; }
modprobe xen-privcmd
wait_for 5 test -c /dev/xen/privcmd
lsmod | grep -q '^xen_mcelog ' || modprobe xen_mcelog
check "xen_mcelog loaded" wait_for 5 test -c $DEV
# An event line as rasdaemon prints it: "... <timestamp> mce_record <decoded>".
EVLINE='[0-9] +(xen_)?mce_record |status= '
mce_logged() { grep -E "$EVLINE" "$1" | sed 's/^/# matched: /'; grep -qE "$EVLINE" "$1"; }
start() { ras_start "$@"; }
stop() { ras_stop; }

# 1. unpatched
rm -f $RAS_DB
check "unpatched rasdaemon starts" start orig
grep -E 'Enabled event|not exist|Listening' /tmp/orig.log | sed 's/^/# orig: /'
check "  it subscribes to mce:mce_record" grep -q 'Enabled event mce:mce_record' /tmp/orig.log
check "  it does not know xen_mcelog:xen_mce_record" \
    sh -c "! grep -q xen_mce_record /tmp/orig.log"
out=$(xmc-inject corrected --cpu 0 --bank 3 --addr 0x21000000 --mce 2>&1); diag "$out"
check "corrected #MC (bank 3, 0x21000000) accepted" contains "$out" "mceinject rc=0"
# Read until it is there: Xen's poller may first deliver a late re-report of
# the trace case's bank (collect would stop at that record).
check "  xen_mcelog has it (the error happened)" \
    collect_until /tmp/r1 20 status=0x9c0000000000017a addr=0x21000000 bank=3
sleep 3
stop
sed 's/^/# orig: /' /tmp/orig.log | tail -5
orig_silent() { ! mce_logged /tmp/orig.log; }
check "  unpatched rasdaemon logged no MCE event" orig_silent
n=$(ras_q "select count(*) from mce_record"); diag "orig db mce_record rows: $n"
check "  unpatched rasdaemon stored nothing (mce_record rows: $n)" test "$n" = 0

# 2. patched
rm -f $RAS_DB
check "patched rasdaemon starts" start xen
grep -E 'Enabled event|not exist|Listening' /tmp/xen.log | sed 's/^/# xen: /'
check "  it subscribes to xen_mcelog:xen_mce_record" \
    grep -q 'Enabled event xen_mcelog:xen_mce_record' /tmp/xen.log
out=$(xmc-inject corrected --cpu 0 --bank 4 --addr 0x22000000 --mce 2>&1); diag "$out"
check "corrected #MC (bank 4, 0x22000000) accepted" contains "$out" "mceinject rc=0"
logged() { grep -qE '[0-9] +xen_mce_record .*addr= 22000000' /tmp/xen.log; }
check "  patched rasdaemon logs the record (a xen_mce_record event line)" wait_for 20 logged
grep -E '[0-9] +xen_mce_record ' /tmp/xen.log | sed 's/^/# xen: /'
l=$(grep -E '[0-9] +xen_mce_record ' /tmp/xen.log | grep 'addr= 22000000' | head -1)
check "  logged: status 9c0000000000017a, addr 22000000" contains "$l" "status= 9c0000000000017a"
check "  decoded as a corrected error" sh -c "echo \"\$1\" | grep -qi corrected" _ "$l"
stored() { [ "$(ras_q "select count(*) from mce_record where bank=4")" -ge 1 ]; }
check "  stored in its sqlite database" wait_for 10 stored
row=$(ras_q "select bank, printf('%x', status), printf('%x', addr), printf('%x', misc), mcgstatus, cpu, cpuvendor, printf('%x', cpuid), error_msg from mce_record where bank=4 limit 1")
diag "sqlite3: $row"
check "  row: bank 4, status, addr, misc, mcgstatus 5, cpu 0, Intel, cpuid 506e3" \
    contains "$row" "4|9c0000000000017a|22000000|86|5|0|0|506e3|"
stop

# 3. Debian's unit runs "rasdaemon --enable" (ExecStartPost) beside the daemon
# (ExecStart). When --enable comes first, the event gets its consumer before
# the daemon selects its clock, and the module at once traces the records
# stored while the event had none. Writing trace_clock resets the buffer:
# before tools/rasdaemon/0002-*.patch the daemon wiped those records. Here
# that order is made certain: a fresh instance, a record stored with no
# consumer, --enable, the module's trace, and only then the daemon. Xen's
# poller may report the injected bank again (a second record, traced when
# it comes): the daemon must log every record the module holds for 0x23000000.
T=/sys/kernel/debug/tracing
/usr/sbin/rasdaemon-xen --disable > /dev/null 2>&1
check "rasdaemon --disable (the unit's ExecStop); its instance removed" rmdir $T/instances/rasdaemon
rm -f $RAS_DB
before=$(dmesg | grep -c 'had no consumer traced for its new consumer')
out=$(xmc-inject corrected --cpu 0 --bank 5 --addr 0x23000000 --mce 2>&1); diag "$out"
check "corrected #MC (bank 5, 0x23000000) accepted" contains "$out" "mceinject rc=0"
held() { grep -c 'addr=0x23000000' /sys/kernel/debug/xen_mcelog/records; }
inring() { [ "$(held)" -ge 1 ]; }
check "  xen_mcelog stored it (debugfs records), with no consumer to trace it to" wait_for 20 inring
check "rasdaemon --enable first (ExecStartPost winning the race)" /usr/sbin/rasdaemon-xen --enable
retraced() { [ "$(dmesg | grep -c 'had no consumer traced for its new consumer')" -gt "$before" ]; }
check "  the module traced the record for that new consumer (dmesg)" wait_for 10 retraced
dmesg | grep 'had no consumer traced' | tail -1 | sed 's/^/# dmesg: /'
grep -o '\[[a-z0-9-]*\]' $T/instances/rasdaemon/trace_clock | sed 's/^/# trace_clock after --enable: /'
check "then the daemon starts" start xen
logged3() { grep -cE '[0-9] +xen_mce_record .*addr= 23000000' /tmp/xen.log; }
all_logged() { [ "$(logged3)" -ge 1 ] && [ "$(logged3)" -eq "$(held)" ]; }
check "  it logs every record of 0x23000000, those traced before it started too" wait_for 20 all_logged
diag "records of 0x23000000: $(held) held by xen_mcelog, $(logged3) logged by rasdaemon"
stored3() { [ "$(ras_q "select count(*) from mce_record where addr = $((0x23000000))")" -eq "$(held)" ]; }
check "  and stores each in its sqlite database" wait_for 10 stored3
stop
xmc-test collect $DEV 1 5 > /dev/null
check "rmmod xen_mcelog" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops (but rasdaemon's automount notice)" no_warnings_but_automount
