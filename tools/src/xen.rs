// SPDX-License-Identifier: GPL-2.0-only

//! What Xen says about a record beyond the 128-byte mcelog record (the
//! `XenInfo` that the module keeps next to it in its ring and shows in the
//! debugfs `xen` view), in words: the owning and running domain, whether
//! `addr` is machine- or guest-physical, Xen's physical CPU, and the
//! recovery Xen attempted (page offlining and its result). Also the
//! severity word the JSON output and the Prometheus textfile use.
//!
//! The layout is `xmc_core::record` (`XenRecord::from_view_bytes`), the
//! module's own: nothing here redefines it.

use xmc_core::mcinfo::{DOMID_FIRST_RESERVED, DOMID_IDLE, DOMID_IO, DOMID_XEN};
use xmc_core::record::{
    Mce, XenInfo, XenRecord, ADDR_SPACE_GUEST, DOMID_NONE, XEN_INFO_PREVIOUS_BOOT,
    XEN_INFO_RECOVERY, XEN_INFO_RECOVERY_TRUNCATED, XEN_INFO_URGENT, XEN_INFO_USER, XEN_VIEW_LEN,
};

use crate::decode::error_class;
use crate::xenpage::{
    self, PG_OFFLINE_AGAIN, PG_OFFLINE_ANONYMOUS, PG_OFFLINE_BROKEN, PG_OFFLINE_DOM0PAGE,
    PG_OFFLINE_FAILED, PG_OFFLINE_NOT_CONV_RAM, PG_OFFLINE_OFFLINED, PG_OFFLINE_OWNED,
    PG_OFFLINE_PENDING, PG_OFFLINE_XENPAGE,
};

/// The severity of a record, from MCi_STATUS (and MCG_CAP.SER_P):
/// `corrected`; `uncorrected-recoverable` (UCNA, SRAO: the error was not
/// corrected but nothing running consumed it); `action-required` (SRAR);
/// `fatal` (PCC: processor context corrupt); `uncorrected` (UC on a CPU
/// without SER_P, which does not say whether it is recoverable);
/// `invalid` (VAL clear).
pub fn severity(status: u64, mcgcap: u64) -> &'static str {
    match error_class(status) {
        "invalid" => "invalid",
        "corrected" => "corrected",
        "fatal" => "fatal",
        // Without MCG_CAP.SER_P (bit 24) the S/AR bits are not defined.
        _ if mcgcap != 0 && mcgcap >> 24 & 1 == 0 => "uncorrected",
        "SRAR" => "action-required",
        _ => "uncorrected-recoverable",
    }
}

/// Every value [`severity`] returns (the Prometheus label's domain).
pub const SEVERITIES: [&str; 6] = [
    "corrected",
    "uncorrected-recoverable",
    "action-required",
    "fatal",
    "uncorrected",
    "invalid",
];

