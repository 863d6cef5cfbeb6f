// SPDX-License-Identifier: GPL-2.0-only

//! The typed records of an `mc_info` (`struct mcinfo_global`,
//! `mcinfo_bank`, `mcinfo_extended`, `mcinfo_recovery`), read from a
//! record's bytes; the walker checks their sizes before they are read.

use super::{u16_at, u32_at, u64_at, u8_at, MCINFO_EXTENDED_MAX_MSRS, MCINFO_MSR_LEN};

/// `struct mcinfo_global`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Global {
    /// `mc_domid`: domain running when the error was detected, or [`DOMID_INVALID`].
    ///
    /// [`DOMID_INVALID`]: super::DOMID_INVALID
    pub domid: u16,
    /// `mc_vcpuid` (0xFFFF = invalid).
    pub vcpuid: u16,
    /// `mc_socketid`.
    pub socketid: u32,
    /// `mc_coreid`.
    pub coreid: u16,
    /// `mc_core_threadid`.
    pub core_threadid: u16,
    /// `mc_apicid`: full APIC id of the CPU that logged the banks.
    pub apicid: u32,
    /// `mc_flags` (`MC_FLAG_*`).
    pub flags: u32,
    /// `mc_gstatus`: `MCG_STATUS`.
    pub gstatus: u64,
}

impl Global {
    pub(super) fn parse(r: &[u8]) -> Global {
        Global {
            domid: u16_at(r, 4),
            vcpuid: u16_at(r, 6),
            socketid: u32_at(r, 8),
            coreid: u16_at(r, 12),
            core_threadid: u16_at(r, 14),
            apicid: u32_at(r, 16),
            flags: u32_at(r, 20),
            gstatus: u64_at(r, 24),
        }
    }
}

/// `struct mcinfo_bank`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bank {
    /// `mc_bank`: bank number.
    pub bank: u16,
    /// `mc_domid`: owner of the page at `addr`, or [`DOMID_INVALID`].
    ///
    /// [`DOMID_INVALID`]: super::DOMID_INVALID
    pub domid: u16,
    /// `mc_status`: `MCi_STATUS`.
    pub status: u64,
    /// `mc_addr`: `MCi_ADDR` (machine or, after vMCE injection, guest-physical).
    pub addr: u64,
    /// `mc_misc`: `MCi_MISC`.
    pub misc: u64,
    /// `mc_ctrl2`: `MCi_CTL2` (CMCI only).
    pub ctrl2: u64,
    /// `mc_tsc` (CMCI only, else 0).
    pub tsc: u64,
}

impl Bank {
    pub(super) fn parse(r: &[u8]) -> Bank {
        Bank {
            bank: u16_at(r, 4),
            domid: u16_at(r, 6),
            status: u64_at(r, 8),
            addr: u64_at(r, 16),
            misc: u64_at(r, 24),
            ctrl2: u64_at(r, 32),
            tsc: u64_at(r, 40),
        }
    }
}

/// One `struct mcinfo_msr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsrPair {
    /// MSR number.
    pub reg: u64,
    /// MSR value.
    pub value: u64,
}

/// `struct mcinfo_extended`, borrowed from the `mc_info` copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extended<'a> {
    /// `mc_msrs` as Xen wrote it (not clamped).
    pub raw_count: u32,
    pub(super) pairs: &'a [u8],
}

impl<'a> Extended<'a> {
    /// Number of valid MSR pairs: `mc_msrs` clamped to 32 and to the pairs
    /// actually present in the record.
    pub fn count(&self) -> usize {
        let present = self.pairs.len().checked_div(MCINFO_MSR_LEN).unwrap_or(0);
        usize::try_from(self.raw_count)
            .unwrap_or(usize::MAX)
            .min(MCINFO_EXTENDED_MAX_MSRS)
            .min(present)
    }

    /// The valid MSR pairs, in record order.
    pub fn msrs(&self) -> impl Iterator<Item = MsrPair> + 'a {
        let n = self.count();
        self.pairs
            .chunks_exact(MCINFO_MSR_LEN)
            .take(n)
            .map(|p| MsrPair {
                reg: u64_at(p, 0),
                value: u64_at(p, 8),
            })
    }
}

/// `struct mcinfo_recovery`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// `mc_bank`.
    pub bank: u16,
    /// `action_flags` (`REC_ACTION_*`).
    pub action_flags: u8,
    /// `action_types` (`MC_ACTION_*`).
    pub action_types: u8,
    /// First union word: `page_offline.mfn` (machine frame of the offlined page).
    pub mfn: u64,
    /// Second union word: `page_offline.status`.
    pub status: u64,
}

impl Recovery {
    pub(super) fn parse(r: &[u8]) -> Recovery {
        Recovery {
            bank: u16_at(r, 4),
            action_flags: u8_at(r, 6),
            action_types: u8_at(r, 7),
            mfn: u64_at(r, 8),
            status: u64_at(r, 16),
        }
    }

    /// The union read as `cpu_offline_action`: (socket id, core id, thread id).
    #[cfg(not(xmc_kernel))]
    pub fn cpu_offline(&self) -> (u32, u16, u16) {
        let b = self.mfn.to_le_bytes();
        (u32_at(&b, 0), u16_at(&b, 4), u16_at(&b, 6))
    }
}
