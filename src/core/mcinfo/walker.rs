// SPDX-License-Identifier: GPL-2.0-only

//! The bounded walker over the records of one `mc_info`: every step
//! checked against `mi_nentries`, the record's declared size and the end of
//! `mi_data` (Xen's off-by-8 allowance included), each record decoded to
//! its type once its size is checked.

use super::{
    u16_at, u32_at, Bank, Extended, Global, Recovery, MAX_RECORDS, MCINFO_BANK_LEN,
    MCINFO_COMMON_LEN, MCINFO_EXTENDED_HEADER_LEN, MCINFO_EXTENDED_MAX_MSRS,
    MCINFO_FLAGS_UNCOMPLETE, MCINFO_GLOBAL_LEN, MCINFO_MSR_LEN, MCINFO_RECOVERY_LEN,
    MC_INFO_HEADER_LEN, MC_INFO_LEN, MC_TYPE_BANK, MC_TYPE_EXTENDED, MC_TYPE_GLOBAL,
    MC_TYPE_RECOVERY, XEN_RESERVE_LIMIT,
};

/// A view of one 768-byte `struct mc_info`.
#[derive(Clone, Copy, Debug)]
pub struct McInfo<'a> {
    bytes: &'a [u8; MC_INFO_LEN],
}

impl<'a> McInfo<'a> {
    /// Wraps a copy of the bytes `XEN_MC_fetch` returned.
    pub fn new(bytes: &'a [u8; MC_INFO_LEN]) -> McInfo<'a> {
        McInfo { bytes }
    }

    /// `mi_nentries` as Xen wrote it.
    pub fn nentries(&self) -> u32 {
        u32_at(self.bytes, 0)
    }

    /// `flags` (`MCINFO_FLAGS_*`).
    pub fn flags(&self) -> u32 {
        u32_at(self.bytes, 4)
    }

    /// Whether Xen had to leave records out (`MCINFO_FLAGS_UNCOMPLETE`).
    pub fn is_uncomplete(&self) -> bool {
        self.flags() & MCINFO_FLAGS_UNCOMPLETE != 0
    }

    /// The 760 bytes of `mi_data`.
    pub fn data(&self) -> &'a [u8] {
        self.bytes.get(MC_INFO_HEADER_LEN..).unwrap_or(&[])
    }

    /// A walker over the records, bounded by `min(mi_nentries, 190)` and by
    /// the end of `mi_data`.
    pub fn records(&self) -> Walker<'a> {
        let limit = usize::try_from(self.nentries())
            .unwrap_or(usize::MAX)
            .min(MAX_RECORDS);
        Walker {
            data: self.data(),
            offset: 0,
            remaining: limit,
            visited: 0,
            stop: None,
        }
    }
}

/// Why a [`Walker`] stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WalkStop {
    /// Not stopped yet.
    #[default]
    Running,
    /// Visited `min(mi_nentries, 190)` records: the normal end.
    Count,
    /// Fewer than 4 bytes were left for the next header before the count was
    /// reached (`mi_nentries` too high).
    EndOfData,
    /// A header had `size < 4` (0 included; zeroes after the last record when
    /// `mi_nentries` is too high).
    BadSize,
    /// A record would end past the 768 bytes Xen itself allows: a corrupt
    /// `size`. Nothing of it was returned.
    Overrun,
    /// The last record crossed the end of `mi_data` but ended within Xen's
    /// off-by-8 allowance; its visible part was returned as truncated.
    Truncated,
}

/// One record as found by the walker, before type checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// Offset of the header inside `mi_data`.
    pub offset: usize,
    /// `type`.
    pub kind: u16,
    /// `size` as declared (header included).
    pub size: u16,
    /// The record's bytes inside `mi_data`, header included: `size` bytes,
    /// or fewer when truncated.
    pub bytes: &'a [u8],
    /// The record crossed the end of `mi_data` (Xen's off-by-8); missing
    /// fields read as 0.
    pub truncated: bool,
}

/// A record checked against its type's minimum size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// `MC_TYPE_GLOBAL`.
    Global(Global),
    /// `MC_TYPE_BANK`.
    Bank(Bank),
    /// `MC_TYPE_EXTENDED`.
    Extended(Extended<'a>),
    /// `MC_TYPE_RECOVERY`.
    Recovery(Recovery),
    /// A type this driver does not know; skipped by its size.
    Unknown,
    /// A known type whose declared size is below its struct size (for
    /// EXTENDED: below `8 + 16 × min(mc_msrs, 32)`); skipped.
    Undersized,
}

