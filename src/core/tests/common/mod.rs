// SPDX-License-Identifier: GPL-2.0-only

//! Builders for hand-made Xen `mc_info` and physcpuinfo images.

#![allow(dead_code)]

use xmc_core::mcinfo::*;

/// Builds a 768-byte `mc_info` record by record. Records are laid out back to
/// back in `mi_data`; bytes past 768 are cut off (to model Xen's off-by-8).
pub struct InfoBuilder {
    buf: [u8; MC_INFO_LEN],
    off: usize,
    count: u32,
    nentries: Option<u32>,
    flags: u32,
}

impl Default for InfoBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl InfoBuilder {
    pub fn new() -> Self {
        InfoBuilder {
            buf: [0; MC_INFO_LEN],
            off: 0,
            count: 0,
            nentries: None,
            flags: 0,
        }
    }

    /// Offset in `mi_data` where the next record goes.
    pub fn offset(&self) -> usize {
        self.off
    }

    /// Appends a record: header (`kind`, `size`) followed by `body`, padded
    /// with zeroes to `max(size, 4 + body.len())` bytes.
    pub fn raw(mut self, kind: u16, size: u16, body: &[u8]) -> Self {
        let mut rec = vec![0u8; (size as usize).max(4 + body.len())];
        rec[0..2].copy_from_slice(&kind.to_le_bytes());
        rec[2..4].copy_from_slice(&size.to_le_bytes());
        rec[4..4 + body.len()].copy_from_slice(body);
        let start = MC_INFO_HEADER_LEN + self.off;
        for (i, b) in rec.iter().enumerate() {
            if let Some(slot) = self.buf.get_mut(start + i) {
                *slot = *b;
            }
        }
        self.off += size as usize;
        self.count += 1;
        self
    }

    pub fn global(self, g: &Global) -> Self {
        let mut body = Vec::new();
        body.extend_from_slice(&g.domid.to_le_bytes());
        body.extend_from_slice(&g.vcpuid.to_le_bytes());
        body.extend_from_slice(&g.socketid.to_le_bytes());
        body.extend_from_slice(&g.coreid.to_le_bytes());
        body.extend_from_slice(&g.core_threadid.to_le_bytes());
        body.extend_from_slice(&g.apicid.to_le_bytes());
        body.extend_from_slice(&g.flags.to_le_bytes());
        body.extend_from_slice(&g.gstatus.to_le_bytes());
        assert_eq!(body.len() + 4, MCINFO_GLOBAL_LEN);
        self.raw(MC_TYPE_GLOBAL, MCINFO_GLOBAL_LEN as u16, &body)
    }

    pub fn bank(self, b: &Bank) -> Self {
        let mut body = Vec::new();
        body.extend_from_slice(&b.bank.to_le_bytes());
        body.extend_from_slice(&b.domid.to_le_bytes());
        for v in [b.status, b.addr, b.misc, b.ctrl2, b.tsc] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(body.len() + 4, MCINFO_BANK_LEN);
        self.raw(MC_TYPE_BANK, MCINFO_BANK_LEN as u16, &body)
    }

    /// An EXTENDED record as Xen writes it: size 520, `mc_msrs` = pairs.len().
    pub fn extended(self, pairs: &[(u64, u64)]) -> Self {
        self.extended_raw(pairs.len() as u32, MCINFO_EXTENDED_LEN as u16, pairs)
    }

    pub fn extended_raw(self, count: u32, size: u16, pairs: &[(u64, u64)]) -> Self {
        let mut body = Vec::new();
        body.extend_from_slice(&count.to_le_bytes());
        for (r, v) in pairs {
            body.extend_from_slice(&r.to_le_bytes());
            body.extend_from_slice(&v.to_le_bytes());
        }
        self.raw(MC_TYPE_EXTENDED, size, &body)
    }

    pub fn recovery(self, r: &Recovery) -> Self {
        let mut body = Vec::new();
        body.extend_from_slice(&r.bank.to_le_bytes());
        body.push(r.action_flags);
        body.push(r.action_types);
        body.extend_from_slice(&r.mfn.to_le_bytes());
        body.extend_from_slice(&r.status.to_le_bytes());
        assert_eq!(body.len() + 4, MCINFO_RECOVERY_LEN);
        self.raw(MC_TYPE_RECOVERY, MCINFO_RECOVERY_LEN as u16, &body)
    }

    /// Overrides `mi_nentries` (default: the number of records appended).
    pub fn nentries(mut self, n: u32) -> Self {
        self.nentries = Some(n);
        self
    }