/// Names of the bits set in `v`, from a `(bit value, name)` table; unknown
/// bits as `0x..`.
fn bit_names(v: u64, table: &[(u64, &'static str)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = v;
    for &(bit, name) in table {
        if v & bit != 0 {
            out.push(name.to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    out
}

/// RECOVERY `action_types` (Xen's `MC_ACTION_*`) as names.
pub fn action_names(types: u8) -> Vec<String> {
    bit_names(
        u64::from(types),
        &[(1, "page_offline"), (2, "cpu_offline"), (4, "cache_shrink")],
    )
}

/// RECOVERY `action_flags` (Xen's `REC_ACTION_*`) as names.
pub fn action_flag_names(flags: u8) -> Vec<String> {
    bit_names(
        u64::from(flags),
        &[(1, "recovered"), (2, "none"), (4, "need_reset")],
    )
}

/// The page-offline result (`page_offline.status`, Xen's `PG_OFFLINE_*`
/// from public/sysctl.h) as names; the owner domain is not included.
pub fn page_result_names(status: u64) -> Vec<String> {
    bit_names(
        status & 0xFFFF,
        &[
            (PG_OFFLINE_OFFLINED, "offlined"),
            (PG_OFFLINE_PENDING, "pending"),
            (PG_OFFLINE_FAILED, "failed"),
            (PG_OFFLINE_AGAIN, "again"),
            (PG_OFFLINE_XENPAGE, "xen_page"),
            (PG_OFFLINE_DOM0PAGE, "dom0_page"),
            (PG_OFFLINE_ANONYMOUS, "anonymous"),
            (PG_OFFLINE_NOT_CONV_RAM, "not_conventional_ram"),
            (PG_OFFLINE_OWNED, "owned"),
            (PG_OFFLINE_BROKEN, "broken"),
        ]
        .map(|(bit, name)| (u64::from(bit), name)),
    )
}

/// The owner domain of the offlined page, when `PG_OFFLINE_OWNED` says
/// there is one. RECOVERY's 64-bit `status` is the page-offline answer, 32
/// bits with the owner in bits 16 to 31: read as [`xenpage::owner`] reads
/// the sysctl's.
pub fn page_owner(status: u64) -> Option<u16> {
    xenpage::owner(status as u32)
}

/// `XEN_INFO_*` flags as names.
pub fn xen_flag_names(flags: u8) -> Vec<String> {
    bit_names(
        u64::from(flags),
        &[
            (u64::from(XEN_INFO_RECOVERY), "recovery"),
            (u64::from(XEN_INFO_RECOVERY_TRUNCATED), "recovery_truncated"),
            (u64::from(XEN_INFO_URGENT), "urgent"),
            (u64::from(XEN_INFO_USER), "user"),
            (u64::from(XEN_INFO_PREVIOUS_BOOT), "previous_boot"),
        ],
    )
}

/// GLOBAL `mc_flags` (Xen's `MC_FLAG_*`) as names.
pub fn mc_flag_names(flags: u32) -> Vec<String> {
    bit_names(
        u64::from(flags),
        &[
            (0x1, "correctable"),
            (0x2, "uncorrectable"),
            (0x4, "recoverable"),
            (0x8, "polled"),
            (0x10, "reset"),
            (0x20, "cmci"),
            (0x40, "mce"),
        ],
    )
}

/// A domain id, or `None` for `DOMID_INVALID` (no domain).
pub fn domid(d: u16) -> Option<u16> {
    (d != DOMID_NONE).then_some(d)
}

/// Xen's physical CPU, or `None` when unknown (`u32::MAX`).
pub fn xen_cpu(x: &XenInfo) -> Option<u32> {
    (x.xen_cpu != u32::MAX).then_some(x.xen_cpu)
}

/// Splits extended records (the device's `XMC_XEN_RECORDS` reads, or a copy
/// of the debugfs `xen` view) into `(seq, record)` entries; returns them and
/// the number of trailing bytes that make no whole entry.
pub fn split_view(buf: &[u8]) -> (Vec<(u64, XenRecord)>, usize) {
    let chunks = buf.chunks_exact(XEN_VIEW_LEN);
    let rest = chunks.remainder().len();
    let entries = chunks
        .filter_map(|c| <&[u8; XEN_VIEW_LEN]>::try_from(c).ok())
        .map(XenRecord::from_view_bytes)
        .collect();
    (entries, rest)
}

/// The `key=value` words appended to the one-line form when the Xen side is
/// known.
pub fn line_suffix(seq: u64, m: &Mce, x: &XenInfo) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    let mut s = format!(
        " seq={seq} xen_cpu={} domid={} running_domid={} addr_space={}",
        opt(xen_cpu(x).map(|c| c.to_string())),
        opt(domid(x.domid).map(|d| d.to_string())),
        opt(domid(x.running_domid).map(|d| d.to_string())),
        x.addr_space_name(),
    );
    if x.addr_space == ADDR_SPACE_GUEST {
        if let Some(ma) = x.machine_addr(m) {
            s.push_str(&format!(" maddr={ma:#x}"));
        }
    }
    if x.flags & XEN_INFO_PREVIOUS_BOOT != 0 {
        s.push_str(" previous_boot=1");
    }
    if x.has_recovery() {
        s.push_str(&format!(
            " recovery={} result={} mfn={:#x}",
            action_names(x.rec_types).join(","),
            page_result_names(x.rec_status).join(","),
            x.mfn
        ));
    }
    s
}

/// The decoded block's Xen lines (`  xen ...`), each ending in a newline.
pub fn decoded_lines(seq: u64, m: &Mce, x: &XenInfo) -> String {
    let mut s = String::new();
    let cpu = xen_cpu(x).map_or("unknown".into(), |c| c.to_string());
    let dom = |d: u16| match domid(d) {
        None => "none".to_string(),
        Some(0) => "0 (dom0)".to_string(),
        Some(DOMID_IO) => "0x7ff1 (DOMID_IO)".to_string(),
        Some(DOMID_XEN) => "0x7ff2 (Xen)".to_string(),
        Some(DOMID_IDLE) => "0x7fff (idle)".to_string(),
        Some(d) if d >= DOMID_FIRST_RESERVED => format!("{d:#x} (Xen-reserved)"),
        Some(d) => d.to_string(),
    };
    s.push_str(&format!(
        "  xen        seq {seq}  Xen CPU {cpu}  page owner {}  running {}\n",
        dom(x.domid),
        dom(x.running_domid)
    ));
    let space = match x.addr_space_name() {
        "machine" => "machine (host-physical) address".to_string(),
        "guest" => {
            let ma = x
                .machine_addr(m)
                .map_or("unknown".into(), |a| format!("{a:#x}"));
            format!(
                "guest-physical address of domain {}: Xen rewrote it for the guest's vMCE; \
                 machine address {ma}",
                dom(x.domid)
            )
        }
        "none" => "no valid address".to_string(),
        _ => "unknown (written by userspace)".to_string(),
    };
    s.push_str(&format!("  addr space {space}\n"));
    s.push_str(&format!(
        "  xen flags  mc_flags {:#x} [{}]  {}\n",
        x.mc_flags,
        mc_flag_names(x.mc_flags).join(" "),
        xen_flag_names(x.flags).join(" ")
    ));
    if x.has_recovery() {
        let owner = page_owner(x.rec_status).map_or(String::new(), |d| format!(", owner dom {d}"));
        s.push_str(&format!(
            "  recovery   {} [{}]: mfn {:#x}, result {:#x} ({}{owner}){}\n",
            action_names(x.rec_types).join(" "),
            action_flag_names(x.rec_flags).join(" "),
            x.mfn,
            x.rec_status,
            page_result_names(x.rec_status).join(" "),
            if x.flags & XEN_INFO_RECOVERY_TRUNCATED != 0 {
                " (entry truncated by Xen: result unknown)"
            } else {
                ""
            }
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmc_core::record::{XenRecord, ADDR_SPACE_MACHINE};

    #[test]
    fn severities() {
        let ser = 0x100_010A;
        assert_eq!(severity(0x9C00_0000_0000_017A, ser), "corrected");
        assert_eq!(
            severity(0xBD00_0000_0000_00C0, ser),
            "uncorrected-recoverable"
        );
        assert_eq!(
            severity(0xBC20_0000_8000_0136, ser),
            "uncorrected-recoverable"
        );
        assert_eq!(severity(0xBD80_0000_0000_0134, ser), "action-required");
        assert_eq!(severity(0xBF20_0000_8000_017A, ser), "fatal");
        assert_eq!(severity(0x1C00_0000_0000_017A, ser), "invalid");
        // No SER_P: UC without PCC says nothing about recoverability.
        assert_eq!(severity(0xBD00_0000_0000_00C0, 0x10A), "uncorrected");
        assert_eq!(severity(0xBF20_0000_8000_017A, 0x10A), "fatal");
        // MCG_CAP unknown (0): trust the S/AR bits.
        assert_eq!(
            severity(0xBD00_0000_0000_00C0, 0),
            "uncorrected-recoverable"
        );
        for s in [0, 1 << 63, u64::MAX, 0xB000_0000_0000_0000] {
            assert!(SEVERITIES.contains(&severity(s, 0)));
            assert!(SEVERITIES.contains(&severity(s, 0x10A)));
        }
    }

    #[test]
    fn names() {
        assert_eq!(action_names(1), ["page_offline"]);
        assert_eq!(action_names(0x13), ["page_offline", "cpu_offline", "0x10"]);
        assert_eq!(action_flag_names(1), ["recovered"]);
        assert!(action_flag_names(0).is_empty());
        assert_eq!(page_result_names(0x2), ["offlined"]);
        assert_eq!(page_result_names(0x0005_1004), ["pending", "owned"]);
        assert_eq!(page_owner(0x0005_1004), Some(5));
        assert_eq!(page_owner(0x2), None);
        assert_eq!(xen_flag_names(0x5), ["recovery", "urgent"]);
        assert_eq!(mc_flag_names(0x44), ["recoverable", "mce"]);
        assert_eq!(domid(0x7FF4), None);
        assert_eq!(domid(0), Some(0));
    }

    #[test]
    fn view_split() {
        let rec = |addr: u64, cpu: u32| XenRecord {
            mce: Mce {
                addr,
                status: 0x9C00_0000_0000_017A,
                ..Mce::default()
            },
            xen: XenInfo {
                xen_cpu: cpu,
                addr_space: ADDR_SPACE_MACHINE,
                ..XenInfo::default()
            },
        };
        let (a, b, c) = (rec(0x1000, 0), rec(0x2000, 1), rec(0x3000, 2));
        let mut buf = [a.view_bytes(7), b.view_bytes(8), c.view_bytes(9)].concat();
        let (snap, rest) = split_view(&buf);
        assert_eq!(rest, 0);
        assert_eq!(snap, vec![(7, a), (8, b), (9, c)]);
        buf.push(0);
        assert_eq!(split_view(&buf).1, 1);
    }
}
