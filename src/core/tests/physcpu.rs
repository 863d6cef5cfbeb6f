// SPDX-License-Identifier: GPL-2.0-only

//! physcpuinfo parsing, vendor strings and CPUID encoding.

mod common;

use common::{physcpuinfo, CpuEntry};
use xmc_core::mcinfo::*;
use xmc_core::record::*;

#[test]
fn cpuid_encoding_table() {
    // (family, model, stepping) as Xen reports them -> CPUID.1.EAX.
    let table: &[(u32, u32, u32, u32, &str)] = &[
        (6, 0x55, 4, 0x0005_0654, "Skylake-SP"),
        (6, 0x8F, 8, 0x0008_06F8, "Sapphire Rapids"),
        (6, 0x3F, 2, 0x0003_06F2, "Haswell-EP"),
        (6, 0x97, 2, 0x0009_0672, "Alder Lake"),
        (
            6,
            0x0F,
            0xB,
            0x0000_06FB,
            "Core 2 Merom (no extended model)",
        ),
        (6, 0x1A, 5, 0x0001_06A5, "Nehalem-EP"),
        (
            0xF,
            0x6,
            5,
            0x0000_0F65,
            "Pentium 4 (family 15, ext family 0)",
        ),
        (0xF, 0x41, 2, 0x0004_0F12, "K8 rev F"),
        (0x10, 0x4, 2, 0x0010_0F42, "K10"),
        (0x17, 0x31, 0, 0x0083_0F10, "Zen 2 Rome"),
        (0x18, 0x0, 1, 0x0090_0F01, "Hygon Dhyana"),
        (0x19, 0x01, 1, 0x00A0_0F11, "Zen 3 Milan"),
        (0x19, 0x21, 0, 0x00A2_0F10, "Zen 3 Vermeer"),
        (0x1A, 0x11, 0, 0x00B1_0F10, "Zen 5 Turin"),
        (5, 0x4, 3, 0x0000_0543, "Pentium MMX"),
        (
            4,
            0x18,
            1,
            0x0000_0481,
            "family 4: model high nibble not encodable",
        ),
        (
            0x10E,
            0,
            0,
            0x0FF0_0F00,
            "extended family saturates at 0xFF",
        ),
        (
            0x7,
            0x12,
            0x13,
            0x0000_0723,
            "fields masked to their widths",
        ),
        (0, 0, 0, 0, "all zero -> 0 (\"no CPUID\")"),
    ];
    for &(f, m, s, eax, what) in table {
        assert_eq!(cpuid_eax(f, m, s), eax, "{what}: {f:#x}/{m:#x}/{s:#x}");
    }
}

#[test]
fn vendor_strings() {
    let table: &[(&[u8], u8)] = &[
        (b"GenuineIntel", VENDOR_INTEL),
        (b"AuthenticAMD", VENDOR_AMD),
        (b"CentaurHauls", VENDOR_CENTAUR),
        (b"HygonGenuine", VENDOR_HYGON),
        (b"  Shanghai  ", VENDOR_ZHAOXIN),
        (b"GenuineIntel\0\0\0\0", VENDOR_INTEL),
        (b"GenuineIntelXYZ", VENDOR_INTEL), // only the 12 CPUID bytes count
        (b"CyrixInstead", VENDOR_UNKNOWN),
        (b"genuineintel", VENDOR_UNKNOWN),
        (b"GenuineInte", VENDOR_UNKNOWN),
        (b"", VENDOR_UNKNOWN),
    ];
    for &(id, v) in table {
        let mut b = [0u8; 16];
        b[..id.len()].copy_from_slice(id);
        assert_eq!(vendor_from_id(&b), v, "{:?}", String::from_utf8_lossy(id));
    }
}

#[test]
fn vendor_comes_from_the_string_not_mc_vendor() {
    // Xen without the fix of xen_version::VENDOR_NUMBERS reports Intel as
    // mc_vendor 1 ("Cyrix").
    let cpu = CpuEntry {
        vendor: 1,
        ..CpuEntry::intel(0, 0)
    }
    .parsed();
    assert_eq!(cpu.xen_vendor, 1);
    assert_eq!(cpu.cpuvendor(), VENDOR_INTEL);
}

