// SPDX-License-Identifier: GPL-2.0-only

//! Splitting device reads into records, and the text forms printed by the
//! tools (one record per line).

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

/// A JSON array of strings (the names are plain ASCII words).
fn json_strs<S: AsRef<str>>(v: &[S]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("\"{}\"", s.as_ref())).collect();
    format!("[{}]", items.join(","))
}

/// `Some(n)` as a JSON number, `None` as `null`.
fn json_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("null".into(), |v| v.to_string())
}

/// `Some(v)` as a `"0x.."` string, `None` as `null`.
fn json_hex(v: Option<u64>) -> String {
    v.map_or("null".into(), |v| format!("\"{v:#x}\""))
}

/// The `xen-mcelog-dump --json` line without the Xen side (a saved dump of
/// the device): the Xen fields are `null`.
pub fn json_line(m: &Mce) -> String {
    json_record(m, None)
}

/// The `xen-mcelog-dump --json` line: one JSON object with every field of
/// the record, the decoded class, flag bits, date and severity, then the
/// Xen side (`null`s when unknown). 64-bit registers are hex strings (JSON
/// numbers lose precision above 2^53 in most consumers); the rest are
/// numbers. The schema is docs/tools.md, "JSON schema".
pub fn json_record(m: &Mce, x: Option<&(u64, XenInfo)>) -> String {
    let mut s = json_mce(m);
    s.pop(); // the closing brace
    s.push_str(&format!(
        ",\"severity\":\"{}\"",
        xen::severity(m.status, m.mcgcap)
    ));
    match x {
        None => s.push_str(
            ",\"seq\":null,\"xen_cpu\":null,\"domid\":null,\"running_domid\":null,\
             \"addr_space\":null,\"maddr\":null,\"mc_flags\":null,\"xen_flags\":null,\
             \"recovery\":null}",
        ),
        Some((seq, x)) => {
            let recovery = if x.has_recovery() {
                format!(
                    "{{\"action\":{},\"action_flags\":{},\"mfn\":\"{:#x}\",\"status\":\"{:#x}\",\
                     \"result\":{},\"owner_domid\":{},\"truncated\":{}}}",
                    json_strs(&xen::action_names(x.rec_types)),
                    json_strs(&xen::action_flag_names(x.rec_flags)),
                    x.mfn,
                    x.rec_status,
                    json_strs(&xen::page_result_names(x.rec_status)),
                    json_opt(xen::page_owner(x.rec_status)),
                    x.flags & XEN_INFO_RECOVERY_TRUNCATED != 0,
                )
            } else {
                "null".into()
            };
            s.push_str(&format!(
                ",\"seq\":{seq},\"xen_cpu\":{},\"domid\":{},\"running_domid\":{},\
                 \"addr_space\":\"{}\",\"maddr\":{},\"mc_flags\":\"{:#x}\",\"xen_flags\":{},\
                 \"recovery\":{recovery}}}",
                json_opt(xen::xen_cpu(x)),
                json_opt(xen::domid(x.domid)),
                json_opt(xen::domid(x.running_domid)),
                x.addr_space_name(),
                json_hex(x.machine_addr(m)),
                x.mc_flags,
                json_strs(&xen::xen_flag_names(x.flags)),
            ));
        }
    }
    s
}

/// The 128-byte record's part of the JSON object.
fn json_mce(m: &Mce) -> String {
    format!(
        "{{\"cpu\":{},\"extcpu\":{},\"bank\":{},\"status\":\"{:#x}\",\"addr\":\"{:#x}\",\
         \"misc\":\"{:#x}\",\"mcgstatus\":\"{:#x}\",\"ip\":\"{:#x}\",\"cs\":{},\"tsc\":\"{:#x}\",\
         \"time\":{},\"cpuvendor\":{},\"cpuid\":\"{:#x}\",\"socketid\":{},\"apicid\":{},\
         \"mcgcap\":\"{:#x}\",\"synd\":\"{:#x}\",\"ipid\":\"{:#x}\",\"ppin\":\"{:#x}\",\
         \"microcode\":{},\"mce_severity\":{},\"finished\":{},\"inject_flags\":{},\
         \"kflags\":\"{:#x}\",\"injected\":{},\"class\":\"{}\",\"status_bits\":[{}],\
         \"time_utc\":{}}}",
        m.shown_cpu(),
        m.extcpu,
        m.bank,
        m.status,
        m.addr,
        m.misc,
        m.mcgstatus,
        m.ip,
        m.cs,
        m.tsc,
        m.time,
        m.cpuvendor,
        m.cpuid,
        m.socketid,
        m.apicid,
        m.mcgcap,
        m.synd,
        m.ipid,
        m.ppin,
        m.microcode,
        m.severity,
        m.finished,
        m.inject_flags,
        m.kflags,
        m.is_injected(),
        error_class(m.status),
        status_bits(m.status)
            .iter()
            .map(|b| format!("\"{b}\""))
            .collect::<Vec<_>>()
            .join(","),
        if m.time == 0 {
            "null".to_string()
        } else {
            format!(
                "\"{}\"",
                utc(m.time).replace(" UTC", "Z").replacen(' ', "T", 1)
            )
        },
    )
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
