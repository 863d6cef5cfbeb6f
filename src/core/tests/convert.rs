// SPDX-License-Identifier: GPL-2.0-only

//! Walker and converter tests on hand-built `mc_info` images.
//!
//! Why one file of about 790 lines: 30 short tests, each one image built
//! with the shared builders (`common`, and `run`, `global`, `bank`,
//! `cpu_table` here) and its conversion checked; src/core/tests/ has one test
//! binary per module under test.

mod common;

use common::{CpuEntry, InfoBuilder};
use xmc_core::mcinfo::*;
use xmc_core::record::*;

const T: u64 = 1_700_000_000;

fn run(info: &[u8; MC_INFO_LEN], cpus: &[LogicalCpu]) -> (Conversion, [Mce; MAX_BANKS_PER_INFO]) {
    let mut out = [Mce {
        status: 0xDEAD,
        ..Mce::default()
    }; MAX_BANKS_PER_INFO];
    let c = convert(info, cpus, T, &mut out);
    // Everything past `written` is cleared.
    for m in &out[c.written..] {
        assert_eq!(*m, Mce::default());
    }
    (c, out)
}

fn global(apicid: u32) -> Global {
    Global {
        domid: DOMID_INVALID,
        vcpuid: 0xFFFF,
        socketid: 1,
        coreid: 2,
        core_threadid: 1,
        apicid,
        flags: MC_FLAG_POLLED | MC_FLAG_CORRECTABLE,
        gstatus: 0,
    }
}

fn bank(n: u16, status: u64) -> Bank {
    Bank {
        bank: n,
        domid: DOMID_INVALID,
        status,
        addr: 0x1000 * u64::from(n),
        misc: 0x80 + u64::from(n),
        ctrl2: 0x4000_0002,
        tsc: 0,
    }
}

const CE: u64 = 0x9C00_0040_0001_0091;

fn cpu_table() -> Vec<LogicalCpu> {
    vec![
        CpuEntry::intel(0, 0).parsed(),
        CpuEntry {
            chipid: 1,
            msrs: vec![
                (MSR_MCG_CAP, 0x0F00_0C14),
                (MSR_PPIN, 0x0123_4567_89AB_CDEF),
            ],
            ..CpuEntry::intel(3, 0x22)
        }
        .parsed(),
    ]
}

