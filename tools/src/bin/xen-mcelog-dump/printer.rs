// SPDX-License-Identifier: GPL-2.0-only

//! Printing the records (one line, a decoded block, JSON, hex or raw) and
//! handing each batch on: to the textfile's counters and to page
//! retirement's thread.

use std::fs::File;
use std::io::{self, Write};
use std::time::Duration;

use xmc_core::record::XenInfo;
use xmc_tools::decode::{decoded_block_xen, hex_block};
use xmc_tools::format::{dump_line_xen, JsonRecord};
use xmc_tools::retire::Level;
use xmc_tools::sys;
use xmc_tools::Mce;

use crate::textfile::{lock, Shared};
use crate::worker::{Msg, RetireThread};
use crate::{log, unix_now, Out};

/// Prints records and counts them, across reads.
pub(crate) struct Printer<W: Write> {
    pub(crate) out: Out,
    pub(crate) w: W,
    pub(crate) printed: u64,
    pub(crate) prom: Option<Shared>,
    pub(crate) retire: Option<RetireThread>,
}

/// One record to print: as read, and its Xen side if known.
pub(crate) struct Item<'a> {
    pub(crate) mce: Mce,
    pub(crate) raw: &'a [u8],
    pub(crate) xen: Option<(u64, XenInfo)>,
}

impl<W: Write> Drop for Printer<W> {
    /// What the retire thread still has to do about the records printed
    /// (each xen-hptool run is bounded), before the process ends, also
    /// when reading failed (a module unloaded under the reader).
    fn drop(&mut self) {
        if let Some(rt) = self.retire.take() {
            drop(rt.tx);
            let _ = rt.join.join();
        }
    }
}

impl<W: Write> Printer<W> {
    /// Prints `items` (at most `limit` in total, if given), then rewrites
    /// the Prometheus textfile and hands the records to page retirement.
    pub(crate) fn emit(&mut self, items: &[Item], limit: Option<u64>) -> io::Result<()> {
        let mut shown = 0;
        for it in items {
            if limit.is_some_and(|l| self.printed >= l) {
                break;
            }
            self.printed += 1;
            shown += 1;
            let n = self.printed as usize;
            let (m, x) = (&it.mce, it.xen.as_ref());
            match self.out {
                Out::Raw => self.w.write_all(it.raw)?,
                Out::Line => writeln!(self.w, "{}", dump_line_xen(m, x))?,
                Out::Json => {
                    // An io::Error (a closed pipe) comes back as itself.
                    serde_json::to_writer(&mut self.w, &JsonRecord::new(m, x))?;
                    self.w.write_all(b"\n")?;
                }
                Out::Decode => writeln!(self.w, "{}", decoded_block_xen(m, x, n))?,
                Out::Hex => writeln!(self.w, "{}", hex_block(it.raw, n))?,
            }
        }
        // After the batch is printed (the journal has the records before
        // what is done about them; a line is never counted before it is
        // printed).
        self.w.flush()?;
        if let Some(tf) = &self.prom {
            let mut tf = lock(tf);
            let now = unix_now();
            for it in &items[..shown] {
                tf.counters
                    .add(&it.mce, it.xen.as_ref().map(|(_, x)| x), now);
            }
            tf.write();
        }
        if let Some(rt) = &self.retire {
            let recs: Vec<(Mce, XenInfo)> = items
                .iter()
                .filter_map(|it| it.xen.map(|(_, x)| (it.mce, x)))
                .collect();
            if !recs.is_empty() {
                // The thread is gone only if it panicked: the records
                // still flow.
                let _ = rt.tx.send(Msg::Records(recs));
            }
        }
        Ok(())
    }

    /// After a read(2) of the device: its time in the textfile, which is
    /// rewritten when the read found nothing and the heartbeat is due (a
    /// batch rewrites it anyway).
    pub(crate) fn read_done(&mut self, empty: bool, heartbeat: Duration) {
        if let Some(tf) = &self.prom {
            let mut tf = lock(tf);
            tf.live.last_read = unix_now();
            if empty && tf.written.elapsed() >= heartbeat {
                tf.live.probe();
                tf.write();
            }
        }
    }

    /// The device said MCE_OVERFLOW: records were lost before this read.
    pub(crate) fn overflow(&mut self) {
        log(
            Level::Err,
            "the device's ring overflowed (MCE_GETCLEAR_FLAGS: MCE_OVERFLOW): machine-check \
             records were lost before they could be read"
                .into(),
        );
        if let Some(tf) = &self.prom {
            let mut tf = lock(tf);
            tf.counters.overflows += 1;
            tf.write();
        }
    }

    /// Reads the module's counters (`XMC_GET_STATS`) for the textfile's
    /// next write; false when the module cannot give them, which is said
    /// once (they are then left out of the textfile, and not asked again:
    /// a module older than the ioctl says ENOTTY). The records keep flowing
    /// either way.
    pub(crate) fn module_stats(&mut self, f: &File) -> bool {
        let Some(tf) = &self.prom else {
            return false;
        };
        let got = sys::get_stats(f);
        let ok = got.is_ok();
        lock(tf).module = got.ok().map(|(_, _, m)| m);
        match got {
            Ok(_) => {}
            Err(e) if e == libc::ENOTTY => log(
                Level::Notice,
                "the xen_mcelog module answers no XMC_GET_STATS (older than this tool): \
                 its own counters (xen_mcelog_module_*) are left out of the textfile"
                    .into(),
            ),
            Err(e) => log(
                Level::Warning,
                format!(
                    "XMC_GET_STATS: {}: the module's own counters (xen_mcelog_module_*) are \
                     left out of the textfile",
                    io::Error::from_raw_os_error(e)
                ),
            ),
        }
        ok
    }

    /// Rewrites the textfile, if there is one (a failure is logged, not
    /// returned: the records keep flowing).
    pub(crate) fn write_prom(&mut self) -> io::Result<()> {
        self.w.flush()?;
        if let Some(tf) = &self.prom {
            lock(tf).write();
        }
        Ok(())
    }

    /// SIGHUP: the retire thread reads its configuration again; the
    /// textfile is tried again.
    pub(crate) fn reload(&mut self) {
        match &self.retire {
            Some(rt) => {
                let _ = rt.tx.send(Msg::Reload);
            }
            None => log(
                Level::Notice,
                "SIGHUP: no --retire configuration to read again".into(),
            ),
        }
        if let Some(tf) = &self.prom {
            lock(tf).write();
        }
    }
}
