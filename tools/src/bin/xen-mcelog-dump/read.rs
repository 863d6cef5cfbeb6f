// SPDX-License-Identifier: GPL-2.0-only

//! Reading the records: a saved dump or copy of the `xen` view, or the
//! device, one buffer at a time until it is empty; with `--follow`, then
//! waiting for more (poll, with the heartbeat, the timeout, systemd's
//! watchdog and the signals' self-pipe).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::sync::atomic::Ordering;
use std::time::Instant;

use xmc_core::record::XEN_VIEW_LEN;
use xmc_tools::format::split_records;
use xmc_tools::retire::Level;
use xmc_tools::sys::{self, Mode};
use xmc_tools::xen::split_view;
use xmc_tools::RECORD_LEN;

use crate::notify::Notify;
use crate::printer::{Item, Printer};
use crate::signals::SIG_PIPE;
use crate::textfile::{lock, Shared};
use crate::worker::RetireThread;
use crate::{retire_log, Done, ReadOpts};

/// The misc device's number, to tell /dev/xen_mcelog from other devices.
const MISC_DEV: &str = "/sys/class/misc/xen_mcelog/dev";

pub(crate) fn dump(
    path: &str,
    o: &ReadOpts,
    prom: Option<Shared>,
    retire: Option<RetireThread>,
) -> io::Result<Done> {
    let mut f = sys::open(path, Mode::default())?;
    let stdout = io::stdout();
    let mut p = Printer {
        out: o.out,
        w: io::BufWriter::new(stdout.lock()),
        printed: 0,
        prom,
        retire,
    };
    // The textfile exists (with no samples) from the start.
    p.write_prom()?;
    let meta = f.metadata()?;
    let is_dev = meta.file_type().is_char_device();
    if o.follow && !is_dev {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--follow needs a character device (poll)",
        ));
    }
    let done = if is_dev {
        let ours = is_xen_mcelog(meta.rdev());
        dump_device(&mut f, o, ours, &mut p)?
    } else {
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        let rest = if o.view {
            let (entries, rest) = split_view(&buf);
            let bytes: Vec<[u8; RECORD_LEN]> =
                entries.iter().map(|(_, r)| r.mce.to_bytes()).collect();
            let items: Vec<Item> = entries
                .iter()
                .zip(&bytes)
                .map(|((seq, r), b)| Item {
                    mce: r.mce,
                    raw: b,
                    xen: Some((*seq, r.xen)),
                })
                .collect();
            p.emit(&items, o.count)?;
            rest
        } else {
            let (recs, rest) = split_records(&buf, RECORD_LEN);
            let items: Vec<Item> = recs
                .iter()
                .zip(buf.chunks_exact(RECORD_LEN))
                .map(|(m, raw)| Item {
                    mce: *m,
                    raw,
                    xen: None,
                })
                .collect();
            p.emit(&items, o.count)?;
            rest
        };
        Done::Rest(rest)
    };
    p.w.flush()?;
    Ok(done)
}

/// Whether device number `rdev` is xen_mcelog's misc device (only that one
/// knows `XMC_XEN_RECORDS`; another device could give the number another meaning).
fn is_xen_mcelog(rdev: u64) -> bool {
    let major = (rdev >> 8 & 0xFFF) | (rdev >> 32 & !0xFFF);
    let minor = (rdev & 0xFF) | (rdev >> 12 & !0xFF);
    std::fs::read_to_string(MISC_DEV).is_ok_and(|s| s.trim() == format!("{major}:{minor}"))
}

