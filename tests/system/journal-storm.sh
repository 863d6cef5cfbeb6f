#!/bin/sh
# journal-storm.sh [N]: JSON lines lost to journald under a storm, on the
# check-system dom0 (Debian 13, systemd 257, the installed xen-mcelog-dump).
# xen-mcelog-dump --json reads a saved dump of N records (N x 128 bytes: it
# prints one JSON line each, as fast as journald takes them) as a transient
# service, three times:
#   default  no per-unit setting, journald.conf as shipped: RateLimitIntervalSec=30s,
#            RateLimitBurst=10000, the burst scaled by the space the journal
#            may still use (journald-rate-limit.c burst_modulate: x4 at 4 GiB). Whether
#            this loses lines depends on how fast journald takes them (the
#            producer blocks on journald's socket): on a fast host it does
#            (35000 of 100000 on 2026-12-02), under slower TCG it does not
#            (736 lines/s, 22000 a window: none lost, 2026-12-03). Measured,
#            not asserted.
#   strict   a journald.conf drop-in of RateLimitIntervalSec=60s and
#            RateLimitBurst=100 (an admin's stricter setting), no per-unit
#            setting: at most 100 x 12 (the largest scaling) lines a minute get
#            in, so a storm of N lines loses some at any rate above 20 a
#            second: the journald limit is really in force;
#   unit     the same strict journald.conf, plus what xen-mcelog-json.service
#            sets (LogRateLimitIntervalSec=, LogRateLimitBurst= read from the
#            installed unit): the unit's own setting overrides journald's,
#            so nothing may be lost.
# journald is restarted for the drop-in and again after it is removed.
# Prints per run
#   BENCH-JOURNAL limit=.. records=N lines=.. lost=.. secs=.. lines_per_s=..
#     journald_cpu_ticks=.. clk_tck=.. suppressed=..
# secs: from the start of the service to journald having written the last
# line (journalctl --sync); journald_cpu_ticks: utime + stime of
# systemd-journald meanwhile (proc(5) /proc/PID/stat fields 14, 15);
# suppressed: journald's own "Suppressed N messages" count for the unit.
# Exit status 1 when the unit's setting lost a line, 3 when the strict
# journald.conf lost none (the limit was not in force: the unit's run proves
# nothing then).
set -u
N=${1:-100000}
DUMP=$(command -v xen-mcelog-dump) || { echo "xen-mcelog-dump not installed"; exit 2; }
# The packaged unit itself (it may be masked when this runs).
UNIT=/usr/lib/systemd/system/xen-mcelog-json.service
f=/var/tmp/journal-storm.bin
head -c $((N * 128)) /dev/zero > $f
clk=$(getconf CLK_TCK)
STRICT=/etc/systemd/journald.conf.d/zz-xmc-journal-storm.conf
# journald CONF: journald restarted with the strict drop-in (strict) or
# without it (shipped).
journald() {
    if [ "$1" = strict ]; then
        mkdir -p "${STRICT%/*}"
        printf '[Journal]\nRateLimitIntervalSec=60s\nRateLimitBurst=100\n' > "$STRICT"
    else
        rm -f "$STRICT"
    fi
    systemctl restart systemd-journald
}
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
iv=$(sed -n 's/^LogRateLimitIntervalSec=//p' "$UNIT" | tail -1)
bu=$(sed -n 's/^LogRateLimitBurst=//p' "$UNIT" | tail -1)
echo "# the installed unit ($UNIT): LogRateLimitIntervalSec=${iv:-unset} LogRateLimitBurst=${bu:-unset}"
echo "# systemd $(systemctl --version | awk 'NR == 1 { print $2 }'); journal's free space: $(df -h /var/log/journal | awk 'NR == 2 { print $4 }')"
rc=0
for limit in default strict unit; do
    u=xmc-journal-storm-$limit-$$
    case $limit in
        default) set -- ;;
        strict) journald strict; set -- ;;
        unit) set -- ${iv:+-p LogRateLimitIntervalSec=$iv} ${bu:+-p LogRateLimitBurst=$bu} ;;
    esac
    jpid=$(systemctl show -p MainPID --value systemd-journald)
    j0=$(cpu_ticks "$jpid"); t0=$(date +%s.%N)
    systemd-run --quiet --wait --unit="$u" -p StandardOutput=journal -p StandardError=journal "$@" \
        "$DUMP" --json $f
    journalctl --sync
    t1=$(date +%s.%N); j1=$(cpu_ticks "$jpid")
    l=$(journalctl -o cat _SYSTEMD_UNIT="$u.service" | grep -c '^{"cpu":')
    # journald's message about a unit's dropped lines (its catalog id
    # SD_MESSAGE_JOURNAL_DROPPED).
    s=$(journalctl -o cat MESSAGE_ID=a596d6fe7bfa4994828e72309e95d61e | grep -F "$u.service" |
        sed -n 's/^Suppressed \([0-9]*\) messages.*/\1/p' | awk '{ n += $1 } END { print n + 0 }')
    awk -v lim="$limit" -v n="$N" -v l="$l" -v a="$t0" -v b="$t1" -v t="$((j1 - j0))" -v hz="$clk" -v s="$s" 'BEGIN {
        printf "BENCH-JOURNAL limit=%s records=%d lines=%d lost=%d secs=%.2f lines_per_s=%.0f journald_cpu_ticks=%d clk_tck=%d suppressed=%d\n",
            lim, n, l, n - l, b - a, l / (b - a), t, hz, s }'
    [ $limit = strict ] && [ "$l" = "$N" ] && rc=3
    [ $limit = unit ] && [ "$l" != "$N" ] && rc=1
done
journald shipped
rm -f $f
exit $rc