#[test]
fn logical_cpu_fields() {
    let e = CpuEntry {
        cpunr: 77,
        chipid: 3,
        coreid: 12,
        threadid: 1,
        apicid: 0x1_0203,
        family: 0x19,
        vendor: 2,
        model: 0x11,
        step: 1,
        vendorid: b"AuthenticAMD",
        nmsrvals: None,
        msrs: vec![(MSR_MCG_CAP, 0x0100_0117), (MSR_AMD_PPIN, 0x5555_6666)],
    };
    let c = e.parsed();
    assert_eq!(
        c,
        LogicalCpu {
            cpunr: 77,
            chipid: 3,
            coreid: 12,
            threadid: 1,
            apicid: 0x1_0203,
            family: 0x19,
            xen_vendor: 2,
            model: 0x11,
            step: 1,
            vendorid: *b"AuthenticAMD\0\0\0\0",
            mcgcap: 0x0100_0117,
            ppin: 0x5555_6666,
        }
    );
    assert_eq!(c.cpuid_eax(), 0x00A1_0F11);
    assert_eq!(c.cpuvendor(), VENDOR_AMD);
}

#[test]
fn msrvalues_are_matched_by_number() {
    // PPIN first, unrelated MSR, then MCG_CAP; Intel PPIN number.
    let c = CpuEntry {
        msrs: vec![(MSR_PPIN, 0xAB), (0x17A, 0xFFFF), (MSR_MCG_CAP, 0xC09)],
        ..CpuEntry::intel(0, 0)
    }
    .parsed();
    assert_eq!((c.mcgcap, c.ppin), (0xC09, 0xAB));

    // mc_nmsrvals bounds the pairs used ...
    let c = CpuEntry {
        nmsrvals: Some(1),
        msrs: vec![(MSR_MCG_CAP, 0xC09), (MSR_PPIN, 0xAB)],
        ..CpuEntry::intel(0, 0)
    }
    .parsed();
    assert_eq!((c.mcgcap, c.ppin), (0xC09, 0));

    // ... and is itself clamped to the 8 slots.
    let mut msrs = vec![(0x1, 0x1); 7];
    msrs.push((MSR_PPIN, 0x99));
    let c = CpuEntry {
        nmsrvals: Some(u32::MAX),
        msrs,
        ..CpuEntry::intel(0, 0)
    }
    .parsed();
    assert_eq!((c.mcgcap, c.ppin), (0, 0x99));

    let c = CpuEntry {
        nmsrvals: Some(0),
        ..CpuEntry::intel(0, 0)
    }
    .parsed();
    assert_eq!(c.mcgcap, 0);
}

#[test]
fn physcpuinfo_buffer() {
    let entries: Vec<CpuEntry> = (0..5).map(|i| CpuEntry::intel(i * 2, i * 4 + 1)).collect();
    let mut raw = physcpuinfo(&entries);
    raw.extend_from_slice(&[0xFF; 100]); // a partial entry is ignored
    assert_eq!(logical_cpus(&raw).count(), 5);

    let mut out = [LogicalCpu::default(); 8];
    assert_eq!(parse_physcpuinfo(&raw, &mut out), 5);
    assert_eq!(out[4].cpunr, 8);
    assert_eq!(out[5], LogicalCpu::default());

    let mut small = [LogicalCpu::default(); 3];
    assert_eq!(parse_physcpuinfo(&raw, &mut small), 3);
    assert_eq!(small[2].apicid, 9);

    assert_eq!(find_cpu(&out[..5], 13).map(|c| c.cpunr), Some(6));
    assert!(find_cpu(&out[..5], 2).is_none());

    assert_eq!(parse_physcpuinfo(&[], &mut out), 0);
    assert!(LogicalCpu::parse(&raw[..LOGICAL_CPU_LEN - 1]).is_none());
}
