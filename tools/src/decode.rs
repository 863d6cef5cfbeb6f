// SPDX-License-Identifier: GPL-2.0-only

//! Human-readable decoding of a record for `xen-mcelog-dump --decode`, the
//! extra JSON fields, and the hex dump: MCi_STATUS bits and error class, the
//! architectural MCA error code, MCG_STATUS/MCG_CAP bits, CPUID.1.EAX, the
//! vendor, and the record time as a UTC date. Architectural facts only (Intel
//! SDM vol. 3B ch. 16, which AMD's legacy MCA follows for these bits); the
//! model-specific decoding is mcelog's job.

use std::fmt::Write as _;

use xmc_core::record::{
    Mce, XenInfo, ADDR_SPACE_GUEST, MCI_STATUS_ADDRV, MCI_STATUS_AR, MCI_STATUS_EN,
    MCI_STATUS_MISCV, MCI_STATUS_OVER, MCI_STATUS_PCC, MCI_STATUS_S, MCI_STATUS_UC, MCI_STATUS_VAL,
    RECORD_LEN,
};

use crate::xen;

/// The MCi_STATUS flag bits, high to low, with their SDM names.
pub const STATUS_BITS: [(u32, &str); 9] = [
    (MCI_STATUS_VAL.trailing_zeros(), "VAL"),
    (MCI_STATUS_OVER.trailing_zeros(), "OVER"),
    (MCI_STATUS_UC.trailing_zeros(), "UC"),
    (MCI_STATUS_EN.trailing_zeros(), "EN"),
    (MCI_STATUS_MISCV.trailing_zeros(), "MISCV"),
    (MCI_STATUS_ADDRV.trailing_zeros(), "ADDRV"),
    (MCI_STATUS_PCC.trailing_zeros(), "PCC"),
    (MCI_STATUS_S.trailing_zeros(), "S"),
    (MCI_STATUS_AR.trailing_zeros(), "AR"),
];

/// What each MCi_STATUS flag means, for the decoded block.
fn status_bit_meaning(name: &str) -> &'static str {
    match name {
        "VAL" => "valid",
        "OVER" => "overflow: an earlier error was lost",
        "UC" => "uncorrected",
        "EN" => "error reporting enabled",
        "MISCV" => "MISC valid",
        "ADDRV" => "ADDR valid",
        "PCC" => "processor context corrupt",
        "S" => "signalled by #MC",
        "AR" => "action required",
        _ => "",
    }
}

/// The names of the flag bits set in `status`, high to low.
pub fn status_bits(status: u64) -> Vec<&'static str> {
    STATUS_BITS
        .iter()
        .filter(|(b, _)| status >> b & 1 == 1)
        .map(|&(_, n)| n)
        .collect()
}

/// The error class from UC/PCC/S/AR (SDM "MCA error classification"):
/// `invalid`, `corrected`, `fatal` (PCC), `SRAR`, `SRAO`, `UCNA`.
pub fn error_class(status: u64) -> &'static str {
    let bit = |b: u64| status & b != 0;
    if !bit(MCI_STATUS_VAL) {
        "invalid"
    } else if !bit(MCI_STATUS_UC) {
        "corrected"
    } else if bit(MCI_STATUS_PCC) {
        "fatal"
    } else if bit(MCI_STATUS_S) && bit(MCI_STATUS_AR) {
        "SRAR"
    } else if bit(MCI_STATUS_S) {
        "SRAO"
    } else {
        "UCNA"
    }
}

/// A longer wording of [`error_class`].
fn class_text(class: &str) -> &'static str {
    match class {
        "invalid" => "not a valid error (VAL=0)",
        "corrected" => "corrected error (CE)",
        "fatal" => "uncorrected, processor context corrupt (fatal)",
        "SRAR" => "uncorrected, software recoverable, action required (SRAR)",
        "SRAO" => "uncorrected, software recoverable, action optional (SRAO)",
        _ => "uncorrected, no action required (UCNA)",
    }
}

