// SPDX-License-Identifier: GPL-2.0-only

//! xen-mcelog-dump: prints machine-check records one per line, from
//! /dev/xen_mcelog (destructive, like mcelog: what is read is gone), from the
//! debugfs `raw` view, or from a saved dump of N x 128-byte records.
//!
//! Exit codes: 0 ok (also when there were no records); 1 the input ended
//! in a partial record; 2 usage error; 3 the input could not be read.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::process::ExitCode;

use xmc_tools::args::Args;
use xmc_tools::format::{dump_line, json_line, split_records};
use xmc_tools::sys::{self, Mode, DEFAULT_DEVICE};
use xmc_tools::RECORD_LEN;

const USAGE: &str = "\
usage: xen-mcelog-dump [--json|--raw] [PATH]

Prints the machine-check records in PATH (default /dev/xen_mcelog), one per
line. On a character device the records are read with buffers of
RECORD_LEN x LOG_LEN (from its ioctls) until the device is empty; reading
consumes them, as mcelog does. Any other file (a saved `cat` of the device,
debugfs xen_mcelog/raw) is read whole as 128-byte records.

  (default)  cpu=N bank=N status=0x.. addr=0x.. misc=0x.. mcgstatus=0x..
             time=N tsc=0x.. cpuid=0x.. vendor=N apicid=N socketid=N
             mcgcap=0x.. ppin=0x.. flags=[injected]
  --json     one JSON object per line (registers as \"0x..\" strings)
  --raw      the records' bytes, unchanged";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Out {
    Text,
    Json,
    Raw,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let a = match Args::parse(&argv, &[], &["--json", "--raw"]) {
        Ok(a) if a.pos.len() <= 1 && !(a.flag("--json") && a.flag("--raw")) => a,
        Ok(_) => return usage("give at most one PATH and one of --json, --raw"),
        Err(e) => return usage(&e),
    };
    let out = if a.flag("--json") {
        Out::Json
    } else if a.flag("--raw") {
        Out::Raw
    } else {
        Out::Text
    };
    let path = a.pos.first().map_or(DEFAULT_DEVICE, String::as_str);
    match dump(path, out) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(rest) => {
            eprintln!("xen-mcelog-dump: {path}: {rest} trailing bytes are not a whole record");
            ExitCode::from(1)
        }
        // Output closed early (`| head`): not an error of ours.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xen-mcelog-dump: {path}: {e}{}", hint(&e));
            ExitCode::from(3)
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("xen-mcelog-dump: {msg} (see xen-mcelog-dump --help)");
    ExitCode::from(2)
}

/// What to do about the common failures.
fn hint(e: &io::Error) -> &'static str {
    match sys::errno_of(e) {
        libc::ENOENT => " (is the module loaded? modprobe xen_mcelog)",
        libc::EACCES | libc::EPERM => " (root is needed)",
        _ => "",
    }
}

/// Prints every record of `path`; returns the count of trailing bytes that
/// did not make a whole record.
fn dump(path: &str, out: Out) -> io::Result<usize> {
    let mut f = sys::open(path, Mode::default())?;
    let stdout = io::stdout();
    let mut w = io::BufWriter::new(stdout.lock());
    let rest = if f.metadata()?.file_type().is_char_device() {
        dump_device(&mut f, out, &mut w)?
    } else {
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        emit(&buf, RECORD_LEN, out, &mut w)?
    };
    w.flush()?;
    Ok(rest)
}

/// Reads the device until it returns 0 (empty), one mcelog-sized buffer at
/// a time.
fn dump_device(f: &mut File, out: Out, w: &mut impl Write) -> io::Result<usize> {
    let (record_len, log_len) = sys::log_geometry(f).unwrap_or_else(|e| {
        eprintln!("xen-mcelog-dump: {e}; assuming {RECORD_LEN}-byte records");
        (RECORD_LEN, 1024)
    });
    let mut buf = vec![0u8; record_len * log_len];
    let mut rest = 0;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(rest);
        }
        rest += emit(&buf[..n], record_len, out, w)?;
    }
}

fn emit(buf: &[u8], record_len: usize, out: Out, w: &mut impl Write) -> io::Result<usize> {
    let whole = buf.len() - buf.len() % record_len;
    if out == Out::Raw {
        w.write_all(&buf[..whole])?;
        return Ok(buf.len() - whole);
    }
    let (recs, rest) = split_records(buf, record_len);
    for m in &recs {
        let line = if out == Out::Json {
            json_line(m)
        } else {
            dump_line(m)
        };
        writeln!(w, "{line}")?;
    }
    Ok(rest)
}