/// Hex of `b` in 16-byte rows, for readable golden diffs.
fn hex_rows(b: &[u8]) -> Vec<String> {
    b.chunks(16)
        .map(|r| {
            r.iter()
                .map(|x| format!("{x:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn golden_intel_corrected_error() {
    // A CMCI-reported corrected memory error on Xen pCPU 3 (APIC 0x22,
    // socket 1) of a Skylake-SP (family 6 model 0x55 stepping 4).
    let info = InfoBuilder::new()
        .global(&Global {
            domid: DOMID_INVALID,
            vcpuid: 0xFFFF,
            socketid: 1,
            coreid: 5,
            core_threadid: 0,
            apicid: 0x22,
            flags: MC_FLAG_CMCI | MC_FLAG_CORRECTABLE,
            gstatus: 0,
        })
        .bank(&Bank {
            bank: 7,
            domid: DOMID_INVALID,
            status: CE,
            addr: 0x1_2345_6000,
            misc: 0x8C,
            ctrl2: 0x4000_0001,
            tsc: 0x1234_5678_9ABC,
        })
        .build();
    let (c, out) = run(&info, &cpu_table());
    assert_eq!(c.written, 1);
    assert!(!c.is_malformed());
    assert!(!c.apicid_unknown);
    assert_eq!(c.mc_flags, MC_FLAG_CMCI | MC_FLAG_CORRECTABLE);

    // Hand-computed, field by field (little-endian).
    let expected: [[u8; 16]; 8] = [
        // status 0x9C00004000010091, misc 0x8C
        [
            0x91, 0x00, 0x01, 0x00, 0x40, 0x00, 0x00, 0x9C, 0x8C, 0, 0, 0, 0, 0, 0, 0,
        ],
        // addr 0x123456000, mcgstatus 0
        [
            0x00, 0x60, 0x45, 0x23, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
        // ip 0, tsc 0x123456789ABC
        [
            0, 0, 0, 0, 0, 0, 0, 0, 0xBC, 0x9A, 0x78, 0x56, 0x34, 0x12, 0, 0,
        ],
        // time 1700000000 = 0x6553F100; cpuvendor 0 (Intel), inject 0,
        // severity 0, pad 0; cpuid 0x00050654
        [
            0x00, 0xF1, 0x53, 0x65, 0, 0, 0, 0, 0, 0, 0, 0, 0x54, 0x06, 0x05, 0x00,
        ],
        // cs 0, bank 7, cpu 3, finished 1; extcpu 3; socketid 1; apicid 0x22
        [0, 7, 3, 1, 3, 0, 0, 0, 1, 0, 0, 0, 0x22, 0, 0, 0],
        // mcgcap 0x0F000C14, synd 0
        [0x14, 0x0C, 0x00, 0x0F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        // ipid 0, ppin 0x0123456789ABCDEF
        [
            0, 0, 0, 0, 0, 0, 0, 0, 0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01,
        ],
        // microcode 0, pad 0, kflags 0
        [0; 16],
    ];
    let expected: Vec<u8> = expected.iter().flatten().copied().collect();
    assert_eq!(hex_rows(&out[0].to_bytes()), hex_rows(&expected));
}

#[test]
fn every_field_is_mapped() {
    let cpus = [CpuEntry {
        chipid: 4,
        family: 0x19,
        model: 0x21,
        step: 2,
        vendor: 2,
        vendorid: b"AuthenticAMD",
        msrs: vec![(MSR_MCG_CAP, 0x0100_010A), (MSR_AMD_PPIN, 0xAABB_CCDD)],
        ..CpuEntry::intel(260, 0x1_0001)
    }
    .parsed()];
    let g = Global {
        domid: 3,
        vcpuid: 1,
        socketid: 9, // ignored: the CPU table's chipid wins
        coreid: 1,
        core_threadid: 1,
        apicid: 0x1_0001,
        flags: MC_FLAG_MCE | MC_FLAG_CORRECTABLE,
        gstatus: 0x5,
    };
    let b = Bank {
        bank: 0x104, // truncated to 8 bits like Linux
        domid: 7,
        status: 0x9400_0000_0000_0151,
        addr: 0x18_0020,
        misc: 0xD01A_0FFF_0100_0000,
        ctrl2: 1,
        tsc: 0xABCD,
    };
    let info = InfoBuilder::new().global(&g).bank(&b).build();
    let (c, out) = run(&info, &cpus);
    let m = out[0];
    assert_eq!(c.written, 1);
    assert_eq!(m.status, b.status);
    assert_eq!(m.misc, b.misc);
    assert_eq!(m.addr, b.addr);
    assert_eq!(m.mcgstatus, 5);
    assert_eq!(m.ip, 0);
    assert_eq!(m.tsc, 0xABCD);
    assert_eq!(m.time, T);
    assert_eq!(m.cpuvendor, VENDOR_AMD);
    assert_eq!(m.inject_flags, 0);
    assert_eq!(m.severity, 0);
    assert_eq!(m.cpuid, 0x00A2_0F12);
    assert_eq!(m.cs, 0);
    assert_eq!(m.bank, 0x04);
    assert_eq!(m.cpu, 4, "cpu is extcpu truncated to 8 bits (260 & 0xFF)");
    assert_eq!(m.finished, 1);
    assert_eq!(m.extcpu, 260);
    assert_eq!(m.socketid, 4);
    assert_eq!(m.apicid, 0x1_0001);
    assert_eq!(m.mcgcap, 0x0100_010A);
    assert_eq!(m.synd, 0);
    assert_eq!(m.ipid, 0);
    assert_eq!(m.ppin, 0xAABB_CCDD);
    assert_eq!(m.microcode, 0);
    assert_eq!(m.kflags, 0);
    assert_eq!(c.global_domid, 3);
    assert_eq!(c.global_vcpuid, 1);
    assert_eq!(c.gstatus, 5);
    assert_eq!(c.apicid, 0x1_0001);
    assert_eq!(c.bank_domids(), &[7]);
    assert_eq!(c.nentries, 2);
    assert_eq!(c.visited, 2);
    assert_eq!(c.stop, WalkStop::Count);
    assert!(!c.uncomplete && !c.truncated && !c.is_malformed());
}

#[test]
fn fifteen_banks_fill_the_output() {
    let mut b = InfoBuilder::new().global(&global(0x22));
    for n in 0..15 {
        b = b.bank(&bank(n, CE | u64::from(n)));
    }
    assert_eq!(b.offset(), 752);
    let (c, out) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 15);
    assert_eq!(c.dropped_banks, 0);
    assert!(!c.is_malformed(), "{c:?}");
    for (n, m) in out.iter().enumerate() {
        assert_eq!(m.bank as usize, n);
        assert_eq!(m.status, CE | n as u64);
        assert_eq!(m.extcpu, 3);
        assert_eq!(m.finished, 1);
    }
}

#[test]
fn extended_plus_four_banks_and_uncomplete() {
    // Intel with MCG_STATUS.EIPV: GLOBAL, EXTENDED (19 MSRs), 4 banks; the
    // fifth bank did not fit, so Xen set UNCOMPLETE.
    let msrs: Vec<(u64, u64)> = (0x180..=0x18A)
        .chain(0x190..=0x197)
        .map(|r| (r, r * 0x1_0000))
        .collect();
    assert_eq!(msrs.len(), 19);
    let mut b = InfoBuilder::new()
        .flags(MCINFO_FLAGS_UNCOMPLETE)
        .global(&Global {
            flags: MC_FLAG_MCE | MC_FLAG_RECOVERABLE,
            gstatus: 0x7,
            ..global(0x22)
        })
        .extended(&msrs);
    for n in 0..4 {
        b = b.bank(&bank(n, 0xBD20_0000_8000_017A));
    }
    assert_eq!(b.offset(), 744);
    let (c, out) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 4);
    assert!(c.uncomplete);
    assert_eq!(c.info_flags, MCINFO_FLAGS_UNCOMPLETE);
    assert!(!c.is_malformed());
    assert_eq!(c.extended_count, 1);
    let e = c.extended.unwrap();
    assert_eq!((e.offset, e.raw_count, e.count, e.kept), (32, 19, 19, 19));
    assert!(!e.truncated);
    assert_eq!(
        e.msrs()[0],
        MsrPair {
            reg: 0x180,
            value: 0x180_0000
        }
    );
    assert_eq!(
        e.msrs()[18],
        MsrPair {
            reg: 0x197,
            value: 0x197_0000
        }
    );
    assert!(out[..4].iter().all(|m| m.mcgstatus == 7));
}

#[test]
fn off_by_8_recovery_is_truncated_at_the_end() {
    // GLOBAL + EXTENDED + 4 BANK + RECOVERY ends exactly at data byte 768:
    // Xen delivers only 760, so the RECOVERY's `status` is lost.
    let mut b = InfoBuilder::new()
        .global(&global(0x22))
        .extended(&[(0x180, 1)]);
    for n in 0..4 {
        b = b.bank(&bank(n, CE));
    }
    let b = b.recovery(&Recovery {
        bank: 3,
        action_flags: REC_ACTION_RECOVERED,
        action_types: MC_ACTION_PAGE_OFFLINE,
        mfn: 0x12_3456,
        status: 0xFFFF_FFFF,
    });
    assert_eq!(b.offset(), 768);
    let (c, _) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 4);
    assert!(c.truncated);
    assert!(!c.is_malformed(), "{c:?}");
    assert_eq!(c.stop, WalkStop::Truncated);
    assert_eq!(c.visited, 7);
    assert_eq!(c.recovery_count, 1);
    let r = c.recoveries()[0];
    assert!(r.truncated);
    assert_eq!(r.offset, 744);
    assert_eq!(
        r.rec,
        Recovery {
            bank: 3,
            action_flags: REC_ACTION_RECOVERED,
            action_types: MC_ACTION_PAGE_OFFLINE,
            mfn: 0x12_3456,
            status: 0, // past the 760 bytes
        }
    );
}

#[test]
fn truncated_bank_keeps_what_is_visible() {
    // A BANK at offset 720 with size 48 ends at 768: status/addr/misc/ctrl2
    // are visible, tsc is not.
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .raw(0x55, 688, &[])
        .bank(&Bank {
            tsc: 0x77,
            ..bank(2, CE)
        });
    let (c, out) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 1);
    assert!(c.truncated);
    assert_eq!(c.unknown_count, 1);
    assert_eq!(out[0].status, CE);
    assert_eq!(out[0].addr, 0x2000);
    assert_eq!(out[0].misc, 0x82);
    assert_eq!(out[0].tsc, 0);
}

#[test]
fn record_running_past_768_is_an_overrun() {
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(1, CE))
        .raw(MC_TYPE_BANK, 760 - 80 + 9, &[]); // ends at 769
    let (c, out) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 1);
    assert_eq!(out[0].bank, 1);
    assert_eq!(c.stop, WalkStop::Overrun);
    assert_eq!(c.malformed, MALFORMED_OVERRUN);
    assert!(!c.truncated);
}

