#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Writes the seed corpus for the `convert` fuzz target (corpus/convert/).

Each seed is a 768-byte mc_info image in the shapes Xen produces (and a few it
should not), optionally followed by 304-byte physcpuinfo entries, so the
fuzzer starts from deep, valid walks instead of random headers.

The other files in corpus/convert/ (named by their SHA-1) were picked from a
10-million-execution run: the fewest inputs that add the most edge coverage
to these seeds, keeping the committed corpus under 50 files.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "convert")


def rec(kind, size, body=b""):
    b = struct.pack("<HH", kind, size) + body
    return b.ljust(max(size, len(b)), b"\0")


def glob(apicid=0x22, flags=0x9, gstatus=0, socket=1):
    return rec(0, 32, struct.pack("<HHIHHIIQ", 0x7FF4, 0xFFFF, socket, 2, 1, apicid, flags, gstatus))


def bank(n, status=0x9C00004000010091, addr=0x123456000, misc=0x8C, tsc=0, domid=0x7FF4):
    return rec(1, 48, struct.pack("<HHQQQQQ", n, domid, status, addr, misc, 0x40000001, tsc))


def ext(pairs, count=None, size=520):
    body = struct.pack("<I", len(pairs) if count is None else count)
    body += b"".join(struct.pack("<QQ", r, v) for r, v in pairs)
    return rec(2, size, body)


def recovery(n, mfn, status=0):
    return rec(3, 24, struct.pack("<HBBQQ", n, 1, 1, mfn, status))


def info(records, nentries=None, flags=0):
    data = b"".join(records)
    n = len(records) if nentries is None else nentries
    return (struct.pack("<II", n, flags) + data).ljust(768, b"\0")[:768]


def cpu(cpunr, apicid, family=6, model=0x55, step=4, vendor=b"GenuineIntel", msrs=((0x179, 0xF000C14),)):
    b = bytearray(304)
    struct.pack_into("<IIHHII", b, 0, cpunr, 0, 0, 0, apicid, apicid)
    struct.pack_into("<IIIIIII", b, 20, 1, 1, 2, 0x16, family, 0, model)
    struct.pack_into("<I", b, 48, step)
    b[52:52 + len(vendor)] = vendor
    struct.pack_into("<I", b, 168, len(msrs))
    for i, (r, v) in enumerate(msrs):
        struct.pack_into("<QQ", b, 176 + 16 * i, r, v)
    return bytes(b)


CPUS = cpu(0, 0) + cpu(3, 0x22, msrs=((0x179, 0xF000C14), (0x4F, 0x0123456789ABCDEF)))
AMD = cpu(2, 2, family=0x19, model=0x21, step=0, vendor=b"AuthenticAMD",
          msrs=((0x179, 0x100010A), (0xC00102F1, 0x55)))
INTEL_EXT = [(r, r << 16) for r in list(range(0x180, 0x18B)) + list(range(0x190, 0x198))]

seeds = {
    "intel_cmci_ce": info([glob(flags=0x21), bank(7, tsc=0x123456789ABC)]) + CPUS,
    "intel_polled_3banks": info([glob(), bank(1), bank(5), bank(9)]) + CPUS,
    "amd_icache_parity": info([glob(apicid=2, flags=0x41, gstatus=5), bank(1, 0x9400000000000151, 0x180020, 0)]) + AMD,
    "amd_bank4_ext": info([glob(apicid=2), bank(4), ext([(0xC0000408, 1), (0xC0000409, 2), (0xC000040A, 3)])]) + AMD,
    "fifteen_banks": info([glob()] + [bank(i) for i in range(15)]) + CPUS,
    "ext_4banks_uncomplete": info([glob(flags=0x44, gstatus=7), ext(INTEL_EXT)] + [bank(i, 0xBD2000008000017A) for i in range(4)], flags=1) + CPUS,
    "offby8_recovery": info([glob(), ext(INTEL_EXT[:1])] + [bank(i) for i in range(4)] + [recovery(3, 0x123456, 0xFFFF)]) + CPUS,
    "unknown_between": info([glob(), bank(1), rec(7, 16, b"\xff" * 12), rec(9, 5, b"B"), bank(2)]) + CPUS,
    "no_global": info([bank(1), bank(2)]),
    "bank_before_global": info([bank(1), glob(gstatus=5), bank(2)]) + CPUS,
    "two_globals": info([glob(), bank(1), glob(apicid=0), bank(2)]) + CPUS,
    "apic_miss": info([glob(apicid=0x40), bank(4)]) + CPUS,
    "nentries_high": info([glob(), bank(1)], nentries=5),
    "nentries_low": info([glob(), bank(1), bank(2), bank(3)], nentries=2),
    "size_zero": info([glob(), bank(1), rec(1, 0, b"\xaa" * 8)], nentries=3),
    "overrun": info([glob(), bank(1), rec(1, 0xFFFF)]),
    "undersized": info([rec(0, 16, b"\x11" * 12), glob(), rec(1, 40, b"\x22" * 36), ext([(1, 2)], count=3, size=40), bank(5)]) + CPUS,
    "ext_count_big": info([glob(), ext([(0x400 + i, i) for i in range(32)], count=40), bank(1)]) + CPUS,
    "recoveries": info([glob(), bank(7)] + [recovery(7, 0x1000 + i) for i in range(5)]) + CPUS,
    "empty": info([]),
}

os.makedirs(OUT, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
print(f"{len(seeds)} seeds in {OUT}")
