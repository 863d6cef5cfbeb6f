# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Sourced by tools/tests/fleet-e2e.sh (make check) and tests/system/run.sh
# (make check-system): Debian's prometheus and prometheus-alertmanager with
# the shipped rules (tools/prometheus/*.yml), routing every alert at once to
# a webhook receiver of the test. All on loopback; nothing leaves the machine.
#
#   stack_install [PKG:CMD...]  install prometheus, prometheus-alertmanager,
#                               python3, curl (and PKG where CMD is missing)
#   stack_ports N               N free loopback ports (the kernel's choice)
#   stack_start DIR PROM AM HOOK SCRAPE_CONFIGS
#                               start the three on those ports, their files
#                               and logs in DIR; SCRAPE_CONFIGS is the YAML
#                               list under scrape_configs:. Intervals:
#                               STACK_SCRAPE (1s), STACK_EVAL (1s).
#   stack_stop                  stop what stack_start started
#
# The receiver (promstack.py hook, which describes its answers) appends each
# POST body as one line to DIR/hooks.jsonl and answers GET / with a line per
# alert; the check-system dom0 reaches it at 10.0.2.2, QEMU's user network.
STACK_PIDS=()
STACK_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The Python half: the ports, the receiver, the API queries of the tests.
STACK_PY=$STACK_REPO/tools/tests/promstack.py

stack_install() {
    local need=() p
    for p in prometheus:prometheus prometheus-alertmanager:prometheus-alertmanager \
            python3:python3 curl:curl "$@"; do
        command -v "${p%%:*}" > /dev/null || need+=("${p#*:}")
    done
    [ ${#need[@]} -gt 0 ] || return 0
    [ "$(id -u)" = 0 ] || { echo "missing: ${need[*]} (apt-get install them, as root)" >&2; return 1; }
    # Installing may start the packages' own services on their default
    # ports; the stack uses ports of its own.
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" > /dev/null
}

stack_ports() { python3 "$STACK_PY" ports "$1"; }

stack_start() {
    local T=$1 PROM=$2 AM=$3 HOOK=$4 scrape=$5
    mkdir -p "$T/prom" "$T/am"
    cat > "$T/prometheus.yml" << YML
global: {scrape_interval: ${STACK_SCRAPE:-1s}, evaluation_interval: ${STACK_EVAL:-1s}}
rule_files: ["$STACK_REPO/tools/prometheus/*.yml"]
alerting:
  alertmanagers: [{static_configs: [{targets: ["127.0.0.1:$AM"]}]}]
scrape_configs:
$scrape
YML
    cat > "$T/alertmanager.yml" << YML
route: {receiver: hook, group_by: [alertname, instance], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}
receivers:
  - name: hook
    webhook_configs: [{url: "http://127.0.0.1:$HOOK/", send_resolved: false}]
YML
    promtool check config "$T/prometheus.yml" > "$T/check-config" 2>&1 || { cat "$T/check-config" >&2; return 1; }
    : > "$T/hooks.jsonl"
    python3 "$STACK_PY" hook "$HOOK" "$T/hooks.jsonl" 2> "$T/hook.err" & STACK_PIDS+=($!)
    prometheus-alertmanager --config.file="$T/alertmanager.yml" --storage.path="$T/am" \
        --web.listen-address="127.0.0.1:$AM" --cluster.listen-address= > "$T/am.log" 2>&1 & STACK_PIDS+=($!)
    prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
        --web.listen-address="127.0.0.1:$PROM" --rules.alert.resend-delay=1s > "$T/prom.log" 2>&1 & STACK_PIDS+=($!)
}

stack_stop() {
    local p
    for p in "${STACK_PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
    for p in "${STACK_PIDS[@]}"; do wait "$p" 2> /dev/null || true; done
    STACK_PIDS=()
}