#[test]
fn garbage_size_past_the_end() {
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(1, CE))
        .raw(MC_TYPE_BANK, 0xFFFF, &[]);
    let (c, _) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 1);
    assert_eq!(c.stop, WalkStop::Overrun);
    assert_ne!(c.malformed & MALFORMED_OVERRUN, 0);
}

#[test]
fn size_zero_stops_without_looping() {
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(1, CE))
        .raw(MC_TYPE_BANK, 0, &[0xAA; 8]);
    let (c, _) = run(&b.nentries(4).build(), &cpu_table());
    assert_eq!(c.written, 1);
    assert_eq!(c.stop, WalkStop::BadSize);
    assert_ne!(c.malformed & MALFORMED_BAD_SIZE, 0);
}

#[test]
fn size_below_header() {
    for size in 1..4 {
        let b = InfoBuilder::new()
            .global(&global(0x22))
            .raw(MC_TYPE_BANK, size, &[])
            .nentries(2);
        let (c, _) = run(&b.build(), &cpu_table());
        assert_eq!(c.written, 0);
        assert_eq!(c.visited, 1);
        assert_eq!(c.stop, WalkStop::BadSize, "size {size}");
    }
}

#[test]
fn nentries_too_high_hits_zero_padding() {
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(1, CE))
        .bank(&bank(2, CE))
        .nentries(5);
    let (c, _) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 2);
    assert_eq!(c.visited, 3);
    assert_eq!(c.stop, WalkStop::BadSize);
    assert_eq!(c.malformed, MALFORMED_BAD_SIZE);
}

