// SPDX-License-Identifier: GPL-2.0-only

//! What the policy keeps: each page's leaky bucket and state, the recent
//! offlines and the error total, and the state file that holds them across
//! restarts (its text, a lenient reader that keeps every good line, and
//! the start-up load that sets a damaged file aside).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use xmc_core::mcinfo::DOMID_INVALID;

use super::{Level, Rate};
use crate::prom::write_atomic;

/// Where a page stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PageState {
    /// Errors counted, below the threshold.
    Counting,
    /// Past the threshold in dry-run mode: logged, not offlined.
    DryRun,
    /// Past the threshold, waiting for the rate limit.
    Deferred,
    /// Past the threshold, and a guest domain owns it (`guest-pages =
    /// skip`), as the error record named it or Xen answered right before a
    /// deferred page's offline request: left to the guest; asked about again
    /// every 10 minutes through the page-owner probe (which marks nothing),
    /// and offlined once no guest owns it.
    Guest,
    /// Xen reports it offlined.
    Offlined,
    /// Xen marked it offline-pending: it goes when its owner frees it.
    Pending,
    /// Xen refused (its own page, not conventional RAM, ...): not retried.
    Refused,
    /// Offlining failed for another reason (retried up to [`MAX_ATTEMPTS`]).
    ///
    /// [`MAX_ATTEMPTS`]: super::MAX_ATTEMPTS
    Failed,
}

impl PageState {
    /// Every state, in the order of the textfile.
    pub const ALL: [PageState; 8] = [
        PageState::Counting,
        PageState::DryRun,
        PageState::Deferred,
        PageState::Guest,
        PageState::Offlined,
        PageState::Pending,
        PageState::Refused,
        PageState::Failed,
    ];

    /// The state file's and the textfile's word.
    pub fn name(self) -> &'static str {
        match self {
            PageState::Counting => "counting",
            PageState::DryRun => "dry_run",
            PageState::Deferred => "deferred",
            PageState::Guest => "guest",
            PageState::Offlined => "offlined",
            PageState::Pending => "pending",
            PageState::Refused => "refused",
            PageState::Failed => "failed",
        }
    }

    fn from_name(s: &str) -> Option<PageState> {
        PageState::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// One machine page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The leaky bucket's level.
    pub count: u64,
    /// When the bucket last drained (mcelog's `tstamp`), Unix seconds.
    pub since: u64,
    /// Corrected errors counted on this page in all.
    pub errors: u64,
    /// Where it stands.
    pub state: PageState,
    /// Offline attempts that failed.
    pub attempts: u32,
    /// When `state` last changed, Unix seconds.
    pub changed: u64,
    /// The page's owner in the last record (Xen's `mc_domid`; 0x7FF4,
    /// DOMID_INVALID, when none).
    pub owner: u16,
}

impl Page {
    pub(super) fn new(now: u64) -> Page {
        Page {
            count: 0,
            since: now,
            errors: 0,
            state: PageState::Counting,
            attempts: 0,
            changed: now,
            owner: DOMID_INVALID,
        }
    }

    /// mcelog's `__bucket_account`: drain by COUNT per elapsed TIME, add
    /// one; full (level >= COUNT) empties it and returns true.
    pub(super) fn account(&mut self, r: Rate, now: u64) -> bool {
        let diff = now.saturating_sub(self.since);
        if diff >= r.secs {
            let age = u128::from(diff) * u128::from(r.count) / u128::from(r.secs);
            self.count = self
                .count
                .saturating_sub(u64::try_from(age).unwrap_or(u64::MAX));
            self.since = now;
        }
        self.count += 1;
        self.errors += 1;
        if self.count >= u64::from(r.count) {
            self.count = 0;
            return true;
        }
        false
    }
}

