#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Benchmarks of ring/: our ring vs crossbeam's ArrayQueue vs Mutex<VecDeque>,
# 128-byte records, capacity 1024. Prints a markdown table (the one in ring/README.md):
#   1. instructions per single-thread push+pop pair (valgrind callgrind: repeatable);
#   2. producer push latency p50/p99/p99.9/max while a consumer pops on the other core;
#   3. 1p/1c and 2p/2c transfer, ns per record, min/median/max over repeated runs.
#
#   bash ring/bench.sh                 # or: make bench
#   BENCH_CRITERION=1 bash ring/bench.sh   # also run the criterion benches (cargo bench)
#
# Knobs: LATENCY_PUSHES (default 1000000), THROUGHPUT_RUNS (7), THROUGHPUT_RECORDS (2000000).
# Run it on an otherwise idle machine: latency and throughput are wall-clock measurements.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_QUIET=true

jobs=()
if pgrep -f 'make.*linux' >/dev/null 2>&1; then jobs=(-j1); fi
exe=$(cargo bench "${jobs[@]}" -p xmc-ring --bench report --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "report":
        print(m["executable"])')
[ -x "$exe" ] || { echo "bench.sh: could not build the report benchmark" >&2; exit 1; }

# Wall-clock numbers need the two cores to ourselves: say so when they were not.
busy=""
others=$(pgrep -f 'make.*(linux|check|modules)|cargo (test|build|clippy)|rustc|qemu-system|valgrind' 2>/dev/null |
    xargs -r ps -o comm= -p 2>/dev/null | sort | uniq -c | awk '{printf "%s%s x%s", s, $2, $1; s=", "}' || true)
if [ -n "$others" ]; then
    busy="**Warning: the machine was not idle (running: $others; load $(cut -d' ' -f1-3 /proc/loadavg)); latency and throughput are unreliable.**"
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "### Ring benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'))"
echo
echo "Machine: $cpu, $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, Linux $(uname -r);" \
    "$(rustc --version | cut -d' ' -f1-2). Records of 128 bytes, capacity 1024."
[ -n "$busy" ] && { echo; echo "$busy"; }
echo

# 1. Instructions: the marginal cost of 100000 more pairs (subtracts set-up and first touch).
echo "**Instructions per push+pop pair** (single thread, \`valgrind --tool=callgrind\`):"
echo
echo "| queue | instructions/pair | ours vs it |"
echo "|---|---:|---:|"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
declare -A ins
for q in ours crossbeam mutex; do
    t=()
    for n in 1000 101000; do
        valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$q.$n" --collect-atstart=no \
            --toggle-collect='*pairs*' "$exe" insns "$q" "$n" >/dev/null 2>&1
        t+=("$(awk '/^summary:/{print $2}' "$tmp/cg.$q.$n")")
    done
    ins[$q]=$(((t[1] - t[0]) / 100000))
done
name() { case $1 in ours) echo "xmc_ring::Ring" ;; crossbeam) echo "crossbeam ArrayQueue" ;; mutex) echo "Mutex<VecDeque>" ;; esac; }
for q in ours crossbeam mutex; do
    echo "| $(name $q) | ${ins[$q]} | $(awk -v a="${ins[ours]}" -v b="${ins[$q]}" 'BEGIN{printf "%.2fx", a/b}') |"
done
echo

# 2. Latency.
echo "**Producer push latency** (one push every ~500 ns, consumer popping on the other core," \
    "${LATENCY_PUSHES:-1000000} pushes, rdtsc):"
echo
"$exe" latency "${LATENCY_PUSHES:-1000000}"
echo

# 3. Throughput.
echo "**Transfer throughput** (ns per record, ${THROUGHPUT_RECORDS:-2000000} records," \
    "${THROUGHPUT_RUNS:-7} runs; spinning with yield on full/empty):"
echo
"$exe" throughput "${THROUGHPUT_RUNS:-7}" "${THROUGHPUT_RECORDS:-2000000}"

if [ -n "${BENCH_CRITERION:-}" ]; then
    echo
    cargo bench "${jobs[@]}" -p xmc-ring --bench ring
fi