#[test]
fn nentries_too_high_with_full_data() {
    // Records fill all 760 bytes; the count asks for one more.
    let mut b = InfoBuilder::new().global(&global(0x22));
    for n in 0..15 {
        b = b.bank(&bank(n, CE));
    }
    let b = b.raw(0x99, 8, &[]).nentries(18);
    assert_eq!(b.offset(), 760);
    let (c, _) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 15);
    assert_eq!(c.stop, WalkStop::EndOfData);
    assert_eq!(c.malformed, MALFORMED_END_OF_DATA);
}

#[test]
fn nentries_too_low_leaves_trailing_data() {
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(1, CE))
        .bank(&bank(2, CE))
        .bank(&bank(3, CE))
        .nentries(2);
    let (c, _) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 1);
    assert_eq!(c.stop, WalkStop::Count);
    assert_eq!(c.malformed, MALFORMED_TRAILING_DATA);
}

#[test]
fn nentries_zero_with_records() {
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(1, CE))
        .nentries(0);
    let (c, _) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 0);
    assert_eq!(c.visited, 0);
    assert_eq!(c.malformed, MALFORMED_TRAILING_DATA);
}

#[test]
fn nentries_huge_is_bounded() {
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(1, CE))
        .nentries(u32::MAX);
    let (c, _) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 1);
    assert_eq!(c.malformed, MALFORMED_NENTRIES_RANGE | MALFORMED_BAD_SIZE);
}