/// The architectural meaning of the MCA error code (MCi_STATUS[15:0]).
pub fn mca_code(status: u64) -> String {
    let code = (status & 0xFFFF) as u16;
    let c = code & !0x1000; // bit 12: corrected-error filtering, not part of the type
    let level = |ll: u16| ["L0", "L1", "L2", "generic level"][usize::from(ll & 3)];
    let ttype = |tt: u16| ["instruction", "data", "generic", "reserved type"][usize::from(tt & 3)];
    let request = |rrrr: u16| {
        [
            "generic error",
            "generic read",
            "generic write",
            "data read",
            "data write",
            "instruction fetch",
            "prefetch",
            "eviction",
            "snoop",
        ]
        .get(usize::from(rrrr))
        .copied()
        .unwrap_or("reserved request")
    };
    match c {
        0 => "no error".into(),
        1 => "unclassified".into(),
        2 => "microcode ROM parity error".into(),
        3 => "external error".into(),
        4 => "FRC error".into(),
        5 => "internal parity error".into(),
        6 => "SMM handler code access violation".into(),
        0x400 => "internal timer error".into(),
        _ if c & 0xFF00 == 0x0400 => "internal unclassified error".into(),
        _ if c & 0xFFFC == 0x000C => format!("generic cache hierarchy error, {}", level(c)),
        _ if c & 0xFFF0 == 0x0010 => format!("TLB error, {} {}", ttype(c >> 2), level(c)),
        _ if c & 0xFF80 == 0x0080 => {
            let op = [
                "generic",
                "read",
                "write",
                "address/command",
                "memory scrubbing",
            ]
            .get(usize::from(c >> 4 & 7))
            .copied()
            .unwrap_or("reserved");
            let ch = c & 0xF;
            if ch == 0xF {
                format!("memory controller error, {op}, channel unspecified")
            } else {
                format!("memory controller error, {op}, channel {ch}")
            }
        }
        _ if c & 0xFF00 == 0x0100 => format!(
            "cache hierarchy error, {} {} {}",
            ttype(c >> 2),
            request(c >> 4 & 0xF),
            level(c)
        ),
        _ if c & 0xF800 == 0x0800 => {
            let pp = ["source", "responder", "observer", "generic"][usize::from(c >> 9 & 3)];
            let ii = ["memory", "reserved", "I/O", "other"][usize::from(c >> 2 & 3)];
            let timeout = if c & 0x100 != 0 { ", timeout" } else { "" };
            format!(
                "bus/interconnect error, {pp} {} {ii} {}{timeout}",
                request(c >> 4 & 0xF),
                level(c)
            )
        }
        _ => "model-specific or unknown error code".into(),
    }
}

/// MCG_STATUS flag names (RIPV, EIPV, MCIP, LMCES).
pub fn mcgstatus_bits(v: u64) -> Vec<&'static str> {
    [(0, "RIPV"), (1, "EIPV"), (2, "MCIP"), (3, "LMCES")]
        .iter()
        .filter(|(b, _)| v >> b & 1 == 1)
        .map(|&(_, n)| n)
        .collect()
}

/// MCG_CAP: the bank count and the capability flags that are set.
pub fn mcgcap_text(v: u64) -> String {
    let mut s = format!("{} banks", v & 0xFF);
    for (b, n) in [
        (8, "CTL_P"),
        (9, "EXT_P"),
        (10, "CMCI_P"),
        (11, "TES_P"),
        (24, "SER_P"),
        (26, "ELOG_P"),
        (27, "LMCE_P"),
    ] {
        if v >> b & 1 == 1 {
            s.push(' ');
            s.push_str(n);
        }
    }
    s
}

/// `(family, model, stepping)` from CPUID.1.EAX, as Linux computes them
/// (extended model for families 6 and 15+, extended family for 15+).
pub fn cpuid_fms(eax: u32) -> (u32, u32, u32) {
    let base = eax >> 8 & 0xF;
    let family = if base == 0xF {
        base + (eax >> 20 & 0xFF)
    } else {
        base
    };
    let mut model = eax >> 4 & 0xF;
    if base == 6 || base == 0xF {
        model |= (eax >> 16 & 0xF) << 4;
    }
    (family, model, eax & 0xF)
}

