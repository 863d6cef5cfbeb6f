# TAP helpers for the sandbox cases; runs the case files given as arguments.
# ok/fail print one TAP line each; `check DESC CMD...` runs CMD and reports it.
XMC_N=0
XMC_FAILED=0
ok()   { XMC_N=$((XMC_N + 1)); echo "ok $XMC_N - $*"; }
fail() { XMC_N=$((XMC_N + 1)); XMC_FAILED=$((XMC_FAILED + 1)); echo "not ok $XMC_N - $*"; }
check() { d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
# diag lines are shown by the harness but do not count.
diag() { echo "$*" | sed 's/^/# /'; }
# host asks the harness to act outside the VM (QEMU monitor), e.g. `host mce 0 1 ...`.
host() { echo "XMC-HOST $*"; }
# wait_for SECONDS CMD...: retry CMD every 0.5 s until it succeeds.
wait_for() {
    t=$(($1 * 2)); shift
    while [ $t -gt 0 ]; do "$@" && return 0; sleep 0.5; t=$((t - 1)); done
    return 1
}
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
DEV=/dev/xen_mcelog
for case_file in "$@"; do
    if [ -f "$case_file" ]; then
        echo "# --- $(basename "$case_file" .sh)"
        . "$case_file"
    else
        fail "no such case: $case_file"
    fi
done
echo "1..$XMC_N"