#[test]
fn smallest_records_visit_at_most_190() {
    // 190 unknown records of 4 bytes each exactly fill mi_data.
    let mut b = InfoBuilder::new();
    for _ in 0..MAX_RECORDS {
        b = b.raw(0x1234, 4, &[]);
    }
    let (c, _) = run(&b.nentries(u32::MAX).build(), &[]);
    assert_eq!(c.visited as usize, MAX_RECORDS);
    assert_eq!(c.unknown_count as usize, MAX_RECORDS);
    assert_eq!(c.stop, WalkStop::Count);
    assert_eq!(c.malformed, MALFORMED_NENTRIES_RANGE);
}

#[test]
fn unknown_types_between_banks_are_skipped() {
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(1, CE))
        .raw(7, 16, &[0xFF; 12])
        .raw(0xFFFF, 4, &[])
        .bank(&bank(2, CE))
        .raw(4, 100, &[0x01; 96])
        .bank(&bank(3, CE));
    let (c, out) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 3);
    assert_eq!(c.unknown_count, 3);
    assert!(!c.is_malformed());
    assert_eq!([out[0].bank, out[1].bank, out[2].bank], [1, 2, 3]);
}

#[test]
fn unaligned_records_are_read_correctly() {
    // An unknown 5-byte record shifts the following banks off 8-byte
    // alignment; fields are still read at their byte offsets.
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .raw(9, 5, &[0x42])
        .bank(&bank(6, CE));
    let (c, out) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 1);
    assert_eq!(out[0].status, CE);
    assert_eq!(out[0].addr, 0x6000);
    assert_eq!(out[0].misc, 0x86);
}

#[test]
fn missing_global_still_converts_banks() {
    let b = InfoBuilder::new().bank(&bank(1, CE)).bank(&bank(2, CE));
    let (c, out) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 2);
    assert_eq!(c.malformed, MALFORMED_NO_GLOBAL);
    assert!(
        !c.apicid_unknown,
        "no APIC id to look up: a refresh cannot help"
    );
    assert_eq!(c.globals, 0);
    assert_eq!(c.global_domid, DOMID_INVALID);
    for m in &out[..2] {
        assert_eq!(m.status, CE);
        assert_eq!(m.mcgstatus, 0);
        assert_eq!(m.apicid, 0);
        assert_eq!(m.socketid, 0);
        assert_eq!(m.extcpu, EXTCPU_UNKNOWN);
        assert_eq!(m.cpu, 0xFF);
        assert_eq!(m.cpuvendor, VENDOR_UNKNOWN);
        assert_eq!(m.cpuid, 0);
        assert_eq!(m.finished, 1);
        assert_eq!(m.time, T);
    }
}

#[test]
fn bank_before_global() {
    let b = InfoBuilder::new()
        .bank(&bank(1, CE))
        .global(&Global {
            gstatus: 5,
            ..global(0x22)
        })
        .bank(&bank(2, CE));
    let (c, out) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 2);
    assert_eq!(c.malformed, MALFORMED_NO_GLOBAL);
    assert_eq!((out[0].mcgstatus, out[0].extcpu), (0, EXTCPU_UNKNOWN));
    assert_eq!((out[1].mcgstatus, out[1].extcpu), (5, 3));
}

#[test]
fn two_globals_each_own_their_banks() {
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(1, CE))
        .global(&Global {
            flags: MC_FLAG_MCE,
            ..global(0)
        })
        .bank(&bank(2, CE));
    let (c, out) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 2);
    assert_eq!(c.globals, 2);
    assert_eq!(c.malformed, MALFORMED_EXTRA_GLOBAL);
    assert_eq!(
        c.mc_flags,
        MC_FLAG_POLLED | MC_FLAG_CORRECTABLE,
        "first GLOBAL's flags"
    );
    assert_eq!((out[0].extcpu, out[0].apicid), (3, 0x22));
    assert_eq!((out[1].extcpu, out[1].apicid), (0, 0));
}

