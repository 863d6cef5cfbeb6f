#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# End to end, on this host, no QEMU: xen-mcelog-dump --follow --prometheus
# on a fake device (a pseudo-terminal in raw mode, as tools/tests/service.rs
# uses: it polls readable when bytes are queued and reads 0 when empty)
# -> Debian's prometheus-node-exporter (textfile collector on a temporary
# directory) -> Debian's prometheus (1 s scrape and rule evaluation, the
# shipped rules of tools/prometheus/) -> Debian's prometheus-alertmanager ->
# a webhook receiver (tools/tests/promstack.py hook). All on loopback.
#
#   1. healthy: the reader up, every rule group evaluated on its data,
#      nothing firing, nothing received;
#   2. a fatal record written into the device: XenMcelogUncorrectedError
#      reaches the webhook with its labels within 60 s;
#   3. SIGTERM (systemctl stop): the reader exits 0, the textfile says
#      xen_mcelog_reader_up 0 and Prometheus has XenMcelogReaderDown pending;
#   and the webhook received nothing else.
#
# Every wait is for a state, bounded. The stack: tools/tests/prom-stack.sh
# (check-system uses it too). Installs the three packages when
# missing (root: apt-get). XMC_DUMP=path uses that binary instead of
# building one (cargo build --release -p xmc-tools, CARGO_TARGET_DIR).
set -euo pipefail
tools=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$tools/.." && pwd)
start=$(date +%s)
. "$repo/tests/lib/tap.sh"
TAP_QUIET=1 # check and wait_for: the commands' output is not the test's

. "$tools/tests/prom-stack.sh"
stack_install prometheus-node-exporter:prometheus-node-exporter
if [ -z "${XMC_DUMP:-}" ]; then
    target=${CARGO_TARGET_DIR:-$repo/target}
    (cd "$repo" && CARGO_TARGET_DIR=$target cargo build -q --release -p xmc-tools --bin xen-mcelog-dump)
    XMC_DUMP=$target/release/xen-mcelog-dump
fi

