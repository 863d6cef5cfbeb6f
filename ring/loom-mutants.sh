#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Mutation check of the loom tests: seeds one ordering/protocol bug at a time into a copy
# of ring.rs and requires the loom test that guards it to FAIL. A mutant that survives
# means the model tests lost their teeth (e.g. to loom's DPOR gaps, see tests/loom.rs).
#
#   bash ring/loom-mutants.sh            # all mutants
#   bash ring/loom-mutants.sh M2 M5      # some
#
# Not part of `make check` (one loom build per mutant: a few minutes in all).
#
# Not seeded: weakening RING:A or RING:F (the producer's acquire of "free" and the consumer's
# release of it). They forbid load buffering (a consumer reading data that the next producer
# writes after it), which loom does not model, so loom cannot tell them from the correct code.
# Nor removing RING:B: under the C11 model the consumer's release and RING:A already order the
# overwrite after the old stamp; RING:B is there for the Linux kernel memory model, whose
# smp_wmb() is not A-cumulative.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
work=$(mktemp -d /tmp/xmc-ring-mutants.XXXXXX)
trap '[ -n "${XMC_KEEP:-}" ] || rm -rf "$work"' EXIT
target=${CARGO_TARGET_DIR:-$repo/target}/loom-mutants

# A one-member copy of the workspace (the real one may have other members mid-edit).
sed 's/^members = .*/members = ["ring"]/' "$repo/Cargo.toml" >"$work/Cargo.toml"
[ -f "$repo/Cargo.lock" ] && cp "$repo/Cargo.lock" "$work/"
mkdir "$work/ring"
(cd "$here" && tar cf - --exclude=./target --exclude=./README.md .) | (cd "$work/ring" && tar xf -)

# name | loom test | description | exact text in ring.rs | replacement
mutants=$(cat <<'LIST'
M1|producer_consumer_snapshot|snapshot ignores the stamp re-check|            if s2 == s1 {|            if s2 == s1 || s1 != 0 {
M2|producer_consumer_snapshot|snapshot drops smp_rmb (RING:H)|            // producer's RING:B stamp (or later) and the copy is discarded.\n            smp_rmb();|            // producer's RING:B stamp (or later) and the copy is discarded.\n            // smp_rmb();
M3|producer_consumer_snapshot|producer drops smp_wmb (RING:C)|        smp_wmb();|        // smp_wmb();
M4|producer_consumer_wrap|producer publishes with a relaxed store (RING:D)|        slot.stamp.store_release(full(pos));|        slot.stamp.store_relaxed(full(pos));
M5|producer_consumer_wrap|consumer reads the stamp relaxed (RING:E)|            // before our data loads in `try_pop`.\n            let stamp = slot.stamp.load_acquire();|            // before our data loads in `try_pop`.\n            let stamp = slot.stamp.load_relaxed();
M6|producer_consumer_snapshot|snapshot reads the stamp relaxed (RING:G)|            // its words were written before.\n            let s1 = slot.stamp.load_acquire();|            // its words were written before.\n            let s1 = slot.stamp.load_relaxed();
M7|batch_all_or_nothing|batch checks only its first slot|            while k < n {|            while k < 1 {
M8|two_producers_two_consumers|push claims a slot not yet freed|            match diff(stamp, free(pos)).cmp(&0) {|            match diff(stamp, free(pos)).cmp(&0).max(core::cmp::Ordering::Equal) {
M9|two_producers_two_consumers|pop claims with load+store instead of CAS|                match self.tail.cmpxchg_relaxed(pos, pos.wrapping_add(1)) {|                match { self.tail.store_relaxed(pos.wrapping_add(1)); Ok::<u64, u64>(pos) } {
M10|two_producers_two_consumers|push claims with load+store instead of CAS|                match self.head.cmpxchg_relaxed(pos, pos.wrapping_add(1)) {|                match { self.head.store_relaxed(pos.wrapping_add(1)); Ok::<u64, u64>(pos) } {
LIST
)

want=("$@")
survived=0
while IFS='|' read -r name test desc old new; do
    if [ ${#want[@]} -gt 0 ] && [[ ! " ${want[*]} " == *" $name "* ]]; then continue; fi
    cp "$here/ring.rs" "$work/ring/ring.rs"
    python3 - "$work/ring/ring.rs" "$old" "$new" <<'PY'
import sys
p, old, new = sys.argv[1], sys.argv[2].replace('\\n', '\n'), sys.argv[3].replace('\\n', '\n')
s = open(p).read()
if s.count(old) != 1:
    sys.exit(f"mutation text found {s.count(old)} times: {old!r}")
open(p, 'w').write(s.replace(old, new))
PY
    printf '%s %-45s ' "$name" "$desc"
    if (cd "$work" && RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR="$target" \
        timeout 900 cargo test -q -p xmc-ring --release --test loom -- --exact "$test" \
        >"$work/$name.log" 2>&1); then
        echo "SURVIVED (test $test passed)"
        survived=$((survived + 1))
    else
        why=$(grep -m1 -A1 'panicked at' "$work/$name.log" | tail -n1 | cut -c1-60)
        echo "killed by $test: $why"
    fi
done <<<"$mutants"
cp "$here/ring.rs" "$work/ring/ring.rs"
[ $survived -eq 0 ] && echo "all mutants killed" || { echo "$survived mutant(s) survived"; exit 1; }