/// Counts, pages and recent offlines: what the state file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Pages by machine frame number.
    pub pages: BTreeMap<u64, Page>,
    /// When pages were offlined (for `max-offlines`), oldest first.
    pub offlines: Vec<u64>,
    /// Corrected memory errors counted in all (forgotten pages included).
    pub errors: u64,
    /// Why the file must not be written: it could not be read and could not
    /// be moved aside either ([`load_state`]); writing would destroy it.
    pub no_save: Option<String>,
}

const STATE_MAGIC: &str = "xen-mcelog-retire 1";

impl State {
    /// The state file's text.
    pub fn render(&self) -> String {
        let mut s = format!(
            "{STATE_MAGIC}\n# Page retirement state of xen-mcelog-dump --retire (machine frames).\n\
             # Remove a page's line (service stopped) after replacing its DIMM.\n"
        );
        let _ = writeln!(s, "errors {}", self.errors);
        for t in &self.offlines {
            let _ = writeln!(s, "offline-at {t}");
        }
        for (mfn, p) in &self.pages {
            let _ = writeln!(
                s,
                "page {mfn:#x} state={} count={} since={} errors={} attempts={} changed={} owner={}",
                p.state.name(),
                p.count,
                p.since,
                p.errors,
                p.attempts,
                p.changed,
                p.owner
            );
        }
        s
    }

    /// Parses [`State::render`]'s text; any bad line is an error (the first
    /// one). [`State::parse_lenient`] keeps what parses.
    pub fn parse(text: &str) -> Result<State, String> {
        let (st, bad) = State::parse_lenient(text);
        match bad.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(st),
        }
    }

    /// Parses [`State::render`]'s text, keeping every line that parses: a bad
    /// line costs only itself, never the other pages (an offlined page
    /// forgotten would not be offlined again after the next reboot). Returns
    /// the state and one message per bad line (`line N: ...`), for the log.
    /// A page line whose frame and state parse but another field does not
    /// keeps the page (that field at its default). Lines must not be
    /// dropped silently: the caller logs the messages (and keeps the file).
    pub fn parse_lenient(text: &str) -> (State, Vec<String>) {
        let mut st = State::default();
        let mut bad = Vec::new();
        let mut lines = text.lines().enumerate().peekable();
        match lines.peek() {
            Some((_, l)) if l.trim() == STATE_MAGIC => {
                lines.next();
            }
            _ => bad.push(format!(
                "line 1: not a state file (first line is not `{STATE_MAGIC}`)"
            )),
        }
        for (i, line) in lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Err(why) = st.parse_line(line) {
                bad.push(format!("line {}: `{line}`: {why}", i + 1));
            }
        }
        st.offlines.sort_unstable();
        (st, bad)
    }

    /// One line into `self`; what is wrong with it, if anything (a page
    /// line with a bad field other than its frame or state is kept).
    fn parse_line(&mut self, line: &str) -> Result<(), String> {
        let mut w = line.split_whitespace();
        let num = |t: Option<&str>| -> Result<u64, String> {
            t.and_then(|t| t.parse().ok())
                .ok_or_else(|| "expected a number".to_string())
        };
        match w.next() {
            Some("errors") => self.errors = num(w.next())?,
            Some("offline-at") => self.offlines.push(num(w.next())?),
            Some("page") => {
                let mfn = w
                    .next()
                    .and_then(|m| m.strip_prefix("0x"))
                    .and_then(|m| u64::from_str_radix(m, 16).ok())
                    .ok_or("expected a frame number 0x...")?;
                let mut p = Page::new(0);
                let mut state = None;
                let mut wrong = Vec::new();
                for kv in w {
                    let Some((k, v)) = kv.split_once('=') else {
                        wrong.push(format!("`{kv}`"));
                        continue;
                    };
                    let n = v.parse::<u64>().ok();
                    let ok = match k {
                        "state" => PageState::from_name(v).map(|s| state = Some(s)),
                        "count" => n.map(|n| p.count = n),
                        "since" => n.map(|n| p.since = n),
                        "errors" => n.map(|n| p.errors = n),
                        "attempts" => n
                            .and_then(|n| u32::try_from(n).ok())
                            .map(|n| p.attempts = n),
                        "changed" => n.map(|n| p.changed = n),
                        "owner" => n.and_then(|n| u16::try_from(n).ok()).map(|n| p.owner = n),
                        _ => None,
                    };
                    if ok.is_none() {
                        wrong.push(format!("`{kv}`"));
                    }
                }
                let Some(state) = state else {
                    return Err(format!(
                        "no valid state= (one of {}): page {mfn:#x} not kept",
                        PageState::ALL.map(PageState::name).join(", ")
                    ));
                };
                p.state = state;
                self.pages.insert(mfn, p);
                if !wrong.is_empty() {
                    return Err(format!(
                        "bad {} (page {mfn:#x} kept as {}, that field at its default)",
                        wrong.join(" "),
                        state.name()
                    ));
                }
            }
            _ => return Err("unknown line".into()),
        }
        Ok(())
    }

    /// Writes the file atomically (`FILE.tmp`, fsync, rename); refused
    /// while [`State::no_save`] says why not.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        if let Some(why) = &self.no_save {
            return Err(io::Error::other(why.clone()));
        }
        write_atomic(path, &[self.render().as_bytes()])
    }
}