impl<'a> RawRecord<'a> {
    /// Checks the declared size against the type and decodes the record.
    /// Fields of a truncated record that lie past the end read as 0.
    pub fn decode(&self) -> Record<'a> {
        let size = usize::from(self.size);
        let r = self.bytes;
        match self.kind {
            MC_TYPE_GLOBAL if size >= MCINFO_GLOBAL_LEN => Record::Global(Global::parse(r)),
            MC_TYPE_BANK if size >= MCINFO_BANK_LEN => Record::Bank(Bank::parse(r)),
            MC_TYPE_RECOVERY if size >= MCINFO_RECOVERY_LEN => Record::Recovery(Recovery::parse(r)),
            MC_TYPE_EXTENDED => {
                let raw_count = u32_at(r, 4);
                let clamped = usize::try_from(raw_count)
                    .unwrap_or(usize::MAX)
                    .min(MCINFO_EXTENDED_MAX_MSRS);
                let need = clamped
                    .saturating_mul(MCINFO_MSR_LEN)
                    .saturating_add(MCINFO_EXTENDED_HEADER_LEN);
                if size < need {
                    return Record::Undersized;
                }
                Record::Extended(Extended {
                    raw_count,
                    pairs: r.get(MCINFO_EXTENDED_HEADER_LEN..).unwrap_or(&[]),
                })
            }
            MC_TYPE_GLOBAL | MC_TYPE_BANK | MC_TYPE_RECOVERY => Record::Undersized,
            _ => Record::Unknown,
        }
    }
}

/// Bounded, validating iterator over the records of one `mc_info`
/// (docs/xen-mca-abi.md, "`struct mc_info` and its records").
///
/// It works in offsets inside the 760-byte `mi_data`, visits at most
/// `min(mi_nentries, 190)` records, requires room for each header, `size ≥ 4`
/// and `offset + size ≤ 760` (a record ending within Xen's off-by-8 allowance
/// is returned truncated, and ends the walk), and skips nothing silently:
/// unknown and undersized records are returned for the caller to count. Every
/// step advances by at least 4 bytes, so it ends after at most 190 steps.
#[derive(Clone, Debug)]
pub struct Walker<'a> {
    data: &'a [u8],
    offset: usize,
    remaining: usize,
    visited: usize,
    stop: Option<WalkStop>,
}

impl<'a> Walker<'a> {
    /// Number of records returned so far.
    pub fn visited(&self) -> usize {
        self.visited
    }

    /// Why the walk ended ([`WalkStop::Running`] while it has not).
    pub fn stop(&self) -> WalkStop {
        self.stop.unwrap_or(WalkStop::Running)
    }

    /// Offset in `mi_data` where the next record would start.
    #[cfg(not(xmc_kernel))]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether any byte after the last record visited is non-zero. Xen zeroes
    /// the whole `mc_info` before filling it, so after a [`WalkStop::Count`]
    /// end this means `mi_nentries` was too low or the buffer is corrupt.
    pub fn trailing_nonzero(&self) -> bool {
        self.data
            .get(self.offset..)
            .is_some_and(|tail| tail.iter().any(|&b| b != 0))
    }

    fn finish(&mut self, why: WalkStop) -> Option<RawRecord<'a>> {
        self.stop = Some(why);
        None
    }
}

impl<'a> Iterator for Walker<'a> {
    type Item = RawRecord<'a>;

    fn next(&mut self) -> Option<RawRecord<'a>> {
        if self.stop.is_some() {
            return None;
        }
        if self.remaining == 0 {
            return self.finish(WalkStop::Count);
        }
        let header = match self
            .offset
            .checked_add(MCINFO_COMMON_LEN)
            .and_then(|end| self.data.get(self.offset..end))
        {
            Some(h) => h,
            None => return self.finish(WalkStop::EndOfData),
        };
        let kind = u16_at(header, 0);
        let size = u16_at(header, 2);
        if usize::from(size) < MCINFO_COMMON_LEN {
            return self.finish(WalkStop::BadSize);
        }
        let end = self.offset.saturating_add(usize::from(size));
        let (bytes, truncated) = if let Some(b) = self.data.get(self.offset..end) {
            (b, false)
        } else if end <= XEN_RESERVE_LIMIT {
            (self.data.get(self.offset..).unwrap_or(&[]), true)
        } else {
            return self.finish(WalkStop::Overrun);
        };
        let rec = RawRecord {
            offset: self.offset,
            kind,
            size,
            bytes,
            truncated,
        };
        self.offset = if truncated { self.data.len() } else { end };
        self.remaining = self.remaining.saturating_sub(1);
        self.visited = self.visited.saturating_add(1);
        if truncated {
            self.stop = Some(WalkStop::Truncated);
        }
        Some(rec)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn zero_size_header_stops_the_walk() {
        let mut info = [0u8; MC_INFO_LEN];
        info[0] = 3; // mi_nentries
        let mi = McInfo::new(&info);
        let mut w = mi.records();
        assert!(w.next().is_none());
        assert_eq!(w.stop(), WalkStop::BadSize);
        assert!(w.next().is_none());
    }
}
