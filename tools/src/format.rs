// SPDX-License-Identifier: GPL-2.0-only

//! Splitting device reads into records, and the text forms printed by the
//! tools (one record per line).

use serde::{Serialize, Serializer};
use xmc_core::record::{Mce, XenInfo, RECORD_LEN, XEN_INFO_RECOVERY_TRUNCATED};

use crate::decode::{error_class, status_bits, utc};
use crate::xen;

/// Splits `buf` into records of `record_len` bytes. Records shorter than
/// 128 bytes (the in-tree C driver's 112-byte `struct xen_mce`) are
/// zero-padded, longer ones truncated. Returns the records and the number
/// of trailing bytes that do not make a whole record.
pub fn split_records(buf: &[u8], record_len: usize) -> (Vec<Mce>, usize) {
    if record_len == 0 {
        return (Vec::new(), buf.len());
    }
    let chunks = buf.chunks_exact(record_len);
    let rest = chunks.remainder().len();
    let recs = chunks
        .map(|c| {
            let mut b = [0u8; RECORD_LEN];
            let n = c.len().min(RECORD_LEN);
            b[..n].copy_from_slice(&c[..n]);
            Mce::from_bytes(&b)
        })
        .collect();
    (recs, rest)
}

/// The `xen-mcelog-dump` text line.
pub fn dump_line(m: &Mce) -> String {
    format!(
        "cpu={} bank={} status={:#x} addr={:#x} misc={:#x} mcgstatus={:#x} time={} tsc={:#x} \
         cpuid={:#x} vendor={} apicid={} socketid={} mcgcap={:#x} ppin={:#x} flags=[{}]",
        m.shown_cpu(),
        m.bank,
        m.status,
        m.addr,
        m.misc,
        m.mcgstatus,
        m.time,
        m.tsc,
        m.cpuid,
        m.cpuvendor,
        m.apicid,
        m.socketid,
        m.mcgcap,
        m.ppin,
        if m.is_injected() { "injected" } else { "" },
    )
}

/// The `xen-mcelog-dump` text line with the Xen side when it is known
/// (`seq=` `xen_cpu=` `domid=` `running_domid=` `addr_space=`, then
/// `maddr=` for guest-physical addresses and `recovery=` `result=` `mfn=`).
pub fn dump_line_xen(m: &Mce, x: Option<&(u64, XenInfo)>) -> String {
    let mut s = dump_line(m);
    if let Some((seq, x)) = x {
        s.push_str(&xen::line_suffix(*seq, m, x));
    }
    s
}

/// The `xen-mcelog-dump --json` line without the Xen side (a saved dump of
/// the device): the Xen fields are `null`.
pub fn json_line(m: &Mce) -> String {
    json_record(m, None)
}

/// The `xen-mcelog-dump --json` line (without its newline): one JSON object
/// with every field of the record, the decoded class, flag bits, date and
/// severity, then the Xen side (`null`s when unknown); [`JsonRecord`].
pub fn json_record(m: &Mce, x: Option<&(u64, XenInfo)>) -> String {
    serde_json::to_string(&JsonRecord::new(m, x)).expect("a JsonRecord serializes")
}

/// A 64-bit register as JSON: the string `"0x.."` (lowercase, no leading
/// zeros), as JSON numbers lose precision above 2^53 in most consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hex(pub u64);

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