#[test]
fn apic_lookup_miss_then_refresh() {
    let info = InfoBuilder::new()
        .global(&Global {
            socketid: 2,
            gstatus: 5,
            ..global(0x40)
        })
        .bank(&bank(4, CE))
        .build();
    let stale = cpu_table();
    let (c, out) = run(&info, &stale);
    assert_eq!(c.written, 1);
    assert!(c.apicid_unknown);
    assert_eq!(c.missing_apicid, 0x40);
    assert!(!c.is_malformed());
    let m = out[0];
    assert_eq!(m.status, CE);
    assert_eq!(m.bank, 4);
    assert_eq!(m.mcgstatus, 5);
    assert_eq!(m.apicid, 0x40, "known from GLOBAL");
    assert_eq!(m.socketid, 2, "GLOBAL's socket when the CPU is unknown");
    assert_eq!(m.extcpu, EXTCPU_UNKNOWN);
    assert_eq!(m.cpu, 0xFF);
    assert_eq!(m.cpuvendor, VENDOR_UNKNOWN);
    assert_eq!((m.cpuid, m.mcgcap, m.ppin), (0, 0, 0));

    // The caller refreshes physcpuinfo (a CPU was hot-added) and retries.
    let mut fresh = stale.clone();
    fresh.push(
        CpuEntry {
            chipid: 2,
            ..CpuEntry::intel(17, 0x40)
        }
        .parsed(),
    );
    let (c, out) = run(&info, &fresh);
    assert!(!c.apicid_unknown);
    assert_eq!((out[0].extcpu, out[0].cpu, out[0].cpuid), (17, 17, 0x50654));
    assert_eq!(out[0].cpuvendor, VENDOR_INTEL);
}

#[test]
fn unknown_apic_without_banks_is_not_reported() {
    let info = InfoBuilder::new().global(&global(0x40)).build();
    let (c, _) = run(&info, &cpu_table());
    assert_eq!(c.written, 0);
    assert!(!c.apicid_unknown);
}

#[test]
fn undersized_records_are_skipped() {
    let b = InfoBuilder::new()
        .raw(MC_TYPE_GLOBAL, 16, &[0x11; 12])
        .global(&global(0x22))
        .raw(MC_TYPE_BANK, 40, &[0x22; 36])
        .raw(MC_TYPE_RECOVERY, 16, &[0x33; 12])
        .extended_raw(3, 40, &[(1, 2), (3, 4)]) // needs 8 + 3×16 = 56
        .bank(&bank(5, CE));
    let (c, out) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 1);
    assert_eq!(out[0].bank, 5);
    assert_eq!(c.undersized_count, 4);
    assert_eq!(c.malformed, MALFORMED_UNDERSIZED);
    assert_eq!((c.globals, c.recovery_count, c.extended_count), (1, 0, 0));
}

#[test]
fn extended_sizes_and_counts() {
    // A compact EXTENDED (3 MSRs in 56 bytes) is accepted.
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(4, CE))
        .extended_raw(
            3,
            56,
            &[(0xC000_2001, 1), (0xC000_2002, 2), (0xC000_2003, 3)],
        );
    let (c, _) = run(&b.build(), &cpu_table());
    assert!(!c.is_malformed());
    let e = c.extended.unwrap();
    assert_eq!((e.count, e.kept), (3, 3));
    assert_eq!(
        e.msrs()[2],
        MsrPair {
            reg: 0xC000_2003,
            value: 3
        }
    );

    // mc_msrs above 32 is clamped and flagged; only 20 pairs are kept.
    let pairs: Vec<(u64, u64)> = (0..32).map(|i| (0x400 + i, i)).collect();
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .extended_raw(40, 520, &pairs)
        .bank(&bank(1, CE));
    let (c, _) = run(&b.build(), &cpu_table());
    assert_eq!(c.written, 1);
    assert_eq!(c.malformed, MALFORMED_MSR_COUNT);
    let e = c.extended.unwrap();
    assert_eq!(
        (e.raw_count, e.count, e.kept),
        (40, 32, EXTENDED_SUMMARY_MSRS as u8)
    );
    assert_eq!(
        e.msrs()[19],
        MsrPair {
            reg: 0x413,
            value: 19
        }
    );
}

