# Helpers for the sandbox cases; runs the case files given as arguments.
# The TAP functions (ok, fail, skip, check, wait_for, diag, host) are the
# shared library's, tests/lib/tap.sh, which mkinitrd.sh puts at
# /lib/xmc/tap.sh.
. /lib/xmc/tap.sh
dmesg_has() { dmesg | grep -q -- "$1"; }
# contains HAYSTACK NEEDLE
contains() { case "$1" in *"$2"*) return 0 ;; esac; return 1; }
# no_warnings: dmesg is free of kernel warnings and crashes (offenders shown).
no_warnings() {
    m=$(dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|RIP:|Flags mismatch|deprecated|UBSAN:|kmemleak: .* new suspected')
    [ -z "$m" ] && return 0
    echo "$m" | head -20 | sed 's/^/# dmesg: /'
    return 1
}
# kv KEY LINE: the value of KEY=value in LINE.
kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
# recs_matching FILE PATTERN...: count `rec` lines containing every PATTERN.
recs_matching() {
    f=$1; shift; n=$(grep '^rec ' "$f" | while read -r l; do
        m=1; for p in "$@"; do contains "$l " "$p " || m=0; done; [ $m = 1 ] && echo x; done | wc -l)
    echo "$n"
}
# arg NAME: the value of xmc.NAME=... on the dom0 command line (empty if absent).
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^xmc\.$1=//p" | head -1; }
# stat_of KEY: KEY's value in the module's debugfs stats, "na" when not loaded.
STATS=/sys/kernel/debug/xen_mcelog/stats
stat_of() { if [ -r $STATS ]; then sed -n "s/^$1 //p" $STATS; else echo na; fi; }
# Each open of a debugfs view renders a new snapshot, and Xen's poller may
# store a record between two opens (it re-reports a corrected #MC bank at any
# later moment): values compared with each other come from ONE snapshot.
# stats_now: the whole stats view, once (empty when not loaded);
# stat_in KEY SNAPSHOT: KEY's value in it ("na" when SNAPSHOT is empty).
stats_now() { if [ -r $STATS ]; then cat $STATS; fi; }
stat_in() { if [ -n "$2" ]; then echo "$2" | sed -n "s/^$1 //p"; else echo na; fi; }
DEV=/dev/xen_mcelog
# collect_until FILE SECONDS PATTERN...: read the device's records into FILE
# (emptied first) until one matches every PATTERN (recs_matching); fails after
# about SECONDS without one. Records of earlier injections may come first or
# in between (Xen's poller re-reports an interposed bank at any time): a
# record is picked by what was injected, never by its position. With
# XMC_COLLECT_XEN set, each record says its Xen queue (urgent=0|1, --xen).
collect_until() {
    _cu_f=$1 _cu_left=$2; shift 2; : > "$_cu_f"
    while [ "$_cu_left" -gt 0 ]; do
        xmc-test collect $DEV 1 2 ${XMC_COLLECT_XEN:+--xen} >> "$_cu_f"
        [ "$(recs_matching "$_cu_f" "$@")" -ge 1 ] && return 0
        _cu_left=$((_cu_left - 2))
    done
    return 1
}
# quiesce_xen: returns once Xen can no longer report again any bank injected
# before the call (module and xen-privcmd loaded); every record read until
# then is discarded (kept in /tmp/quiesce). Xen's #MC handler leaves a
# corrected bank interposed; its poller (every 2-16 s on Intel) reports it
# again and only then clears it, and every later #MC reports it again too.
# A marker (a corrected error, no #MC) is interposed in the highest bank (9
# of QEMU's 10) of every CPU: the poller pass that reports a CPU's marker
# reports and clears every valid bank of that CPU in the same entry, lower
# banks first (mcheck_mca_logout); the module stores an entry's records
# together and in order, and the device gives records oldest first. So once
# every marker was read, every such report was read before it, and none is
# left to come. Markers have addresses of their own per call.
XMC_QN=0
quiesce_xen() {
    XMC_QN=$((XMC_QN + 1)); : > /tmp/quiesce
    _q_n=$(dmesg | sed -n 's/.*xen_mcelog: Xen reports \([0-9]*\) physical CPUs.*/\1/p' | tail -1)
    _q_c=0
    while [ $_q_c -lt "${_q_n:-2}" ]; do
        xmc-inject msr --cpu $_q_c --interpose 9 0x9c0000000000017a \
            "$(printf '0x%x' $((0x13000000 + XMC_QN * 0x10000 + _q_c * 0x1000)))" 0x86 \
            > /tmp/quiesce.inj 2>&1 || { diag "quiesce_xen: $(cat /tmp/quiesce.inj)"; return 1; }
        _q_c=$((_q_c + 1))
    done
    _q_left=60
    while [ $_q_left -gt 0 ]; do
        xmc-test collect $DEV 1 2 >> /tmp/quiesce
        _q_c=0; _q_all=1
        while [ $_q_c -lt "${_q_n:-2}" ]; do
            [ "$(recs_matching /tmp/quiesce bank=9 extcpu=$_q_c \
                addr="$(printf '0x%x' $((0x13000000 + XMC_QN * 0x10000 + _q_c * 0x1000)))")" -ge 1 ] || _q_all=0
            _q_c=$((_q_c + 1))
        done
        [ $_q_all = 1 ] && return 0
        _q_left=$((_q_left - 2))
    done
    diag "quiesce_xen: the poller's markers did not arrive in 60 s"
    return 1
}
# rasdaemon (Debian's 0.8.4, unpatched "orig" and patched "xen", bundled by
# tests/build/rasdaemon.sh with sqlite3): ras_unpack, then ras_start NAME runs
# rasdaemon-NAME in the foreground, recording (log /tmp/NAME.log), until it
# listens; ras_stop ends it; ras_q SQL asks its database.
RAS_DB=/var/lib/rasdaemon/ras-mc_event.db
ras_unpack() {
    if [ ! -f /bin/rasdaemon-dom0.tar ]; then
        fail "rasdaemon bundle missing from the initramfs (run tests/build/rasdaemon.sh, then rebuild it)"
        return 1
    fi
    tar -xf /bin/rasdaemon-dom0.tar -C /
    check "rasdaemon bundle unpacked" test -x /usr/sbin/rasdaemon-xen -a -x /usr/sbin/rasdaemon-orig
    [ -d /sys/kernel/debug/tracing/events ] || mount -t tracefs tracefs /sys/kernel/debug/tracing 2>/dev/null
    PATH=$PATH:/usr/sbin:/usr/bin
    mkdir -p /var/lib/rasdaemon
}
ras_start() {
    /usr/sbin/rasdaemon-$1 -f -r > /tmp/$1.log 2>&1 &
    RAS_PID=$!
    wait_for 30 grep -q 'Listening to events' /tmp/$1.log
}
ras_stop() { kill "$RAS_PID"; wait "$RAS_PID" 2>/dev/null; }
ras_q() { /usr/bin/sqlite3 $RAS_DB "$1" 2>&1; }
# rasdaemon 0.8.4 finds tracing under debugfs; the kernel's automount of
# debugfs/tracing prints a deprecation NOTICE (rasdaemon's, not ours): the
# same scan as no_warnings without that line.
no_warnings_but_automount() {
    m=$(dmesg | grep -v 'Automounting of tracing to debugfs is deprecated' |
        grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|RIP:|Flags mismatch|deprecated|UBSAN:|kmemleak: .* new suspected')
    [ -z "$m" ] && return 0
    echo "$m" | head -20 | sed 's/^/# dmesg: /'
    return 1
}
for case_file in "$@"; do
    if [ -f "$case_file" ]; then
        echo "# --- $(basename "$case_file" .sh)"
        . "$case_file"
    else
        fail "no such case: $case_file"
    fi
done
tap_plan