/// The `xen-mcelog-dump --json` object: the schema of docs/tools.md, "JSON
/// schema", as a type. The fields serialize in declaration order, which is
/// the documented order (tools/tests/schema.rs checks the output against
/// the table); 64-bit registers are [`Hex`] strings, the rest numbers. The
/// record's own fields come first, then the Xen side, all `null` when it is
/// unknown (a saved dump of the device).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonRecord {
    /// `extcpu`, or the 8-bit `cpu` when `extcpu` is 0 (as mcelog shows it).
    pub cpu: u32,
    pub extcpu: u32,
    pub bank: u8,
    pub status: Hex,
    pub addr: Hex,
    pub misc: Hex,
    pub mcgstatus: Hex,
    pub ip: Hex,
    pub cs: u8,
    pub tsc: Hex,
    pub time: u64,
    pub cpuvendor: u8,
    pub cpuid: Hex,
    pub socketid: u32,
    pub apicid: u32,
    pub mcgcap: Hex,
    pub synd: Hex,
    pub ipid: Hex,
    pub ppin: Hex,
    pub microcode: u32,
    /// `struct mce` `severity` (always 0 from Xen; see `severity`).
    pub mce_severity: u8,
    pub finished: u8,
    pub inject_flags: u8,
    pub kflags: Hex,
    /// Written into the device by userspace, not from Xen.
    pub injected: bool,
    /// The SDM error class ([`error_class`]).
    pub class: &'static str,
    /// The MCi_STATUS flags set ([`status_bits`]).
    pub status_bits: Vec<&'static str>,
    /// `time` as ISO 8601 UTC, `None` when `time` is 0.
    pub time_utc: Option<String>,
    /// [`xen::severity`].
    pub severity: &'static str,
    /// The Xen side from here on: `None` (`null`) when unknown.
    pub seq: Option<u64>,
    pub xen_cpu: Option<u32>,
    pub domid: Option<u16>,
    pub running_domid: Option<u16>,
    pub addr_space: Option<&'static str>,
    pub maddr: Option<Hex>,
    pub mc_flags: Option<Hex>,
    pub xen_flags: Option<Vec<String>>,
    /// Xen's RECOVERY entry for the bank; `None` also when there is none.
    pub recovery: Option<JsonRecovery>,
}

/// `recovery` of [`JsonRecord`]: Xen's RECOVERY entry (page offlining and
/// its result).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonRecovery {
    pub action: Vec<String>,
    pub action_flags: Vec<String>,
    pub mfn: Hex,
    pub status: Hex,
    pub result: Vec<String>,
    pub owner_domid: Option<u16>,
    pub truncated: bool,
}

impl JsonRecord {
    /// The record `m` with its Xen side `x` (`(seq, info)`), if known.
    pub fn new(m: &Mce, x: Option<&(u64, XenInfo)>) -> JsonRecord {
        let mut j = JsonRecord {
            cpu: m.shown_cpu(),
            extcpu: m.extcpu,
            bank: m.bank,
            status: Hex(m.status),
            addr: Hex(m.addr),
            misc: Hex(m.misc),
            mcgstatus: Hex(m.mcgstatus),
            ip: Hex(m.ip),
            cs: m.cs,
            tsc: Hex(m.tsc),
            time: m.time,
            cpuvendor: m.cpuvendor,
            cpuid: Hex(u64::from(m.cpuid)),
            socketid: m.socketid,
            apicid: m.apicid,
            mcgcap: Hex(m.mcgcap),
            synd: Hex(m.synd),
            ipid: Hex(m.ipid),
            ppin: Hex(m.ppin),
            microcode: m.microcode,
            mce_severity: m.severity,
            finished: m.finished,
            inject_flags: m.inject_flags,
            kflags: Hex(m.kflags),
            injected: m.is_injected(),
            class: error_class(m.status),
            status_bits: status_bits(m.status),
            time_utc: (m.time != 0).then(|| utc(m.time).replace(" UTC", "Z").replacen(' ', "T", 1)),
            severity: xen::severity(m.status, m.mcgcap),
            seq: None,
            xen_cpu: None,
            domid: None,
            running_domid: None,
            addr_space: None,
            maddr: None,
            mc_flags: None,
            xen_flags: None,
            recovery: None,
        };
        if let Some((seq, x)) = x {
            j.seq = Some(*seq);
            j.xen_cpu = xen::xen_cpu(x);
            j.domid = xen::domid(x.domid);
            j.running_domid = xen::domid(x.running_domid);
            j.addr_space = Some(x.addr_space_name());
            j.maddr = x.machine_addr(m).map(Hex);
            j.mc_flags = Some(Hex(u64::from(x.mc_flags)));
            j.xen_flags = Some(xen::xen_flag_names(x.flags));
            j.recovery = x.has_recovery().then(|| JsonRecovery {
                action: xen::action_names(x.rec_types),
                action_flags: xen::action_flag_names(x.rec_flags),
                mfn: Hex(x.mfn),
                status: Hex(x.rec_status),
                result: xen::page_result_names(x.rec_status),
                owner_domid: xen::page_owner(x.rec_status),
                truncated: x.flags & XEN_INFO_RECOVERY_TRUNCATED != 0,
            });
        }
        j
    }
}