T=$(mktemp -d /tmp/xmc-fleet-e2e.XXXXXX)
pids=()
cleanup() {
    stack_stop
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2> /dev/null || true; done
    if [ "$TAP_FAILED" = 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "# kept $T"; fi
}
trap cleanup EXIT

read -r NE PROM AM HOOK < <(stack_ports 4)

# A fatal machine check, mcelog's 128-byte record (promstack.py fatal-record).
python3 "$STACK_PY" fatal-record "$T/fatal.bin"
sev=$("$XMC_DUMP" --json "$T/fatal.bin" | python3 "$STACK_PY" json-get severity)
[ "$sev" = fatal ] && ok "the injected record decodes as fatal" || fail "the injected record is $sev"

mkdir -p "$T/textfile"
prometheus-node-exporter --web.listen-address="127.0.0.1:$NE" --collector.disable-defaults \
    --collector.textfile --collector.textfile.directory="$T/textfile" > "$T/ne.log" 2>&1 & pids+=($!)
stack_start "$T" "$PROM" "$AM" "$HOOK" "  - job_name: node
    static_configs: [{targets: [\"127.0.0.1:$NE\"]}]" \
    && ok "promtool check config (the shipped rules loaded by path)" || fail "promtool check config"
mkfifo "$T/dev.fifo"
# The fake device: a raw pseudo-terminal; what is written into the FIFO
# comes out of the device; the slave's path in ptyname.
python3 "$STACK_PY" fake-device "$T/dev.fifo" "$T/ptyname" & pids+=($!)

P=http://127.0.0.1:$PROM
# query EXPR: succeeds when the instant query has a result.
query() { python3 "$STACK_PY" has "$P" "$1"; }
# alerts STATE: the names of Prometheus' alerts in STATE (firing, pending).
alerts() { python3 "$STACK_PY" alerts "$P" "$1"; }
# evaluated_since T: every rule group (three) evaluated after Unix time T, healthy.
evaluated_since() { python3 "$STACK_PY" evaluated-since "$P" "$1" 3; }

check "the fake device is up" wait_for 30 test -s "$T/ptyname"
"$XMC_DUMP" --follow --json --prometheus "$T/textfile/xen_mcelog.prom" --heartbeat 5 \
    "$(cat "$T/ptyname")" > "$T/dump.out" 2> "$T/dump.err" & dump=$!
pids+=("$dump")

# 1. Healthy.
check "Prometheus scrapes node_exporter's textfile: xen_mcelog_reader_up 1" wait_for 60 \
    query 'xen_mcelog_reader_up{job="node"} == 1'
check "every severity at 0 from the start" wait_for 30 \
    query 'count(xen_mcelog_records_total == 0) == 12'
t0=$(date +%s)
check "the three rule groups evaluated on that data, all healthy" wait_for 30 evaluated_since "$((t0 + 1))"
firing=$(alerts firing)
[ -z "$firing" ] && ok "healthy: nothing firing" || fail "healthy: firing: $firing"
# Not even for a moment since Prometheus started (its ALERTS series).
! query 'last_over_time(ALERTS{alertstate="firing"}[1h])' \
    && ok "healthy: no alert fired at any time (ALERTS)" || fail "healthy: an alert fired: $(curl -sfG --data-urlencode query=ALERTS "$P/api/v1/query")"
am_alerts=$(python3 "$STACK_PY" am-alerts "http://127.0.0.1:$AM")
[ "$am_alerts" = 0 ] && ok "healthy: Alertmanager holds no alert" || fail "healthy: Alertmanager holds $am_alerts"
[ ! -s "$T/hooks.jsonl" ] && ok "healthy: the webhook received nothing" || fail "healthy: the webhook received $(cat "$T/hooks.jsonl")"

# 2. A fatal record.
hooked() {
    python3 "$STACK_PY" hooked "$T/hooks.jsonl" alertname=XenMcelogUncorrectedError severity=critical \
        mce_severity=fatal boot=current instance="127.0.0.1:$NE" job=node
}
t1=$(date +%s.%N)
cat "$T/fatal.bin" > "$T/dev.fifo"
check "the reader prints the fatal record" wait_for 10 grep -q '"severity":"fatal"' "$T/dump.out"
check "XenMcelogUncorrectedError reaches the webhook (critical, mce_severity fatal, boot current, instance, job)" wait_for 60 hooked
t2=$(date +%s.%N)
echo "# record to webhook: $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }') s"

# 3. systemctl stop.
kill -TERM "$dump"
rc=0; wait "$dump" || rc=$?
[ "$rc" = 0 ] && ok "SIGTERM: the reader exits 0" || fail "SIGTERM: exit $rc"
grep -qx 'xen_mcelog_reader_up 0' "$T/textfile/xen_mcelog.prom" \
    && ok "the textfile says xen_mcelog_reader_up 0" || fail "the textfile: $(grep reader_up "$T/textfile/xen_mcelog.prom")"
readerdown() { case " $(alerts pending) $(alerts firing) " in *" XenMcelogReaderDown "*) return 0 ;; esac; return 1; }
check "Prometheus has XenMcelogReaderDown (pending its 5 min)" wait_for 30 readerdown

names=$(python3 "$STACK_PY" hook-names "$T/hooks.jsonl")
[ "$names" = XenMcelogUncorrectedError ] && ok "the webhook received that alert only" || fail "the webhook received: $names"

if [ "$TAP_FAILED" != 0 ]; then
    for f in dump.err ne.log am.log prom.log hook.err; do echo "--- $f"; tail -20 "$T/$f"; done
fi
echo "# $(($(date +%s) - start)) s"
tap_plan
echo "fleet-e2e: $((TAP_N - TAP_FAILED)) passed, $TAP_FAILED failed"
[ "$TAP_FAILED" = 0 ]
