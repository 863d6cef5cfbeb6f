// SPDX-License-Identifier: GPL-2.0-only

//! The state file's writes: coalesced under a storm (at most once per
//! [`STATE_SAVE_INTERVAL`]), at once around every offline request, and
//! always at a stop; a failure logged once until a write succeeds again.

use std::io;
use std::time::Duration;

use super::{Retirer, STATE_SAVE_INTERVAL};
use crate::prom::write_atomic;
use crate::retire::{Level, PageState};

impl Retirer {
    /// Writes the state file when it changed and the write is due: at once
    /// after an offline request ([`Retirer::urgent`]), else at most once per
    /// [`STATE_SAVE_INTERVAL`] of `mono` (a monotonic clock: the time since
    /// the service started). `force`: whenever it changed (the service
    /// stops). Returns whether a write was tried. A failure is logged once
    /// (until a write succeeds again) and tried again at the next interval;
    /// the records keep flowing.
    pub fn save_if_due(
        &mut self,
        mono: Duration,
        force: bool,
        log: &mut dyn FnMut(Level, String),
    ) -> bool {
        if !self.dirty {
            return false;
        }
        let due = self
            .last_save
            .is_none_or(|t| mono.saturating_sub(t) >= STATE_SAVE_INTERVAL);
        if !(force || self.urgent || due) {
            return false;
        }
        self.last_save = Some(mono);
        self.urgent = false;
        let text = self.state.render();
        if self.write_state(&text, log) {
            self.dirty = false;
        }
        true
    }

    /// How long until [`Retirer::save_if_due`] writes what changed (`None`:
    /// nothing to write), for the caller's wait.
    pub fn save_wait(&self, mono: Duration) -> Option<Duration> {
        if !self.dirty {
            return None;
        }
        if self.urgent {
            return Some(Duration::ZERO);
        }
        Some(self.last_save.map_or(Duration::ZERO, |t| {
            (t + STATE_SAVE_INTERVAL).saturating_sub(mono)
        }))
    }

    /// Right before an offline request for `mfn` (Xen may act on it, and
    /// the service may then die before its next save: SIGKILL, a hung
    /// xen-hptool, a reset): the state is written with `mfn` as `pending`,
    /// so that a page Xen took is never forgotten; [`Retirer::resume`]
    /// then asks Xen about it like any retired page (offlined again if
    /// Xen has it online, a guest's left to it). The outcome's state is
    /// written right after ([`Retirer::set`] makes it urgent). Nothing is
    /// written for a page the state already has as retired.
    pub(super) fn checkpoint(&mut self, mfn: u64, log: &mut dyn FnMut(Level, String)) {
        let Some(was) = self.state.pages.get(&mfn).map(|p| p.state) else {
            return;
        };
        if matches!(was, PageState::Offlined | PageState::Pending) {
            return;
        }
        if let Some(p) = self.state.pages.get_mut(&mfn) {
            p.state = PageState::Pending;
        }
        let text = self.state.render();
        if let Some(p) = self.state.pages.get_mut(&mfn) {
            p.state = was;
        }
        // (The file now differs from memory in that page: written again
        // after the outcome, at once.)
        self.write_state(&text, log);
        self.dirty = true;
        self.urgent = true;
    }