    pub fn flags(mut self, f: u32) -> Self {
        self.flags = f;
        self
    }

    pub fn build(&self) -> [u8; MC_INFO_LEN] {
        let mut b = self.buf;
        b[0..4].copy_from_slice(&self.nentries.unwrap_or(self.count).to_le_bytes());
        b[4..8].copy_from_slice(&self.flags.to_le_bytes());
        b
    }
}

/// One 304-byte `mcinfo_logical_cpu`.
#[derive(Clone)]
pub struct CpuEntry {
    pub cpunr: u32,
    pub chipid: u32,
    pub coreid: u16,
    pub threadid: u16,
    pub apicid: u32,
    pub family: u32,
    pub vendor: u32,
    pub model: u32,
    pub step: u32,
    pub vendorid: &'static [u8],
    pub nmsrvals: Option<u32>,
    pub msrs: Vec<(u64, u64)>,
}

impl CpuEntry {
    pub fn intel(cpunr: u32, apicid: u32) -> Self {
        CpuEntry {
            cpunr,
            chipid: 0,
            coreid: 0,
            threadid: 0,
            apicid,
            family: 6,
            vendor: 0,
            model: 0x55,
            step: 4,
            vendorid: b"GenuineIntel",
            nmsrvals: None,
            msrs: vec![(0x179, 0x0F00_0C14)],
        }
    }

    pub fn bytes(&self) -> [u8; LOGICAL_CPU_LEN] {
        let mut b = [0u8; LOGICAL_CPU_LEN];
        b[0..4].copy_from_slice(&self.cpunr.to_le_bytes());
        b[4..8].copy_from_slice(&self.chipid.to_le_bytes());
        b[8..10].copy_from_slice(&self.coreid.to_le_bytes());
        b[10..12].copy_from_slice(&self.threadid.to_le_bytes());
        b[12..16].copy_from_slice(&self.apicid.to_le_bytes());
        b[16..20].copy_from_slice(&0xEEEE_EEEEu32.to_le_bytes()); // clusterid
        b[20..32].copy_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]);
        b[32..36].copy_from_slice(&0x16u32.to_le_bytes()); // cpuid level
        b[36..40].copy_from_slice(&self.family.to_le_bytes());
        b[40..44].copy_from_slice(&self.vendor.to_le_bytes());
        b[44..48].copy_from_slice(&self.model.to_le_bytes());
        b[48..52].copy_from_slice(&self.step.to_le_bytes());
        b[52..52 + self.vendorid.len()].copy_from_slice(self.vendorid);
        b[68..80].copy_from_slice(b"Brand String");
        for (i, w) in b[132..160].iter_mut().enumerate() {
            *w = 0xC0 | i as u8; // cpu caps: noise
        }
        let n = self.nmsrvals.unwrap_or(self.msrs.len() as u32);
        b[168..172].copy_from_slice(&n.to_le_bytes());
        for (i, (r, v)) in self.msrs.iter().enumerate().take(8) {
            let o = 176 + 16 * i;
            b[o..o + 8].copy_from_slice(&r.to_le_bytes());
            b[o + 8..o + 16].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    pub fn parsed(&self) -> LogicalCpu {
        LogicalCpu::parse(&self.bytes()).unwrap()
    }
}

/// Concatenates entries into a physcpuinfo buffer.
pub fn physcpuinfo(entries: &[CpuEntry]) -> Vec<u8> {
    entries.iter().flat_map(|e| e.bytes()).collect()
}

/// A corrected error's `MCi_STATUS`.
pub const CE: u64 = 0x9C00_0040_0001_0091;

/// A polled corrected-error entry from APIC id `apicid`: one bank per
/// address (banks 1, 2, ...).
pub fn ce_entry(apicid: u32, addrs: &[u64]) -> [u8; MC_INFO_LEN] {
    let mut b = InfoBuilder::new().global(&Global {
        domid: DOMID_INVALID,
        vcpuid: 0xFFFF,
        socketid: 0,
        coreid: 0,
        core_threadid: 0,
        apicid,
        flags: MC_FLAG_POLLED | MC_FLAG_CORRECTABLE,
        gstatus: 0,
    });
    for (i, &addr) in addrs.iter().enumerate() {
        b = b.bank(&Bank {
            bank: i as u16 + 1,
            domid: DOMID_INVALID,
            status: CE,
            addr,
            misc: 0x86,
            ctrl2: 0,
            tsc: 0,
        });
    }
    b.build()
}
