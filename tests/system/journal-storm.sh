#!/bin/sh
# journal-storm.sh [N]: JSON lines lost to journald under a storm, on the
# check-system dom0 (Debian 13, systemd 257, the installed xen-mcelog-dump).
# xen-mcelog-dump --json reads a saved dump of N records (N x 128 bytes: it
# prints one JSON line each, as fast as journald takes them) as a transient
# service, three times:
#   default  no per-unit setting: journald.conf(5)'s RateLimitIntervalSec=30s,
#            RateLimitBurst=10000 (the burst scaled by the free disk space);
#   zero     LogRateLimitIntervalSec=0 (systemd.exec(5)): in a unit 0 means
#            "not set", so this is expected to lose as much as default;
#   unit     what xen-mcelog-json.service sets (LogRateLimitIntervalSec=,
#            LogRateLimitBurst= read from the installed unit).
# Prints per run
#   BENCH-JOURNAL limit=.. records=N lines=.. lost=.. secs=.. lines_per_s=..
#     journald_cpu_ticks=.. clk_tck=.. suppressed=..
# secs: from the start of the service to journald having written the last
# line (journalctl --sync); journald_cpu_ticks: utime + stime of
# systemd-journald meanwhile (proc(5) /proc/PID/stat fields 14, 15);
# suppressed: journald's own "Suppressed N messages" count for the unit.
# Exit status 1 when the unit's setting lost a line.
set -u
N=${1:-100000}
DUMP=$(command -v xen-mcelog-dump) || { echo "xen-mcelog-dump not installed"; exit 2; }
# The packaged unit itself (it may be masked when this runs).
UNIT=/usr/lib/systemd/system/xen-mcelog-json.service
f=/var/tmp/journal-storm.bin
head -c $((N * 128)) /dev/zero > $f
clk=$(getconf CLK_TCK)
jpid=$(systemctl show -p MainPID --value systemd-journald)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
iv=$(sed -n 's/^LogRateLimitIntervalSec=//p' "$UNIT" | tail -1)
bu=$(sed -n 's/^LogRateLimitBurst=//p' "$UNIT" | tail -1)
echo "# the installed unit ($UNIT): LogRateLimitIntervalSec=${iv:-unset} LogRateLimitBurst=${bu:-unset}"
echo "# systemd $(systemctl --version | awk 'NR == 1 { print $2 }'); journal's free space: $(df -h /var/log/journal | awk 'NR == 2 { print $4 }')"
rc=0
for limit in default zero unit; do
    u=xmc-journal-storm-$limit-$$
    case $limit in
        default) set -- ;;
        zero) set -- -p LogRateLimitIntervalSec=0 ;;
        unit) set -- ${iv:+-p LogRateLimitIntervalSec=$iv} ${bu:+-p LogRateLimitBurst=$bu} ;;
    esac
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
    [ $limit = unit ] && [ "$l" != "$N" ] && rc=1
done
rm -f $f
exit $rc
