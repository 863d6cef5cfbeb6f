// SPDX-License-Identifier: GPL-2.0-only

//! Readers: one collecting records until a count or a timeout (with
//! Xen's queue per record, `--xen`), several reading at once (each record
//! to exactly one), and one opening and reading across module loads.

use std::collections::BTreeSet;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use xmc_core::record::{XEN_INFO_URGENT, XEN_VIEW_LEN};
use xmc_tools::format::{rec_line, split_records};
use xmc_tools::sys::{self, Mode};
use xmc_tools::xen::split_view;
use xmc_tools::RECORD_LEN;

use crate::{geometry, ms_left, open_or_report, poll_read, poll_read_raw, Fail, Res};

pub(crate) fn collect(dev: &str, n: usize, timeout_s: u64, xen: bool) -> Res {
    let mut f = open_or_report(dev, Mode::default())?;
    let (rec_len, log_len) = geometry(&f);
    // Extended records carry which of Xen's queues the record came from.
    let rec_len = if xen {
        match sys::mce_ioctl(&f, sys::XMC_XEN_RECORDS) {
            Ok(len) if len as usize == XEN_VIEW_LEN => XEN_VIEW_LEN,
            r => {
                println!("xen_records=err:{r:?}");
                return Err(Fail::Setup);
            }
        }
    } else {
        rec_len
    };
    let mut buf = vec![0u8; rec_len * log_len];
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let mut got = 0;
    while (n == 0 || got < n) && Instant::now() < deadline {
        match poll_read_raw(&mut f, &mut buf, ms_left(deadline, 1000)) {
            Ok(len) if xen => {
                let (entries, _) = split_view(&buf[..len]);
                for (seq, r) in &entries {
                    let urgent = u8::from(r.xen.flags & XEN_INFO_URGENT != 0);
                    println!("{} seq={seq} urgent={urgent}", rec_line(&r.mce));
                }
                got += entries.len();
            }
            Ok(len) => {
                let recs = split_records(&buf[..len], rec_len).0;
                for m in &recs {
                    println!("{}", rec_line(m));
                }
                got += recs.len();
            }
            Err(e) => {
                println!("{e}");
                break;
            }
        }
    }
    println!("collected={got}");
    Ok(())
}

/// Opens, reads and closes `dev` as fast as it can for `seconds` (or until
/// `stop` exists), across loads and unloads of the module: whatever the
/// device serves from the instant its node appears must be usable then. An
/// open that finds no device (no node, or the module going or not there) is
/// counted as absent, not as an error.
pub(crate) fn open_loop(dev: &str, seconds: u64, stop: Option<&String>) -> Res {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut opens, mut reads, mut absent) = (0u64, 0u64, 0u64);
    let mut other = std::collections::BTreeMap::<i32, u64>::new();
    let mut buf = vec![0u8; RECORD_LEN * 16];
    let mut i = 0u64;
    while Instant::now() < deadline {
        i += 1;
        if i % 256 == 0 && stop.is_some_and(|p| std::path::Path::new(p).exists()) {
            break;
        }
        match sys::open(dev, Mode::default()) {
            Ok(mut f) => {
                opens += 1;
                match f.read(&mut buf) {
                    Ok(n) if n % RECORD_LEN == 0 => reads += 1,
                    // Not whole records: counted as "error" 0.
                    Ok(_) => *other.entry(0).or_default() += 1,
                    Err(e) => *other.entry(sys::errno_of(&e)).or_default() += 1,
                }
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ENODEV | libc::ENXIO)
                ) =>
            {
                absent += 1
            }
            Err(e) => *other.entry(sys::errno_of(&e)).or_default() += 1,
        }
    }
    let errs: Vec<String> = other.iter().map(|(e, c)| format!("{e}:{c}")).collect();
    println!(
        "opens={opens} reads={reads} absent={absent} other={}",
        if errs.is_empty() {
            "0".into()
        } else {
            errs.join(",")
        }
    );
    Ok(())
}

pub(crate) fn readers(dev: &str, k: usize, n: usize, timeout_s: u64, bufrecs: Option<u64>) -> Res {
    let probe = open_or_report(dev, Mode::default())?;
    let (rec_len, log_len) = geometry(&probe);
    drop(probe);
    let buf_len = rec_len * bufrecs.map_or(log_len, |b| b as usize);
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    let total = AtomicUsize::new(0);
    let addrs = Mutex::new(Vec::new());
    let mut files = Vec::new();
    for _ in 0..k {
        files.push(open_or_report(dev, Mode::default())?);
    }
    let per: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .into_iter()
            .map(|mut f| {
                let (total, addrs) = (&total, &addrs);
                s.spawn(move || {
                    let mut buf = vec![0u8; buf_len];
                    let mut mine = 0;
                    while total.load(Ordering::SeqCst) < n && Instant::now() < deadline {
                        match poll_read(&mut f, &mut buf, rec_len, ms_left(deadline, 100)) {
                            Ok(recs) if !recs.is_empty() => {
                                mine += recs.len();
                                total.fetch_add(recs.len(), Ordering::SeqCst);
                                let mut a = addrs.lock().unwrap_or_else(|p| p.into_inner());
                                a.extend(recs.iter().map(|m| m.addr));
                            }
                            Ok(_) => {}
                            Err(e) => {
                                eprintln!("xmc-test: reader: {e}");
                                break;
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let addrs = addrs.into_inner().unwrap_or_else(|p| p.into_inner());
    let unique = addrs.iter().collect::<BTreeSet<_>>().len();
    let per: Vec<String> = per.iter().map(usize::to_string).collect();
    println!(
        "total={} unique={unique} dup={} per_reader={}",
        addrs.len(),
        addrs.len() - unique,
        per.join(",")
    );
    Ok(())
}