/// The `xmc-test collect` line (`rec ...`), every field a test may assert.
pub fn rec_line(m: &Mce) -> String {
    format!(
        "rec status={:#x} addr={:#x} misc={:#x} bank={} mcgstatus={:#x} cpuvendor={} \
         cpuid={:#x} extcpu={} cpu={} apicid={} socketid={} time={} tsc={:#x} mcgcap={:#x} \
         finished={} inject_flags={}",
        m.status,
        m.addr,
        m.misc,
        m.bank,
        m.mcgstatus,
        m.cpuvendor,
        m.cpuid,
        m.extcpu,
        m.cpu,
        m.apicid,
        m.socketid,
        m.time,
        m.tsc,
        m.mcgcap,
        m.finished,
        m.inject_flags,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Mce {
        Mce {
            status: 0x9C00_0000_0000_017A,
            misc: 0x86,
            addr: 0x1000_0000,
            mcgstatus: 5,
            tsc: 0x1234,
            time: 1_764_000_000,
            cpuvendor: 0,
            cpuid: 0x50654,
            bank: 1,
            cpu: 1,
            finished: 1,
            extcpu: 1,
            socketid: 0,
            apicid: 2,
            mcgcap: 0x100_010A,
            ..Mce::default()
        }
    }

    #[test]
    fn dump_line_format() {
        assert_eq!(
            dump_line(&sample()),
            "cpu=1 bank=1 status=0x9c0000000000017a addr=0x10000000 misc=0x86 mcgstatus=0x5 \
             time=1764000000 tsc=0x1234 cpuid=0x50654 vendor=0 apicid=2 socketid=0 \
             mcgcap=0x100010a ppin=0x0 flags=[]"
        );
        let mut m = Mce {
            extcpu: 0,
            cpu: 3,
            ..sample()
        };
        m.mark_injected();
        let l = dump_line(&m);
        assert!(l.starts_with("cpu=3 "), "{l}");
        assert!(l.ends_with(" flags=[injected]"), "{l}");
    }

    #[test]
    fn json_line_format() {
        let j = json_line(&sample());
        assert!(
            j.starts_with("{\"cpu\":1,\"extcpu\":1,\"bank\":1,\"status\":\"0x9c0000000000017a\",")
        );
        assert!(j.contains("\"addr\":\"0x10000000\""));
        assert!(j.contains("\"time\":1764000000,"));
        assert!(j.contains("\"mcgcap\":\"0x100010a\""));
        assert!(j.contains(
            "\"kflags\":\"0x0\",\"injected\":false,\"class\":\"corrected\",\
             \"status_bits\":[\"VAL\",\"EN\",\"MISCV\",\"ADDRV\"],\
             \"time_utc\":\"2025-11-24T16:00:00Z\",\"severity\":\"corrected\","
        ));
        // No Xen side (a saved dump): every Xen field is null.
        assert!(j.ends_with(
            ",\"seq\":null,\"xen_cpu\":null,\"domid\":null,\"running_domid\":null,\
             \"addr_space\":null,\"maddr\":null,\"mc_flags\":null,\"xen_flags\":null,\
             \"recovery\":null}"
        ));
        let j = json_line(&Mce {
            time: 0,
            ..sample()
        });
        assert!(j.contains(",\"time_utc\":null,"), "{j}");
        // Balanced braces and quotes, no newline: one object per line.
        assert_eq!(j.matches('{').count(), 1);
        assert_eq!(j.matches('"').count() % 2, 0);
        assert!(!j.contains('\n'));
    }

    #[test]
    fn json_record_with_xen_side() {
        use xmc_core::record::{ADDR_SPACE_GUEST, XEN_INFO_RECOVERY, XEN_INFO_URGENT};
        // A guest-physical SRAO with Xen's RECOVERY entry (page offlined,
        // owned by domain 3, the entry truncated) and registers above 2^53,
        // which stay exact as hex strings.
        let m = Mce {
            status: 0xBD00_0000_0001_0134,
            addr: 0x7F_1234_5678,
            tsc: u64::MAX,
            ppin: (1 << 53) + 1,
            ..sample()
        };
        let x = XenInfo {
            mfn: 0x12_3456,
            rec_status: 3 << 16 | 0x1002,
            xen_cpu: u32::MAX,
            mc_flags: 0x44,
            domid: 3,
            running_domid: 0x7FF4,
            addr_space: ADDR_SPACE_GUEST,
            rec_types: 1,
            rec_flags: 1,
            flags: XEN_INFO_RECOVERY | XEN_INFO_RECOVERY_TRUNCATED | XEN_INFO_URGENT,
        };
        assert_eq!(
            json_record(&m, Some(&(42, x))),
            "{\"cpu\":1,\"extcpu\":1,\"bank\":1,\"status\":\"0xbd00000000010134\",\
             \"addr\":\"0x7f12345678\",\"misc\":\"0x86\",\"mcgstatus\":\"0x5\",\"ip\":\"0x0\",\
             \"cs\":0,\"tsc\":\"0xffffffffffffffff\",\"time\":1764000000,\"cpuvendor\":0,\
             \"cpuid\":\"0x50654\",\"socketid\":0,\"apicid\":2,\"mcgcap\":\"0x100010a\",\
             \"synd\":\"0x0\",\"ipid\":\"0x0\",\"ppin\":\"0x20000000000001\",\"microcode\":0,\
             \"mce_severity\":0,\"finished\":1,\"inject_flags\":0,\"kflags\":\"0x0\",\
             \"injected\":false,\"class\":\"SRAO\",\
             \"status_bits\":[\"VAL\",\"UC\",\"EN\",\"MISCV\",\"ADDRV\",\"S\"],\
             \"time_utc\":\"2025-11-24T16:00:00Z\",\"severity\":\"uncorrected-recoverable\",\
             \"seq\":42,\"xen_cpu\":null,\"domid\":3,\"running_domid\":null,\
             \"addr_space\":\"guest\",\"maddr\":\"0x123456678\",\"mc_flags\":\"0x44\",\
             \"xen_flags\":[\"recovery\",\"recovery_truncated\",\"urgent\"],\
             \"recovery\":{\"action\":[\"page_offline\"],\"action_flags\":[\"recovered\"],\
             \"mfn\":\"0x123456\",\"status\":\"0x31002\",\"result\":[\"offlined\",\"owned\"],\
             \"owner_domid\":3,\"truncated\":true}}"
        );
        // Without a RECOVERY entry: `recovery` is null, the rest stays.
        let plain = XenInfo { flags: 0, ..x };
        let j = json_record(&m, Some(&(42, plain)));
        assert!(j.ends_with(",\"xen_flags\":[],\"recovery\":null}"), "{j}");
        // Valid JSON by construction: it parses back, every field there.
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 38);
    }

    #[test]
    fn rec_line_format() {
        assert_eq!(
            rec_line(&sample()),
            "rec status=0x9c0000000000017a addr=0x10000000 misc=0x86 bank=1 mcgstatus=0x5 \
             cpuvendor=0 cpuid=0x50654 extcpu=1 cpu=1 apicid=2 socketid=0 time=1764000000 \
             tsc=0x1234 mcgcap=0x100010a finished=1 inject_flags=0"
        );
    }

    #[test]
    fn split_by_record_len() {
        let a = sample();
        let b = Mce {
            addr: 0x2000_0000,
            ..sample()
        };
        let mut buf = a.to_bytes().to_vec();
        buf.extend_from_slice(&b.to_bytes());
        assert_eq!(split_records(&buf, 128), (vec![a, b], 0));
        buf.extend_from_slice(&[0xFF; 5]);
        assert_eq!(split_records(&buf, 128), (vec![a, b], 5));
        // 112-byte xen_mce records: fields past offset 112 read as zero.
        let c = Mce {
            microcode: 0xAB,
            kflags: 3,
            ..sample()
        };
        let short = &c.to_bytes()[..112];
        let (recs, rest) = split_records(short, 112);
        assert_eq!(rest, 0);
        assert_eq!(
            recs,
            vec![Mce {
                microcode: 0,
                kflags: 0,
                ..c
            }]
        );
        assert_eq!(split_records(&buf, 0), (vec![], buf.len()));
        assert_eq!(split_records(&[], 128), (vec![], 0));
    }
}