#[test]
fn recovery_summaries() {
    let mut b = InfoBuilder::new().global(&global(0x22)).bank(&bank(7, CE));
    for i in 0..5u8 {
        b = b.recovery(&Recovery {
            bank: 7,
            action_flags: REC_ACTION_RECOVERED,
            action_types: if i == 1 {
                MC_ACTION_CPU_OFFLINE
            } else {
                MC_ACTION_PAGE_OFFLINE
            },
            mfn: if i == 1 {
                0x0003_0002_0000_0001
            } else {
                0x1000 + u64::from(i)
            },
            status: u64::from(i),
        });
    }
    let (c, _) = run(&b.build(), &cpu_table());
    assert_eq!(c.recovery_count, 5);
    assert_eq!(c.recoveries().len(), RECOVERY_SUMMARY_LEN);
    assert_eq!(c.recoveries()[0].rec.mfn, 0x1000);
    assert_eq!(c.recoveries()[3].rec.status, 3);
    assert_eq!(c.recoveries()[1].rec.cpu_offline(), (1, 2, 3));
    assert_eq!(c.recoveries()[2].offset, 32 + 48 + 2 * 24);
}

#[test]
fn foreign_domain_banks_are_reported() {
    let b = InfoBuilder::new()
        .global(&global(0x22))
        .bank(&bank(1, CE))
        .bank(&Bank {
            domid: 5,
            ..bank(2, CE)
        });
    let (c, _) = run(&b.build(), &cpu_table());
    assert_eq!(c.bank_domids(), &[DOMID_INVALID, 5]);
}

#[test]
fn sixteen_banks_only_in_a_corrupt_image() {
    // No GLOBAL, 15 banks, and a 16th truncated one: the only way to exceed
    // the output. The extra bank is counted, not silently lost.
    let mut b = InfoBuilder::new();
    for n in 0..16 {
        b = b.bank(&bank(n, CE));
    }
    let (c, _) = run(&b.build(), &[]);
    assert_eq!(c.written, 15);
    assert_eq!(c.dropped_banks, 1);
    assert!(c.truncated);
    assert_eq!(c.malformed, MALFORMED_NO_GLOBAL | MALFORMED_OUT_FULL);
}

#[test]
fn walker_exposes_raw_records() {
    let info = InfoBuilder::new()
        .global(&global(0x22))
        .raw(0x42, 12, &[1, 2, 3])
        .bank(&bank(1, CE))
        .build();
    let mi = McInfo::new(&info);
    assert_eq!(mi.nentries(), 3);
    assert!(!mi.is_uncomplete());
    assert_eq!(mi.data().len(), MC_INFO_DATA_LEN);
    let mut w = mi.records();
    let r: Vec<_> = w
        .by_ref()
        .map(|r| (r.offset, r.kind, r.size, r.bytes.len()))
        .collect();
    assert_eq!(r, vec![(0, 0, 32, 32), (32, 0x42, 12, 12), (44, 1, 48, 48)]);
    assert_eq!(w.stop(), WalkStop::Count);
    assert_eq!(w.visited(), 3);
    assert_eq!(w.offset(), 92);
    assert!(!w.trailing_nonzero());
    assert!(w.next().is_none());
}

#[test]
fn garbage_never_panics() {
    // A deterministic spread of random images; the property tests and the
    // fuzzer cover this more widely.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let cpus = cpu_table();
    for _ in 0..20_000 {
        let mut info = [0u8; MC_INFO_LEN];
        for b in info.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        // Keep the headers plausible half of the time.
        if x & 1 == 0 {
            info[0..4].copy_from_slice(&((x >> 8) as u32 % 8).to_le_bytes());
            info[8..12].copy_from_slice(&[(x >> 16) as u8 % 4, 0, 32, 0]);
        }
        let mut out = [Mce::default(); MAX_BANKS_PER_INFO];
        let c = convert(&info, &cpus, T, &mut out);
        assert!(c.written <= MAX_BANKS_PER_INFO);
        assert!(c.visited as usize <= MAX_RECORDS);
        assert_ne!(c.stop, WalkStop::Running);
    }
}