/// The Linux `X86_VENDOR_*` number's name.
pub fn vendor_name(v: u8) -> &'static str {
    match v {
        0 => "Intel",
        1 => "Cyrix",
        2 => "AMD",
        3 => "UMC",
        5 => "Centaur",
        7 => "Transmeta",
        8 => "NSC",
        9 => "Hygon",
        10 => "Zhaoxin",
        0xFF => "unknown",
        _ => "other",
    }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC` (proleptic
/// Gregorian, Howard Hinnant's days-to-civil algorithm).
pub fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The record time as printed: the date, or why there is none.
fn time_text(t: u64) -> String {
    if t == 0 {
        "unknown (0: the producer did not set it)".into()
    } else {
        format!("{} ({t})", utc(t))
    }
}

/// The `xen-mcelog-dump --decode` block for record number `n` (from 1):
/// one `label  value` line per field, ending with an empty line.
pub fn decoded_block(m: &Mce, n: usize) -> String {
    let mut s = String::new();
    let class = error_class(m.status);
    let inj = if m.is_injected() {
        " [injected by a write to the device]"
    } else {
        ""
    };
    let _ = writeln!(s, "record {n}: {}{inj}", class_text(class));
    let _ = writeln!(s, "  time       {}", time_text(m.time));
    let cpu = if m.extcpu == u32::MAX {
        "unknown".to_string()
    } else {
        m.shown_cpu().to_string()
    };
    let _ = writeln!(
        s,
        "  cpu        {cpu} (Xen physical CPU)  socket {}  apic {}",
        m.socketid, m.apicid
    );
    let _ = writeln!(s, "  bank       {}", m.bank);
    let _ = writeln!(s, "  status     {:#018x}", m.status);
    let bits = status_bits(m.status);
    let _ = writeln!(
        s,
        "             {}",
        if bits.is_empty() {
            "(no flag bits)".to_string()
        } else {
            bits.iter()
                .map(|b| format!("{b} ({})", status_bit_meaning(b)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let _ = writeln!(
        s,
        "             MCA code {:#06x}: {}; model-specific {:#06x}",
        m.status & 0xFFFF,
        mca_code(m.status),
        m.status >> 16 & 0xFFFF
    );
    if m.status & MCI_STATUS_UC == 0 && m.status & MCI_STATUS_VAL != 0 {
        let _ = writeln!(
            s,
            "             corrected-error count {}",
            m.status >> 38 & 0x7FFF
        );
    }
    let addr_note = if m.status & MCI_STATUS_ADDRV != 0 {
        " (machine address)"
    } else {
        " (not valid: ADDRV=0)"
    };
    let _ = writeln!(s, "  addr       {:#x}{addr_note}", m.addr);
    let misc_note = if m.status & MCI_STATUS_MISCV != 0 {
        ""
    } else {
        " (not valid: MISCV=0)"
    };
    let _ = writeln!(s, "  misc       {:#x}{misc_note}", m.misc);
    let _ = writeln!(
        s,
        "  mcgstatus  {:#x} {}",
        m.mcgstatus,
        mcgstatus_bits(m.mcgstatus).join(" ")
    );
    let _ = writeln!(
        s,
        "  mcgcap     {:#x} ({})",
        m.mcgcap,
        mcgcap_text(m.mcgcap)
    );
    if m.cpuid == 0 {
        let _ = writeln!(
            s,
            "  cpu type   vendor {} ({}), cpuid not set",
            vendor_name(m.cpuvendor),
            m.cpuvendor
        );
    } else {
        let (f, mo, st) = cpuid_fms(m.cpuid);
        let _ = writeln!(
            s,
            "  cpu type   vendor {} ({}), cpuid {:#x}: family {f:#x} model {mo:#x} stepping {st}",
            vendor_name(m.cpuvendor),
            m.cpuvendor,
            m.cpuid
        );
    }
    let _ = writeln!(
        s,
        "  other      tsc {:#x}  ip {:#x}  cs {:#x}  ppin {:#x}  microcode {:#x}  synd {:#x}  ipid {:#x}",
        m.tsc, m.ip, m.cs, m.ppin, m.microcode, m.synd, m.ipid
    );
    s
}

/// [`decoded_block`] with the Xen side when it is known: the address is
/// labelled guest-physical when Xen rewrote it, and `xen`, `addr space`,
/// `xen flags` (and `recovery`) lines follow.
pub fn decoded_block_xen(m: &Mce, x: Option<&(u64, XenInfo)>, n: usize) -> String {
    let mut s = decoded_block(m, n);
    if let Some((seq, x)) = x {
        if x.addr_space == ADDR_SPACE_GUEST {
            s = s.replace(
                " (machine address)\n",
                &format!(" (guest-physical, domain {})\n", x.domid),
            );
        }
        s.push_str(&xen::decoded_lines(*seq, m, x));
    }
    s
}

/// The `xen-mcelog-dump --hex` block for record number `n`: offset, 16
/// bytes in hex, the same as ASCII (`.` for non-printable bytes).
pub fn hex_block(bytes: &[u8], n: usize) -> String {
    let mut s = format!("record {n}: {} bytes\n", bytes.len());
    for (i, row) in bytes.chunks(16).enumerate() {
        let _ = write!(s, "  {:04x}:", i * 16);
        for (j, b) in row.iter().enumerate() {
            let sep = if j == 8 { "  " } else { " " };
            let _ = write!(s, "{sep}{b:02x}");
        }
        for j in row.len()..16 {
            s.push_str(if j == 8 { "    " } else { "   " });
        }
        s.push_str("  |");
        s.extend(row.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        }));
        s.push_str("|\n");
    }
    s
}

/// The bytes of `m` as the device gives them (for `--hex` of converted
/// 112-byte records, which are shown padded to 128).
pub fn record_bytes(m: &Mce) -> [u8; RECORD_LEN] {
    m.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bits_and_classes() {
        assert_eq!(
            status_bits(0x9C00_0000_0000_017A),
            ["VAL", "EN", "MISCV", "ADDRV"]
        );
        assert_eq!(error_class(0x9C00_0000_0000_017A), "corrected");
        assert_eq!(
            status_bits(0xBD00_0000_0000_00C0),
            ["VAL", "UC", "EN", "MISCV", "ADDRV", "S"]
        );
        assert_eq!(error_class(0xBD00_0000_0000_00C0), "SRAO");
        assert_eq!(error_class(0xBC20_0000_8000_0136), "UCNA");
        assert_eq!(error_class(0xBD80_0000_0000_0134), "SRAR");
        assert_eq!(error_class(0xBF20_0000_8000_017A), "fatal");
        assert_eq!(error_class(0x1C00_0000_0000_017A), "invalid");
        assert_eq!(status_bits(u64::MAX).len(), 9);
        assert!(status_bits(0).is_empty());
        assert_eq!(status_bits(0xC000_0000_0000_0000), ["VAL", "OVER"]);
    }

    #[test]
    fn mca_codes() {
        assert_eq!(
            mca_code(0x017A),
            "cache hierarchy error, generic eviction L2"
        );
        assert_eq!(mca_code(0x0136), "cache hierarchy error, data data read L2");
        assert_eq!(
            mca_code(0x00C0),
            "memory controller error, memory scrubbing, channel 0"
        );
        assert_eq!(
            mca_code(0x008F),
            "memory controller error, generic, channel unspecified"
        );
        assert_eq!(mca_code(0x0000), "no error");
        assert_eq!(mca_code(0x0005), "internal parity error");
        assert_eq!(mca_code(0x0400), "internal timer error");
        assert_eq!(mca_code(0x0405), "internal unclassified error");
        assert_eq!(mca_code(0x000E), "generic cache hierarchy error, L2");
        assert_eq!(mca_code(0x0015), "TLB error, data L1");
        assert_eq!(
            mca_code(0x0E0F),
            "bus/interconnect error, generic generic error other generic level"
        );
        assert_eq!(
            mca_code(0x0B13),
            "bus/interconnect error, responder generic read memory generic level, timeout"
        );
        // The filter bit (12) does not change the type.
        assert_eq!(mca_code(0x117A), mca_code(0x017A));
        assert_eq!(mca_code(0x0040), "model-specific or unknown error code");
    }

    #[test]
    fn mcg_and_cpuid() {
        assert_eq!(mcgstatus_bits(5), ["RIPV", "MCIP"]);
        assert_eq!(mcgstatus_bits(0xF), ["RIPV", "EIPV", "MCIP", "LMCES"]);
        assert_eq!(mcgcap_text(0x100_010A), "10 banks CTL_P SER_P");
        assert_eq!(mcgcap_text(0x6), "6 banks");
        assert_eq!(cpuid_fms(0x506E3), (6, 0x5E, 3));
        assert_eq!(cpuid_fms(0x50654), (6, 0x55, 4));
        assert_eq!(cpuid_fms(0xA20F10), (0x19, 0x21, 0));
        assert_eq!(cpuid_fms(0x0F43), (0xF, 4, 3));
        assert_eq!(cpuid_fms(0x0543), (5, 4, 3));
        assert_eq!(vendor_name(0), "Intel");
        assert_eq!(vendor_name(2), "AMD");
        assert_eq!(vendor_name(0xFF), "unknown");
    }

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_764_000_000), "2025-11-24 16:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(4_102_444_799), "2099-12-31 23:59:59 UTC");
        assert_eq!(utc(1_798_761_600), "2027-01-01 00:00:00 UTC");
    }

    fn sample() -> Mce {
        Mce {
            status: 0x9C00_0000_0000_017A,
            misc: 0x86,
            addr: 0x1000_0000,
            mcgstatus: 5,
            time: 1_764_000_000,
            cpuvendor: 0,
            cpuid: 0x506E3,
            bank: 1,
            cpu: 1,
            finished: 1,
            extcpu: 1,
            apicid: 2,
            mcgcap: 0x100_010A,
            ..Mce::default()
        }
    }

    #[test]
    fn decoded_block_lines() {
        let b = decoded_block(&sample(), 1);
        let lines: Vec<&str> = b.lines().collect();
        assert_eq!(lines[0], "record 1: corrected error (CE)");
        assert_eq!(
            lines[1],
            "  time       2025-11-24 16:00:00 UTC (1764000000)"
        );
        assert_eq!(
            lines[2],
            "  cpu        1 (Xen physical CPU)  socket 0  apic 2"
        );
        assert_eq!(lines[3], "  bank       1");
        assert_eq!(lines[4], "  status     0x9c0000000000017a");
        assert_eq!(
            lines[5],
            "             VAL (valid), EN (error reporting enabled), MISCV (MISC valid), \
             ADDRV (ADDR valid)"
        );
        assert_eq!(
            lines[6],
            "             MCA code 0x017a: cache hierarchy error, generic eviction L2; \
             model-specific 0x0000"
        );
        assert_eq!(lines[7], "             corrected-error count 0");
        assert_eq!(lines[8], "  addr       0x10000000 (machine address)");
        assert_eq!(lines[9], "  misc       0x86");
        assert_eq!(lines[10], "  mcgstatus  0x5 RIPV MCIP");
        assert_eq!(lines[11], "  mcgcap     0x100010a (10 banks CTL_P SER_P)");
        assert_eq!(
            lines[12],
            "  cpu type   vendor Intel (0), cpuid 0x506e3: family 0x6 model 0x5e stepping 3"
        );
        assert!(lines[13].starts_with("  other      tsc 0x0  ip 0x0"));
        assert_eq!(lines.len(), 14);

        let mut m = Mce {
            status: 0xBD00_0000_0000_00C0,
            time: 0,
            extcpu: u32::MAX,
            cpuid: 0,
            ..sample()
        };
        m.mark_injected();
        let b = decoded_block(&m, 7);
        assert!(b.starts_with(
            "record 7: uncorrected, software recoverable, action optional (SRAO) \
             [injected by a write to the device]\n"
        ));
        assert!(b.contains("  time       unknown (0: the producer did not set it)\n"));
        assert!(b.contains("  cpu        unknown (Xen physical CPU)"));
        assert!(b.contains(", S (signalled by #MC)\n"));
        assert!(b.contains("memory controller error, memory scrubbing, channel 0"));
        assert!(b.contains("  cpu type   vendor Intel (0), cpuid not set\n"));
        assert!(!b.contains("corrected-error count"));
        let m = Mce {
            status: 0x8000_0000_0000_0000,
            ..sample()
        };
        assert!(decoded_block(&m, 1).contains("(not valid: ADDRV=0)"));
        assert!(decoded_block(&m, 1).contains("(not valid: MISCV=0)"));
    }

    #[test]
    fn hex_dump() {
        let bytes = record_bytes(&sample());
        let h = hex_block(&bytes, 2);
        let lines: Vec<&str> = h.lines().collect();
        assert_eq!(lines.len(), 9);
        assert_eq!(lines[0], "record 2: 128 bytes");
        assert_eq!(
            lines[1],
            "  0000: 7a 01 00 00 00 00 00 9c  86 00 00 00 00 00 00 00  |z...............|"
        );
        assert_eq!(
            lines[2],
            "  0010: 00 00 00 10 00 00 00 00  05 00 00 00 00 00 00 00  |................|"
        );
        assert!(lines[8].starts_with("  0070:"));
        // A short row is padded so the ASCII column lines up.
        let h = hex_block(b"AB", 1);
        assert_eq!(
            h.lines().nth(1).unwrap(),
            format!("  0000: 41 42{}  |AB|", " ".repeat(3 * 14 + 1))
        );
    }
}