/// Reads the device until it returns 0 (empty), one buffer at a time; with
/// `--follow` then waits for more with poll. On xen_mcelog's device the
/// reads return extended records (`XMC_XEN_RECORDS`), each with its Xen side.
fn dump_device(
    f: &mut File,
    o: &ReadOpts,
    ours: bool,
    p: &mut Printer<impl Write>,
) -> io::Result<Done> {
    let (record_len, log_len) = sys::log_geometry(f).unwrap_or_else(|e| {
        eprintln!("xen-mcelog-dump: {e}; assuming {RECORD_LEN}-byte records");
        (RECORD_LEN, 1024)
    });
    // Extended records for this open file only (mcelog's are unchanged);
    // a device without the ioctl (the C driver, an older module) refuses it.
    let extended = ours && sys::mce_ioctl(f, sys::XMC_XEN_RECORDS) == Ok(XEN_VIEW_LEN as i32);
    let record_len = if extended { XEN_VIEW_LEN } else { record_len };
    if p.retire.is_some() && !extended {
        retire_log(
            Level::Err,
            "this device gives no Xen side with its records (not xen_mcelog's \
             /dev/xen_mcelog?): no machine address is known, nothing is counted"
                .into(),
        );
    }
    let mut buf = vec![0u8; record_len * log_len];
    let mut rest = 0;
    let start = Instant::now();
    // The loss flag, after each read: devices without it (a terminal in
    // the tests) refuse the ioctl once and are not asked again.
    let mut flags = true;
    // The module's own counters for the textfile (XMC_GET_STATS), after
    // each read: each batch and each heartbeat writes a fresh snapshot.
    // Only xen_mcelog's device knows the number.
    let mut module_stats = ours && p.prom.is_some();
    let enough = |p: &Printer<_>| o.count.is_some_and(|c| p.printed >= c);
    // Under systemd (Type=notify): ready now that the device is open and
    // the textfile was tried; then the watchdog, fed by the loop itself.
    let mut sd = Notify::from_env();
    if o.follow {
        sd.ready();
    }
    loop {
        if enough(p) {
            return Ok(Done::Rest(rest));
        }
        // Each wake-up: a read of what arrived, after poll or a batch.
        sd.wake();
        let n = f.read(&mut buf)?;
        if flags {
            match sys::mce_ioctl(f, sys::MCE_GETCLEAR_FLAGS) {
                Ok(v) if v & 1 << sys::MCE_OVERFLOW != 0 => p.overflow(),
                Ok(_) => {}
                Err(_) => flags = false,
            }
        }
        if module_stats {
            module_stats = p.module_stats(f);
        }
        p.read_done(n == 0, o.heartbeat);
        if n > 0 {
            let items: Vec<Item> = if extended {
                let (entries, r) = split_view(&buf[..n]);
                rest += r;
                entries
                    .iter()
                    .zip(buf.chunks_exact(record_len))
                    .map(|((seq, x), chunk)| Item {
                        mce: x.mce,
                        raw: &chunk[8..8 + RECORD_LEN],
                        xen: Some((*seq, x.xen)),
                    })
                    .collect()
            } else {
                let (recs, r) = split_records(&buf[..n], record_len);
                rest += r;
                recs.iter()
                    .zip(buf.chunks_exact(record_len))
                    .map(|(m, raw)| Item {
                        mce: *m,
                        raw,
                        xen: None,
                    })
                    .collect()
            };
            p.emit(&items, None)?;
            p.w.flush()?;
            continue;
        }
        if !o.follow {
            return Ok(Done::Rest(rest));
        }
        let beat = p.prom.as_ref().map(|tf| {
            let left = o.heartbeat.saturating_sub(lock(tf).written.elapsed());
            i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX)
        });
        let wait_ms = match o.timeout {
            None => beat.unwrap_or(-1),
            Some(t) => match t.checked_sub(start.elapsed()) {
                None => {
                    return Ok(if o.count.is_some() {
                        Done::TimedOut
                    } else {
                        Done::Rest(rest)
                    })
                }
                Some(left) => {
                    let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
                    beat.map_or(ms, |b| b.min(ms))
                }
            },
        };
        // Awake in time for the watchdog, also when nothing arrives.
        let wait_ms = match sd.sleep_ms() {
            Some(w) if wait_ms < 0 || w < wait_ms => w,
            _ => wait_ms,
        };
        // The device, and the signals' self-pipe (whichever thread took them).
        let hup = SIG_PIPE[0].load(Ordering::Relaxed);
        let mut pfds = [
            libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN | libc::POLLRDNORM,
                revents: 0,
            },
            libc::pollfd {
                fd: hup,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let nfds = if hup >= 0 { 2 } else { 1 };
        // SAFETY: `pfds` holds `nfds` valid, writable pollfds.
        if unsafe { libc::poll(pfds.as_mut_ptr(), nfds, wait_ms) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        if nfds == 2 && pfds[1].revents != 0 {
            let mut b = [0u8; 64];
            let (mut reload, mut stop) = (false, false);
            loop {
                // SAFETY: `b` is a live buffer of its length; `hup` is the
                // self-pipe's non-blocking read end, open for the process's life.
                let n = unsafe { libc::read(hup, b.as_mut_ptr().cast(), b.len()) };
                let Ok(n @ 1..) = usize::try_from(n) else {
                    break;
                };
                reload |= b[..n].contains(&b'h');
                stop |= b[..n].contains(&b't');
            }
            if stop {
                sd.stopping();
                return Ok(Done::Stopped);
            }
            if reload {
                p.reload();
            }
        }
    }
}
