// SPDX-License-Identifier: GPL-2.0-only

//! Fuzz target: the `mc_info` walker and converter on arbitrary bytes.
//!
//! Input layout: the first 768 bytes are the `mc_info` (zero-padded when
//! shorter, as Xen's buffers are), and whatever follows is a physcpuinfo
//! buffer of 304-byte entries (at most 8 are used). Besides "no panic, no
//! hang", it checks the converter's invariants.

#![no_main]

use libfuzzer_sys::fuzz_target;
use xmc_core::mcinfo::*;
use xmc_core::record::Mce;

fuzz_target!(|data: &[u8]| {
    let mut info = [0u8; MC_INFO_LEN];
    let n = data.len().min(MC_INFO_LEN);
    info[..n].copy_from_slice(&data[..n]);

    let mut cpus = [LogicalCpu::default(); 8];
    let ncpus = parse_physcpuinfo(&data[n..], &mut cpus);
    let cpus = &cpus[..ncpus];
    for c in cpus {
        let _ = (c.cpuvendor(), c.cpuid_eax());
    }

    let mut out = [Mce::default(); MAX_BANKS_PER_INFO];
    let c = convert(&info, cpus, 0x6553_F100, &mut out);

    assert!(c.written <= MAX_BANKS_PER_INFO);
    assert!(c.visited as usize <= MAX_RECORDS);
    assert_ne!(c.stop, WalkStop::Running);
    assert_eq!(c.bank_domids().len(), c.written);
    assert!(c.recoveries().len() <= RECOVERY_SUMMARY_LEN);
    if let Some(e) = c.extended {
        assert!(usize::from(e.count) <= MCINFO_EXTENDED_MAX_MSRS);
        assert_eq!(e.msrs().len(), usize::from(e.kept));
    }
    for m in &out[..c.written] {
        assert_eq!(m.finished, 1);
        assert_eq!(Mce::from_bytes(&m.to_bytes()), *m);
    }
    for m in &out[c.written..] {
        assert_eq!(*m, Mce::default());
    }

    // An independent walk agrees with the converter.
    let mi = McInfo::new(&info);
    let mut walker = mi.records();
    let mut banks = 0usize;
    let mut prev_end = 0usize;
    for raw in walker.by_ref() {
        assert!(raw.offset >= prev_end);
        assert!(raw.bytes.len() <= usize::from(raw.size));
        assert!(raw.offset + raw.bytes.len() <= MC_INFO_DATA_LEN);
        prev_end = raw.offset + raw.bytes.len();
        match raw.decode() {
            Record::Bank(_) => banks += 1,
            Record::Extended(e) => {
                assert!(e.count() <= MCINFO_EXTENDED_MAX_MSRS);
                assert_eq!(e.msrs().count(), e.count());
            }
            _ => {}
        }
    }
    assert_eq!(walker.stop(), c.stop);
    assert_eq!(walker.visited(), c.visited as usize);
    assert_eq!(banks, c.written + c.dropped_banks as usize);
});
