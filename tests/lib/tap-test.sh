#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# tests/lib/tap.sh against its documented output, under the shells that run
# it: dash (the system check's /bin/sh) and busybox sh (the sandbox's dom0)
# when the host has them, and bash (the host's scripts). Run by host-test.sh.
set -eu
lib=$(cd "$(dirname "$0")" && pwd)/tap.sh
expected='ok 1 - passes
not ok 2 - fails
ok 3 - not here # SKIP no such device
ok 4 - check true
said
not ok 5 - check false
ok 6 - wait_for sees the file
# a diagnostic
# on two lines
XMC-HOST mce 0 1
ok 7 - quiet
1..7
failed=2 skipped=1'
# shellcheck disable=SC2016 # expanded by the shell under test
script='. "$1"
ok passes; fail fails; skip "not here" "no such device"
check "check true" true
check "check false" sh -c "echo said; exit 1"
( sleep 1; : > "$2" ) & check "wait_for sees the file" wait_for 5 test -e "$2"
diag "a diagnostic
on two lines"
host mce 0 1
TAP_QUIET=1; check quiet sh -c "echo not shown"
tap_plan; echo "failed=$TAP_FAILED skipped=$TAP_SKIPPED"'
rc=0
for sh in dash "busybox sh" bash; do
    command -v "${sh%% *}" > /dev/null || { echo "# $sh: not installed"; continue; }
    f=$(mktemp -u)
    got=$($sh -c "$script" tap-test "$lib" "$f" 2>&1)
    rm -f "$f"
    if [ "$got" = "$expected" ]; then echo "ok - tests/lib/tap.sh under $sh"
    else echo "not ok - tests/lib/tap.sh under $sh:"; echo "$got" | sed 's/^/#   /'; rc=1; fi
done
exit $rc
