#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The records in QEMU's ERST store file (QEMU's docs/specs/acpi_erst.rst: a
header with the record size and one record id per slot, then one record per
slot), one a line as "<id> <kind>": xen-mce (Xen's 288-byte MCE record, with
its status, address and bank), pstore (dom0's own), or other. Nothing for a
file that is not a store yet. Used by tests/erst.sh.

    erst_store.py STORE
"""
import struct
import sys

# The record header's creator id CPER_CREATOR_MCE (bytes 64..80) and the
# section descriptor's type CPER_SECTION_TYPE_MCE (bytes 144..160), as Xen's
# mce-apei.c writes them and Linux's mce-apei.c reads them
# (docs/xen-mca-abi.md; src/core/erst.rs).
MCE = bytes([0xe3, 0x74, 0xa5, 0x75, 0x52, 0x50, 0x29, 0x4b, 0x8a, 0x8e, 0xbe, 0x2c, 0x64, 0x90, 0xb8, 0x9d])
SEC_MCE = bytes([0xbe, 0xff, 0x08, 0xfe, 0xe4, 0x95, 0xe7, 0x4b, 0xbc, 0x73, 0x40, 0x96, 0x04, 0x4a, 0x38, 0xfc])


def records(b):
    if len(b) < 32 or b[:8] != b"ERSTSTOR":
        return
    size, off = struct.unpack_from("<II", b, 8)
    # Slot i (slot 0 and up to storage_offset hold the header) is at i * size;
    # map[i] is its record id.
    for i in range(off // size, len(b) // size):
        rid = struct.unpack_from("<Q", b, 24 + 8 * i)[0] if 24 + 8 * i + 8 <= off else 0
        if rid in (0, 0xFFFFFFFFFFFFFFFF):
            continue
        r = b[i * size:(i + 1) * size]
        if r[:4] != b"CPER":
            continue
        length = struct.unpack_from("<I", r, 20)[0]
        kind = "other"
        if r[64:80] == MCE and r[144:160] == SEC_MCE and length == 288:
            kind = "xen-mce status=%#x addr=%#x bank=%d" % (
                struct.unpack_from("<Q", r, 200)[0], struct.unpack_from("<Q", r, 216)[0], r[265])
        elif r[64:80] == MCE:
            kind = "pstore"
        yield rid, kind


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], "rb") as f:
        for rid, kind in records(f.read()):
            print(rid, kind)
