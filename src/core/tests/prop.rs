// SPDX-License-Identifier: GPL-2.0-only

//! Property tests: the walker and converter never panic, always end, never
//! write more than 15 records, and convert every well-formed image exactly.

mod common;

use common::{CpuEntry, InfoBuilder};
use proptest::prelude::*;
use xmc_core::mcinfo::*;
use xmc_core::record::*;

fn cpus() -> Vec<LogicalCpu> {
    (0..4).map(|i| CpuEntry::intel(i, i * 2).parsed()).collect()
}

fn check_invariants(info: &[u8; MC_INFO_LEN]) -> Conversion {
    let mut out = [Mce::default(); MAX_BANKS_PER_INFO];
    let c = convert(info, &cpus(), 42, &mut out);
    assert!(c.written <= MAX_BANKS_PER_INFO);
    assert!(c.visited as usize <= MAX_RECORDS);
    assert_ne!(c.stop, WalkStop::Running);
    for m in &out[..c.written] {
        assert_eq!(m.finished, 1);
        assert_eq!(m.time, 42);
    }
    for m in &out[c.written..] {
        assert_eq!(*m, Mce::default());
    }
    // An independent count of BANK records via the walker agrees.
    let mi = McInfo::new(info);
    let banks = mi
        .records()
        .filter(|r| matches!(r.decode(), Record::Bank(_)))
        .count();
    assert_eq!(c.written + c.dropped_banks as usize, banks);
    c
}

/// One record of a generated image.
#[derive(Clone, Debug)]
enum Rec {
    Global(u32, u64),
    Bank(u16, u64),
    Extended(Vec<(u64, u64)>),
    Recovery(u16, u64),
    Unknown(u16, u16),
}

fn rec() -> impl Strategy<Value = Rec> {
    prop_oneof![
        1 => (0u32..8, any::<u64>()).prop_map(|(a, s)| Rec::Global(a, s)),
        4 => (any::<u16>(), any::<u64>()).prop_map(|(b, s)| Rec::Bank(b, s)),
        1 => prop::collection::vec((any::<u64>(), any::<u64>()), 0..20).prop_map(Rec::Extended),
        1 => (any::<u16>(), any::<u64>()).prop_map(|(b, m)| Rec::Recovery(b, m)),
        1 => (4u16..40, 4u16..64).prop_map(|(k, s)| Rec::Unknown(k, s)),
    ]
}

/// Appends the records that fit; returns the builder, the BANK and GLOBAL
/// records appended.
fn build(recs: &[Rec]) -> (InfoBuilder, usize, usize) {
    let mut b = InfoBuilder::new();
    let mut banks = 0;
    let mut globals = 0;
    for r in recs {
        let size = match r {
            Rec::Global(..) => 32,
            Rec::Bank(..) => 48,
            Rec::Extended(..) => 520,
            Rec::Recovery(..) => 24,
            Rec::Unknown(_, s) => *s as usize,
        };
        if b.offset() + size > MC_INFO_DATA_LEN {
            break;
        }
        b = match r {
            Rec::Global(a, s) => {
                globals += 1;
                b.global(&Global {
                    apicid: *a,
                    gstatus: *s,
                    ..Global::default()
                })
            }
            Rec::Bank(n, s) => {
                banks += 1;
                b.bank(&Bank {
                    bank: *n,
                    status: *s,
                    ..Bank::default()
                })
            }
            Rec::Extended(p) => b.extended(p),
            Rec::Recovery(n, m) => b.recovery(&Recovery {
                bank: *n,
                mfn: *m,
                ..Recovery::default()
            }),
            Rec::Unknown(k, s) => b.raw(*k, *s, &[]),
        };
    }
    (b, banks, globals)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 4000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes(v in prop::collection::vec(any::<u8>(), MC_INFO_LEN)) {
        let info: [u8; MC_INFO_LEN] = v.try_into().unwrap();
        check_invariants(&info);
    }

    #[test]
    fn arbitrary_bytes_small_nentries(
        v in prop::collection::vec(any::<u8>(), MC_INFO_LEN),
        n in 0u32..20,
        kinds in prop::collection::vec((0u16..5, 0u16..80), 4),
    ) {
        // Random bodies under plausible headers reach deeper into the walk.
        let mut info: [u8; MC_INFO_LEN] = v.try_into().unwrap();
        info[0..4].copy_from_slice(&n.to_le_bytes());
        let mut off = MC_INFO_HEADER_LEN;
        for (k, s) in kinds {
            if off + 4 > MC_INFO_LEN { break; }
            info[off..off + 2].copy_from_slice(&k.to_le_bytes());
            info[off + 2..off + 4].copy_from_slice(&s.to_le_bytes());
            off += usize::from(s.max(4));
        }
        check_invariants(&info);
    }

    #[test]
    fn well_formed_images_convert_exactly(recs in prop::collection::vec(rec(), 0..24)) {
        // Put a GLOBAL first, as Xen does.
        let mut all = vec![Rec::Global(2, 5)];
        all.extend(recs);
        let (b, banks, globals) = build(&all);
        let c = check_invariants(&b.build());
        prop_assert_eq!(c.written, banks);
        prop_assert_eq!(c.globals as usize, globals);
        let expect = if globals > 1 { MALFORMED_EXTRA_GLOBAL } else { 0 };
        prop_assert_eq!(c.malformed, expect);
        prop_assert!(!c.truncated);
        prop_assert_eq!(c.stop, WalkStop::Count);
    }

    #[test]
    fn convert_into_a_used_conversion_is_convert(
        first in prop::collection::vec(rec(), 0..24),
        second in prop::collection::vec(rec(), 0..24),
    ) {
        // The drain reuses one Conversion and one `out` for every entry:
        // nothing of the previous entry may survive into the next.
        let (a, _, _) = build(&first);
        let (b, _, _) = build(&second);
        let (a, b) = (a.build(), b.build());
        let mut out = [Mce::default(); MAX_BANKS_PER_INFO];
        let mut c = Conversion::default();
        convert_into(&a, &cpus(), 1, &mut out, &mut c);
        convert_into(&b, &cpus(), 2, &mut out, &mut c);
        let mut fresh_out = [Mce::default(); MAX_BANKS_PER_INFO];
        let fresh = convert(&b, &cpus(), 2, &mut fresh_out);
        prop_assert_eq!(c, fresh);
        prop_assert_eq!(out, fresh_out);
    }

    #[test]
    fn nentries_lies_are_flagged(recs in prop::collection::vec(rec(), 1..12), delta in 1u32..5, up in any::<bool>()) {
        let (b, _, _) = build(&recs);
        let real = McInfo::new(&b.build()).nentries();
        let n = if up { real + delta } else { real.saturating_sub(delta) };
        prop_assume!(n != real);
        let c = check_invariants(&b.nentries(n).build());
        prop_assert!(c.is_malformed());
    }
}
