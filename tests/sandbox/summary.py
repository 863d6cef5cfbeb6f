#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Reads the JSON lines harness.py --summary writes (one a boot: run, booted,
passed, failed, skipped, problems, warnings) for the scripts that judge them.

    summary.py matrix-row FILE          "ok(B/N) PASSED/RESULTS WARNINGS" for
                                        the matrix table (tests/matrix.sh)
    summary.py repeat FILE RUN KERNEL   one line, "repeat: RUN on KERNEL: G of N
                                        boots green"; exit 1 unless all are
                                        (tests/repeat.sh)
"""
import json
import sys


def runs(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def matrix_row(path):
    rs = runs(path)
    booted = sum(r["booted"] for r in rs)
    passed = sum(r["passed"] for r in rs)
    failed = sum(r["failed"] + (1 if r["problems"] else 0) for r in rs)
    warn = sum(len(r["warnings"]) for r in rs)
    print(f"{'ok' if booted == len(rs) else 'FAIL'}({booted}/{len(rs)}) {passed}/{passed + failed} {warn}")
    return 0


def repeat(path, run, kernel):
    rs = runs(path)
    bad = [r for r in rs if r["failed"] or r["problems"] or not r["booted"]]
    print(f"repeat: {run} on {kernel}: {len(rs) - len(bad)} of {len(rs)} boots green")
    return 1 if bad or not rs else 0


if __name__ == "__main__":
    commands = {"matrix-row": matrix_row, "repeat": repeat}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    sys.exit(commands[sys.argv[1]](*sys.argv[2:]))