    /// One write of `text` to the state file (atomic: `FILE.tmp`, fsync,
    /// rename, directory fsync), refused while [`State::no_save`] says why
    /// not; counted; a failure logged once until a write succeeds again.
    ///
    /// [`State::no_save`]: crate::retire::State::no_save
    fn write_state(&mut self, text: &str, log: &mut dyn FnMut(Level, String)) -> bool {
        let path = self.cfg.state.clone();
        let res = match &self.state.no_save {
            Some(why) => Err(io::Error::other(why.clone())),
            None => write_atomic(&path, &[text.as_bytes()]),
        };
        self.state_writes += 1;
        match res {
            Ok(()) => {
                if self.save_failing {
                    self.save_failing = false;
                    log(
                        Level::Notice,
                        format!("state file {}: written again", path.display()),
                    );
                }
                true
            }
            Err(e) => {
                if !self.save_failing {
                    self.save_failing = true;
                    log(
                        Level::Err,
                        format!(
                            "state file {}: {e} (counts kept in memory only)",
                            path.display()
                        ),
                    );
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::retire::tests::{ce, cfg, FakeXen};
    use crate::retire::{
        Hypervisor, Level, Outcome, PageState, Retirer, State, STATE_SAVE_INTERVAL,
    };
    use crate::scratch::Scratch;
    use crate::xenpage::{self, XenPages};

    /// Xen whose offline request first reads the state file, as a crash
    /// right after the request would leave it.
    struct Peek {
        xen: FakeXen,
        state: PathBuf,
        seen: Vec<String>,
    }

    impl XenPages for Peek {
        fn page_op(&mut self, op: xenpage::PageOp, mfn: u64) -> Result<xenpage::Reply, String> {
            if op == xenpage::PageOp::Offline {
                let st = fs::read_to_string(&self.state).unwrap_or_default();
                let line = st
                    .lines()
                    .find(|l| l.starts_with(&format!("page {mfn:#x} ")));
                self.seen.push(line.unwrap_or("(none)").to_string());
            }
            self.xen.page_op(op, mfn)
        }
        fn guests(&mut self) -> Result<Vec<u16>, String> {
            self.xen.guests()
        }
        fn owner_is(&mut self, mfn: u64, domid: u16) -> Result<xenpage::Answer, xenpage::NotAsked> {
            self.xen.owner_is(mfn, domid)
        }
    }

    impl Hypervisor for Peek {
        fn offline(&mut self, mfn: u64) -> Outcome {
            self.xen.offline(mfn)
        }
        fn query(&mut self, mfn: u64) -> Result<u32, String> {
            self.xen.query(mfn)
        }
    }

    #[test]
    fn the_state_file_has_the_page_before_xen_is_asked_and_the_outcome_after() {
        let tmp = Scratch::new("retire");
        let c = cfg(&tmp, "offline");
        let path = c.state.clone();
        let mut hv = Peek {
            xen: FakeXen::default(),
            state: path.clone(),
            seen: Vec::new(),
        };
        let mut r = Retirer::new(c, State::default());
        let mut log = |_: Level, _: String| {};
        let (m, x) = ce(0x3A5B_1000);
        for _ in 0..3 {
            r.record(&m, &x, 100, &mut hv, &mut log);
        }
        // The request found the page pending in the file (not yet written
        // before: the counting alone was not due).
        assert_eq!(hv.seen.len(), 1);
        assert!(
            hv.seen[0].starts_with("page 0x3a5b1 state=pending "),
            "{:?}",
            hv.seen
        );
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        // The outcome is written at the next save, whatever the interval.
        assert!(r.urgent && r.dirty);
        assert!(r.save_if_due(Duration::from_secs(1), false, &mut log));
        let on_disk = State::parse(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(on_disk.pages[&0x3A5B1].state, PageState::Offlined);
        assert_eq!(r.state_writes, 2);
        // A page retired already is not written again before a request.
        let writes = r.state_writes;
        r.checkpoint(0x3A5B1, &mut log);
        assert_eq!(r.state_writes, writes);
    }

    #[test]
    fn a_storm_writes_the_state_file_once_per_interval_and_at_stop() {
        let tmp = Scratch::new("retire");
        // 60 s of a corrected-error storm: 100 batches a second of 10
        // records each over 3000 pages (memory-ce-threshold 3 / 24h: pages
        // cross it; max-offlines 2 / 1h: two are offlined, the rest
        // deferred). Before: the file was written after every batch that
        // changed it. Now: at most once per STATE_SAVE_INTERVAL, plus twice
        // per offline request (before it, and its outcome).
        let mut r = Retirer::new(cfg(&tmp, "offline"), State::default());
        let path = r.cfg.state.clone();
        let mut hv = FakeXen::default();
        let mut log = |_: Level, _: String| {};
        let (secs, per_sec, batch) = (60u64, 100u64, 10u64);
        let mut before = 0u64;
        let mut n = 0u64;
        for tick in 0..secs * per_sec {
            let mono = Duration::from_millis(tick * 1000 / per_sec);
            let now = 1_764_000_000 + mono.as_secs();
            for _ in 0..batch {
                let (m, x) = ce(0x4000_0000 + (n % 3000) * 0x1000);
                r.record(&m, &x, now, &mut hv, &mut log);
                n += 1;
            }
            before += u64::from(r.dirty);
            r.save_if_due(mono, false, &mut log);
        }
        let offlined = r.count(PageState::Offlined) as u64;
        assert_eq!(offlined, 2);
        assert!(r.count(PageState::Deferred) > 0);
        let bound = secs / STATE_SAVE_INTERVAL.as_secs() + 1 + 2 * offlined;
        eprintln!(
            "state file writes under a storm of {} records/s for {secs} s: before {before} \
             ({}/s), now {} ({:.2}/s; bound {bound})",
            per_sec * batch,
            before / secs,
            r.state_writes,
            r.state_writes as f64 / secs as f64
        );
        assert_eq!(before, secs * per_sec);
        assert!(r.state_writes <= bound, "{} writes", r.state_writes);
        // The stop writes what changed since the last write, interval or not.
        let (m, x) = ce(0x4000_0000);
        r.record(&m, &x, 1_764_000_000 + secs, &mut hv, &mut log);
        assert!(!r.save_if_due(Duration::from_secs(secs), false, &mut log) || r.urgent);
        assert!(r.save_if_due(Duration::from_secs(secs), true, &mut log));
        assert!(!r.dirty && r.save_wait(Duration::from_secs(secs)).is_none());
        assert_eq!(
            State::parse(&fs::read_to_string(&path).unwrap()).unwrap(),
            r.state
        );
        // Nothing changed: nothing written, even at a stop.
        assert!(!r.save_if_due(Duration::from_secs(secs + 100), true, &mut log));
    }
}
