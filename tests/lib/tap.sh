# SPDX-License-Identifier: GPL-2.0-only
# TAP for the sandbox cases (tests/sandbox/cases/lib.sh, inside dom0's
# busybox sh) and the installed system's check (tests/system/xmc-system-check,
# dash), in the manner of the kernel's tools/testing/selftests/kselftest/
# ktap_helpers.sh: one numbered result line per test, "# " lines for
# diagnostics, and a skipped test is a result, "ok N - DESC # SKIP REASON",
# never a diagnostic. POSIX sh only.
#
#   ok DESC / fail DESC       one result
#   skip DESC REASON          a test that could not run here, and why
#   check DESC CMD [ARG...]   runs CMD: ok when it succeeds, else not ok
#   wait_for SECONDS CMD...   runs CMD every 0.5 s until it succeeds
#   diag TEXT                 a diagnostic (each line prefixed "# ")
#   host REQUEST              asks the harness to act outside the VM (the
#                             QEMU monitor: tests/sandbox/harness.py)
#   tap_plan                  the plan, "1..N", after the last result
#
# TAP_QUIET=1 makes check and wait_for discard CMD's output (the system
# check, whose commands are systemctl, curl, journalctl ...); by default it
# goes to the console (the sandbox cases, whose commands print their own
# "# " lines). Variables of the library start with TAP_ or _tap_.
TAP_N=0
TAP_FAILED=0
TAP_SKIPPED=0
ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
fail() { TAP_N=$((TAP_N + 1)); TAP_FAILED=$((TAP_FAILED + 1)); echo "not ok $TAP_N - $*"; }
skip() { TAP_N=$((TAP_N + 1)); TAP_SKIPPED=$((TAP_SKIPPED + 1)); echo "ok $TAP_N - $1 # SKIP $2"; }
_tap_run() { if [ "${TAP_QUIET:-0}" = 1 ]; then "$@" > /dev/null 2>&1; else "$@"; fi; }
check() { _tap_desc=$1; shift; if _tap_run "$@"; then ok "$_tap_desc"; else fail "$_tap_desc"; fi; }
wait_for() {
    _tap_t=$(($1 * 2)); shift
    while [ $_tap_t -gt 0 ]; do _tap_run "$@" && return 0; sleep 0.5; _tap_t=$((_tap_t - 1)); done
    return 1
}
diag() { echo "$*" | sed 's/^/# /'; }
host() { echo "XMC-HOST $*"; }
tap_plan() { echo "1..$TAP_N"; }
