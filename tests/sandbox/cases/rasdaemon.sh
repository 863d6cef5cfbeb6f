# rasdaemon in Xen dom0 (Debian's rasdaemon 0.8.4 source, built with
# --enable-all in the build root by tests/rasdaemon.sh, bundled with its
# libraries): unpatched, it listens to mce:mce_record, which never fires in a
# Xen dom0, and logs and stores nothing for an injected machine check (the
# gap). With tools/rasdaemon/0001-xen-mcelog-tracepoint.patch it also
# subscribes to xen_mcelog:xen_mce_record and decodes, logs and stores the
# record in its sqlite database like a native one.
B=/bin/rasdaemon-dom0.tar
if [ ! -f $B ]; then
    fail "rasdaemon bundle missing from the initramfs (run tests/rasdaemon.sh, then rebuild it)"
    return 0 2>/dev/null || exit 0
fi
tar -xf $B -C /
check "rasdaemon bundle unpacked" test -x /usr/sbin/rasdaemon-xen -a -x /usr/sbin/rasdaemon-orig
[ -d /sys/kernel/debug/tracing/events ] || mount -t tracefs tracefs /sys/kernel/debug/tracing 2>/dev/null
modprobe xen-privcmd
wait_for 5 test -c /dev/xen/privcmd
lsmod | grep -q '^xen_mcelog ' || modprobe xen_mcelog
check "xen_mcelog loaded" wait_for 5 test -c $DEV
PATH=$PATH:/usr/sbin:/usr/bin
DB=/var/lib/rasdaemon/ras-mc_event.db
mkdir -p /var/lib/rasdaemon
q() { /usr/bin/sqlite3 $DB "$1" 2>&1; }
# rasdaemon 0.8.4 finds tracing under debugfs; the kernel's automount of
# debugfs/tracing prints a deprecation NOTICE (rasdaemon's, not ours): the
# same scan as lib.sh's no_warnings without that line.
no_warnings_but_automount() {
    m=$(dmesg | grep -v 'Automounting of tracing to debugfs is deprecated' |
        grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|RIP:|Flags mismatch|deprecated|UBSAN:|kmemleak: .* new suspected')
    [ -z "$m" ] && return 0
    echo "$m" | head -20 | sed 's/^/# dmesg: /'
    return 1
}
# An event line as rasdaemon prints it: "... <timestamp> mce_record <decoded>".
EVLINE='[0-9] +(xen_)?mce_record |status= '
mce_logged() { grep -E "$EVLINE" "$1" | sed 's/^/# matched: /'; grep -qE "$EVLINE" "$1"; }
# start NAME: rasdaemon-NAME in the foreground, recording, log in /tmp/NAME.log
start() {
    /usr/sbin/rasdaemon-$1 -f -r > /tmp/$1.log 2>&1 &
    RAS_PID=$!
    wait_for 30 grep -q 'Listening to events' /tmp/$1.log
}
stop() { kill "$RAS_PID"; wait "$RAS_PID" 2>/dev/null; }

# 1. unpatched
rm -f $DB
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
n=$(q "select count(*) from mce_record"); diag "orig db mce_record rows: $n"
check "  unpatched rasdaemon stored nothing (mce_record rows: $n)" test "$n" = 0

# 2. patched
rm -f $DB
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
stored() { [ "$(q "select count(*) from mce_record where bank=4")" -ge 1 ]; }
check "  stored in its sqlite database" wait_for 10 stored
row=$(q "select bank, printf('%x', status), printf('%x', addr), printf('%x', misc), mcgstatus, cpu, cpuvendor, printf('%x', cpuid), error_msg from mce_record where bank=4 limit 1")
diag "sqlite3: $row"
check "  row: bank 4, status, addr, misc, mcgstatus 5, cpu 0, Intel, cpuid 506e3" \
    contains "$row" "4|9c0000000000017a|22000000|86|5|0|0|506e3|"
stop
xmc-test collect $DEV 1 5 > /dev/null
check "rmmod xen_mcelog" rmmod xen_mcelog
check "dmesg has no WARNING/BUG/Oops (but rasdaemon's automount notice)" no_warnings_but_automount
