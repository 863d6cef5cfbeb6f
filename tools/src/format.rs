// SPDX-License-Identifier: GPL-2.0-only

//! Splitting device reads into records, and the text forms printed by the
//! tools (one record per line).

use xmc_core::record::{Mce, RECORD_LEN};

use crate::decode::{error_class, status_bits, utc};

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

/// The `xen-mcelog-dump --json` line: one JSON object with every field of
/// the record. 64-bit registers are hex strings (JSON numbers lose
/// precision above 2^53 in most consumers); the rest are numbers.
pub fn json_line(m: &Mce) -> String {
    format!(
        "{{\"cpu\":{},\"extcpu\":{},\"bank\":{},\"status\":\"{:#x}\",\"addr\":\"{:#x}\",\
         \"misc\":\"{:#x}\",\"mcgstatus\":\"{:#x}\",\"ip\":\"{:#x}\",\"cs\":{},\"tsc\":\"{:#x}\",\
         \"time\":{},\"cpuvendor\":{},\"cpuid\":\"{:#x}\",\"socketid\":{},\"apicid\":{},\
         \"mcgcap\":\"{:#x}\",\"synd\":\"{:#x}\",\"ipid\":\"{:#x}\",\"ppin\":\"{:#x}\",\
         \"microcode\":{},\"severity\":{},\"finished\":{},\"inject_flags\":{},\
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
        assert!(j.ends_with(
            "\"kflags\":\"0x0\",\"injected\":false,\"class\":\"corrected\",\
             \"status_bits\":[\"VAL\",\"EN\",\"MISCV\",\"ADDRV\"],\
             \"time_utc\":\"2025-11-24T16:00:00Z\"}"
        ));
        let j = json_line(&Mce {
            time: 0,
            ..sample()
        });
        assert!(j.ends_with(",\"time_utc\":null}"), "{j}");
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