/// `retire.state.bad-TIME`, next to `path`: where a state file that did not
/// read cleanly is kept for the administrator.
pub fn aside_path(path: &Path, time: u64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".bad-{time}"));
    path.with_file_name(name)
}

/// Reads the state file at start. Missing: an empty state. Otherwise what
/// parses is kept ([`State::parse_lenient`]), and each bad line is logged
/// with its number. A file that did not read cleanly (bad lines, invalid
/// UTF-8, a read error such as EIO) is renamed to [`aside_path`] before
/// anything is written, so the next save cannot overwrite it, and what was
/// kept is written back at once; if even the rename fails, the state is not
/// saved at all ([`State::no_save`]).
/// `time` (wall clock) names the file set aside.
pub fn load_state(path: &Path, time: u64, log: &mut dyn FnMut(Level, String)) -> State {
    let shown = path.display();
    let (mut st, problem) = match fs::read(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return State::default(),
        Err(e) => (
            State::default(),
            format!("cannot be read ({e}): counting starts again"),
        ),
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let utf8 = matches!(text, std::borrow::Cow::Borrowed(_));
            let (st, bad) = State::parse_lenient(&text);
            for b in &bad {
                log(Level::Err, format!("state file {shown}: {b}"));
            }
            if utf8 && bad.is_empty() {
                return st;
            }
            let what = match (utf8, bad.len()) {
                (false, 0) => "is not valid UTF-8".to_string(),
                (false, n) => format!("is not valid UTF-8, {n} bad lines"),
                (true, n) => format!("has {n} bad line{}", if n == 1 { "" } else { "s" }),
            };
            let kept = format!(
                "{what}: kept the {} pages that parse ({} offlined, {} pending)",
                st.pages.len(),
                st.pages
                    .values()
                    .filter(|p| p.state == PageState::Offlined)
                    .count(),
                st.pages
                    .values()
                    .filter(|p| p.state == PageState::Pending)
                    .count()
            );
            (st, kept)
        }
    };
    let aside = aside_path(path, time);
    match fs::rename(path, &aside) {
        Ok(()) => {
            log(
                Level::Err,
                format!(
                    "state file {shown} {problem}; the file was moved to {}",
                    aside.display()
                ),
            );
            // What was kept is written back at once: a restart before the
            // next change must not find the file gone.
            if let Err(e) = st.save(path) {
                log(Level::Err, format!("state file {shown}: {e}"));
            }
        }
        Err(e) => {
            let why = format!(
                "state file {shown} {problem}, and it could not be moved to {} ({e}): \
                 not written, so as not to destroy it",
                aside.display()
            );
            log(Level::Err, why.clone());
            st.no_save = Some(why);
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retire::tests::{cfg, FakeXen};
    use crate::retire::Retirer;
    use crate::scratch::Scratch;

    #[test]
    fn bucket_is_mcelogs_leaky_bucket() {
        let r = Rate {
            count: 3,
            secs: 100,
        };
        let mut p = Page::new(1000);
        assert!(!p.account(r, 1000));
        assert!(!p.account(r, 1050));
        assert!(p.account(r, 1099)); // the 3rd within the window fills it
        assert_eq!(p.count, 0);
        assert!(!p.account(r, 1100));
        assert!(!p.account(r, 1150));
        // A window later it drained by 3: two old ones are gone.
        assert!(!p.account(r, 1200));
        assert_eq!((p.count, p.since, p.errors), (1, 1200, 6));
    }

    const DAMAGED: &str = "xen-mcelog-retire 1\nerrors 12\noffline-at 100\n\
        page 0x3a5b1 state=offlined count=0 since=100 errors=3 attempts=0 changed=100 owner=32756\n\
        page 0x3a5c2 state=counting count=2 since=100 errors=2 attempts=0 changed=100 owner=32756\n\
        page 0x3a5d3 state=offlined count=x since=100 errors=3 attempts=0 changed=100 owner=32756\n\
        pag 0x1 state=counting\n\
        page 0x3a5e4 state=pending count=0 since=200 errors=3 attempts=0 changed=200 owner=0\n\
        page 0x3a5f5 state=offlin count=0 since=200 errors=3 attempts=0 changed=200 owner=0\n";

    #[test]
    fn a_bad_state_line_costs_only_itself() {
        let (st, bad) = State::parse_lenient(DAMAGED);
        // Every offlined or pending page whose state parses is kept, the
        // damaged field at its default; the counting page too.
        assert_eq!(
            st.pages.keys().copied().collect::<Vec<_>>(),
            [0x3A5B1, 0x3A5C2, 0x3A5D3, 0x3A5E4]
        );
        assert_eq!(st.pages[&0x3A5D3].state, PageState::Offlined);
        assert_eq!(
            (st.pages[&0x3A5D3].count, st.pages[&0x3A5D3].errors),
            (0, 3)
        );
        assert_eq!(st.pages[&0x3A5E4].state, PageState::Pending);
        assert_eq!((st.errors, st.offlines.as_slice()), (12, &[100][..]));
        // Each bad line is reported with its number.
        assert_eq!(bad.len(), 3, "{bad:?}");
        assert!(
            bad[0].starts_with("line 6: `page 0x3a5d3 state=offlined count=x"),
            "{bad:?}"
        );
        assert!(
            bad[0].contains("bad `count=x` (page 0x3a5d3 kept as offlined"),
            "{bad:?}"
        );
        assert!(
            bad[1].starts_with("line 7: `pag 0x1 state=counting`: unknown line"),
            "{bad:?}"
        );
        assert!(
            bad[2].starts_with("line 9: `page 0x3a5f5 state=offlin"),
            "{bad:?}"
        );
        assert!(bad[2].contains("no valid state="), "{bad:?}");
        // A missing first line is one more bad line, the rest still counts.
        let (st, bad) = State::parse_lenient(&DAMAGED["xen-mcelog-retire 1\n".len()..]);
        assert!(bad[0].starts_with("line 1: not a state file"), "{bad:?}");
        assert_eq!(st.pages.len(), 4);
        // The strict parse still refuses it.
        assert!(State::parse(DAMAGED).unwrap_err().starts_with("line 6:"));
    }

    #[test]
    fn a_damaged_state_file_is_kept_aside_and_its_pages_offlined_again() {
        let dir = Scratch::new("retire-damaged");
        let f = dir.join("retire.state");
        fs::write(&f, DAMAGED).unwrap();
        let mut logs = Vec::new();
        let st = load_state(&f, 5000, &mut |l, s| logs.push(format!("<{}>{s}", l as u8)));
        assert_eq!(st.pages.len(), 4);
        assert!(
            logs.iter()
                .any(|l| l.contains("retire.state: line 6: `page 0x3a5d3")),
            "{logs:?}"
        );
        assert!(
            logs.last().unwrap().contains(
                "has 3 bad lines: kept the 4 pages that parse (2 offlined, 1 pending); the file \
                 was moved to"
            ),
            "{logs:?}"
        );
        // The original is kept, byte for byte; the next save does not touch it.
        let aside = dir.join("retire.state.bad-5000");
        assert_eq!(fs::read_to_string(&aside).unwrap(), DAMAGED);
        // What was kept is in the file again at once (a restart before the
        // next change finds it), clean now.
        assert_eq!(State::parse(&fs::read_to_string(&f).unwrap()).unwrap(), st);
        st.save(&f).unwrap();
        assert_eq!(fs::read_to_string(&aside).unwrap(), DAMAGED);
        // After a reboot both offlined pages (the damaged line's too) go again.
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(
            cfg(&dir, "offline"),
            State::parse(&fs::read_to_string(&f).unwrap()).unwrap(),
        );
        r.resume(6000, &mut hv, &mut |_, _| {});
        assert!(
            hv.calls.contains(&"offline 0x3a5b1".to_string()),
            "{:?}",
            hv.calls
        );
        assert!(
            hv.calls.contains(&"offline 0x3a5d3".to_string()),
            "{:?}",
            hv.calls
        );

        // Invalid UTF-8: what parses is kept, the file set aside.
        let mut bytes = DAMAGED.as_bytes().to_vec();
        bytes.extend_from_slice(b"# \xff\xfe\n");
        fs::write(&f, &bytes).unwrap();
        let mut logs = Vec::new();
        let st = load_state(&f, 5001, &mut |_, s| logs.push(s));
        assert_eq!(st.pages.len(), 4);
        assert!(
            logs.last()
                .unwrap()
                .contains("is not valid UTF-8, 3 bad lines"),
            "{logs:?}"
        );
        assert_eq!(fs::read(dir.join("retire.state.bad-5001")).unwrap(), bytes);
        let again = State::parse(&fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(again.pages.len(), 4);
        fs::remove_file(&f).unwrap();

        // A read error (here EISDIR, as EIO would): set aside, not overwritten.
        fs::create_dir(&f).unwrap();
        let mut logs = Vec::new();
        let st = load_state(&f, 5002, &mut |_, s| logs.push(s));
        assert_eq!(st, State::default());
        assert!(logs[0].contains("cannot be read ("), "{logs:?}");
        assert!(dir.join("retire.state.bad-5002").is_dir());
        // ... and when it cannot even be moved aside, it is never written.
        let ro = Scratch::new("retire-nomove");
        let g = ro.join("retire.state");
        fs::create_dir(&g).unwrap();
        fs::create_dir(ro.join("retire.state.bad-7")).unwrap();
        fs::write(ro.join("retire.state.bad-7").join("x"), "x").unwrap();
        let mut logs = Vec::new();
        let st = load_state(&g, 7, &mut |_, s| logs.push(s));
        assert!(st.no_save.is_some(), "{logs:?}");
        assert!(
            logs[0].contains("not written, so as not to destroy it"),
            "{logs:?}"
        );
        assert!(st.save(&g).is_err());
        // A missing file is a fresh start, silently; a clean one is kept.
        let mut logs = Vec::new();
        assert_eq!(
            load_state(&dir.join("none"), 1, &mut |_, s| logs.push(s)),
            State::default()
        );
        fs::write(
            dir.join("ok"),
            State::parse(
                DAMAGED
                    .lines()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
                    .as_str(),
            )
            .unwrap()
            .render(),
        )
        .unwrap();
        assert_eq!(
            load_state(&dir.join("ok"), 1, &mut |_, s| logs.push(s))
                .pages
                .len(),
            2
        );
        assert!(logs.is_empty(), "{logs:?}");
        assert!(dir.join("ok").exists());
    }
}
