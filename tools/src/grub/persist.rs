// SPDX-License-Identifier: GPL-2.0-only

//! `persist = grub` at work ([`Persist`]): the snippet rewritten and
//! update-grub run only when the list changes, update-grub bounded by a
//! timeout, a failure logged once, counted and tried again later.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::{fit, snippet_text, snippet_value, BADPAGE_MAX};
use crate::prom::write_atomic;
use crate::retire::Level;

/// Debian's update-grub (grub2-common).
pub const DEFAULT_UPDATE_GRUB: &str = "/usr/sbin/update-grub";
/// What update-grub writes (to tell whether it ran since the snippet
/// changed).
pub const DEFAULT_GRUB_CFG: &str = "/boot/grub/grub.cfg";
/// How long update-grub may take (os-prober, many kernels) before it is
/// killed with its process group.
pub const UPDATE_GRUB_TIMEOUT: Duration = Duration::from_secs(300);
/// A failed update-grub is tried again after this many seconds.
pub const UPDATE_GRUB_RETRY: u64 = 600;

/// `persist = grub` at work: the snippet and update-grub.
#[derive(Debug)]
pub struct Persist {
    /// The snippet (retire.conf `grub-snippet`).
    pub snippet: PathBuf,
    /// update-grub (retire.conf `update-grub`).
    pub update_grub: PathBuf,
    /// The file update-grub writes ([`DEFAULT_GRUB_CFG`]).
    pub grub_cfg: PathBuf,
    /// How long update-grub may take.
    pub timeout: Duration,
    /// The value in the snippet (read at start; what was last written).
    written: Option<String>,
    /// update-grub is due (the snippet changed since it last succeeded).
    due: bool,
    /// Not before this time (after a failure), Unix seconds.
    retry_at: u64,
    /// The last failure was logged (until a success).
    failing: bool,
    /// update-grub runs that failed since the start.
    pub failures: u64,
    /// update-grub runs that succeeded since the start.
    pub runs: u64,
    /// Frames on the line now, and left out (for the metrics).
    frames: (usize, usize),
    /// The last `left_out` logged (logged again only when it changes).
    told_left_out: Vec<u64>,
}

impl Persist {
    /// Reads the snippet already there, if any: update-grub is due when the
    /// snippet is newer than `grub_cfg` (a run that failed before a
    /// restart).
    pub fn new(snippet: PathBuf, update_grub: PathBuf, grub_cfg: PathBuf) -> Persist {
        let written = fs::read_to_string(&snippet)
            .ok()
            .map(|t| snippet_value(&t).unwrap_or_default());
        let due = written.is_some()
            && match (modified(&snippet), modified(&grub_cfg)) {
                (Some(s), Some(g)) => s > g,
                (Some(_), None) => true,
                _ => false,
            };
        Persist {
            snippet,
            update_grub,
            grub_cfg,
            timeout: UPDATE_GRUB_TIMEOUT,
            written,
            due,
            retry_at: 0,
            failing: false,
            failures: 0,
            runs: 0,
            frames: (0, 0),
            told_left_out: Vec::new(),
        }
    }

    /// Brings the snippet to `frames` ([`retired_frames`]): rewritten and
    /// update-grub run only when the value changes (or a failed update-grub
    /// is due again, every [`UPDATE_GRUB_RETRY`] s). Errors are logged, never
    /// returned: the records keep flowing.
    ///
    /// [`retired_frames`]: super::retired_frames
    pub fn sync(&mut self, frames: &[(u64, u64)], now: u64, log: &mut dyn FnMut(Level, String)) {
        let f = fit(frames, BADPAGE_MAX);
        self.frames = (f.frames, f.left_out.len());
        if !f.left_out.is_empty() && f.left_out != self.told_left_out {
            log(
                Level::Warning,
                format!(
                    "persist = grub: Xen keeps at most {BADPAGE_MAX} characters of badpage=; \
                     {} retired frame{} left out ({}): the service offlines {} again after a \
                     reboot, as without persist",
                    f.left_out.len(),
                    if f.left_out.len() == 1 { "" } else { "s" },
                    f.left_out
                        .iter()
                        .map(|m| format!("{m:#x}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    if f.left_out.len() == 1 { "it" } else { "them" },
                ),
            );
        }
        self.told_left_out.clone_from(&f.left_out);
        // No snippet and nothing to persist: nothing to write.
        let unchanged = match &self.written {
            Some(v) => *v == f.value,
            None => f.value.is_empty(),
        };
        if !unchanged {
            let text = snippet_text(&f.value);
            if let Err(e) = write_atomic(&self.snippet, &[text.as_bytes()]) {
                self.fail(
                    now,
                    format!(
                        "cannot write {}: {e} (its directory must exist and be writable: \
                         xen-mcelog-json.service's ReadWritePaths)",
                        self.snippet.display()
                    ),
                    log,
                );
                return;
            }
            let what = if f.value.is_empty() {
                "no frames (every retired page was forgotten)".to_string()
            } else {
                format!("badpage={} ({} frames)", f.value, f.frames)
            };
            log(
                Level::Notice,
                format!(
                    "persist = grub: wrote {}: {what}, appended to GRUB_CMDLINE_XEN; running {}",
                    self.snippet.display(),
                    self.update_grub.display()
                ),
            );
            self.written = Some(f.value.clone());
            self.due = true;
            self.retry_at = 0;
        }
        if !self.due || now < self.retry_at {
            return;
        }
        match run_bounded(&self.update_grub, self.timeout) {
            Ok(out) => {
                self.due = false;
                self.runs += 1;
                self.failing = false;
                for l in out.lines().filter(|l| l.contains("xen-mcelog:")) {
                    log(Level::Warning, format!("update-grub: {}", l.trim()));
                }
                let v = self.written.clone().unwrap_or_default();
                log(
                    Level::Notice,
                    if v.is_empty() {
                        format!(
                            "persist = grub: {} done: Xen's command line has no badpage= from \
                             {} any more from the next boot on",
                            self.update_grub.display(),
                            self.snippet.display()
                        )
                    } else {
                        format!(
                            "persist = grub: {} done: Xen keeps badpage={v} out of its allocator \
                             from the next boot on (GRUB's Xen entries; {})",
                            self.update_grub.display(),
                            self.grub_cfg.display()
                        )
                    },
                );
            }
            Err(e) => self.fail(now, e, log),
        }
    }

    fn fail(&mut self, now: u64, why: String, log: &mut dyn FnMut(Level, String)) {
        self.failures += 1;
        self.retry_at = now + UPDATE_GRUB_RETRY;
        if !self.failing {
            self.failing = true;
            log(
                Level::Err,
                format!(
                    "persist = grub: {why}; the retired pages are offlined again after a reboot \
                     as without persist; tried again every {UPDATE_GRUB_RETRY} s \
                     (xen_mcelog_retire_update_grub_failures_total)"
                ),
            );
        }
    }

    /// The textfile's part.
    pub fn metrics(&self) -> String {
        format!(
            "# HELP xen_mcelog_retire_update_grub_failures_total persist = grub: snippet writes \
             and update-grub runs that failed since the start.\n\
             # TYPE xen_mcelog_retire_update_grub_failures_total counter\n\
             xen_mcelog_retire_update_grub_failures_total {}\n\
             # HELP xen_mcelog_retire_persisted_pages persist = grub: retired frames on Xen's \
             command line (badpage=) from the next boot on, and left out (too long).\n\
             # TYPE xen_mcelog_retire_persisted_pages gauge\n\
             xen_mcelog_retire_persisted_pages{{state=\"on_cmdline\"}} {}\n\
             xen_mcelog_retire_persisted_pages{{state=\"left_out\"}} {}\n",
            self.failures, self.frames.0, self.frames.1
        )
    }
}

/// Runs `prog` (no arguments, stdin closed, `LC_ALL=C`) in a process group
/// of its own; its stdout and stderr. Past `timeout` the group is killed
/// (SIGKILL) and the call fails, as a non-zero exit does.
pub fn run_bounded(prog: &Path, timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(prog)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("{}: {e}", prog.display()))?;
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut p| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = p.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        })
    })
    .collect();
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => break None,
            Err(e) => return Err(format!("{}: {e}", prog.display())),
        }
    };
    let Some(status) = status else {
        if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) on the process group this call created
            // (process_group(0): its id is the child's pid), not yet reaped.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let _ = child.wait();
        return Err(format!(
            "{}: no answer within {} s: killed it",
            prog.display(),
            timeout.as_secs()
        ));
    };
    // The pipes close when the last process of the group holding them ends.
    let out: String = readers
        .into_iter()
        .map(|h| h.join().unwrap_or_default())
        .collect();
    if status.success() {
        Ok(out)
    } else {
        Err(format!(
            "{} failed ({status}): {}",
            prog.display(),
            out.split_whitespace().collect::<Vec<_>>().join(" ")
        ))
    }
}

/// When `path` was last changed, if it exists.
pub fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grub::tests::at;
    use crate::scratch::Scratch;

    /// A fake update-grub: appends a line to `runs` and exits `rc`.
    fn fake_update_grub(dir: &Path, rc: i32) -> PathBuf {
        let p = dir.join("update-grub");
        fs::write(
            &p,
            format!(
                "#!/bin/sh\necho run >> {}/runs\necho 'Generating grub configuration file ...' >&2\nexit {rc}\n",
                dir.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        p
    }

    fn runs(dir: &Path) -> usize {
        fs::read_to_string(dir.join("runs")).map_or(0, |s| s.lines().count())
    }

    #[test]
    fn the_snippet_is_rewritten_and_update_grub_run_only_on_a_change() {
        let dir = Scratch::new("grub-sync");
        let snip = dir.join("zz-xen-mcelog-badpages.cfg");
        let ug = fake_update_grub(&dir, 0);
        let mut p = Persist::new(snip.clone(), ug.clone(), dir.join("grub.cfg"));
        let logs = std::cell::RefCell::new(Vec::<String>::new());
        let mut log = |l: Level, s: String| logs.borrow_mut().push(format!("<{}>{s}", l as u8));
        // Nothing retired, no snippet: nothing written, nothing run.
        p.sync(&[], 1000, &mut log);
        assert!(!snip.exists());
        assert_eq!(runs(&dir), 0);
        // A page retired: written, run, said.
        p.sync(&at(&[0x3a5b1]), 1000, &mut log);
        let text = fs::read_to_string(&snip).unwrap();
        assert_eq!(snippet_value(&text).as_deref(), Some("0x3a5b1"));
        assert_eq!(runs(&dir), 1);
        assert!(logs
            .borrow()
            .iter()
            .any(|l| l.starts_with("<5>persist = grub: wrote ")
                && l.contains("badpage=0x3a5b1 (1 frames), appended to GRUB_CMDLINE_XEN")));
        assert!(logs
            .borrow()
            .iter()
            .any(|l| l.contains("done: Xen keeps badpage=0x3a5b1 out of its allocator")));
        // The same set again (a new batch, another order): nothing.
        let m = modified(&snip);
        p.sync(&at(&[0x3a5b1]), 1100, &mut log);
        assert_eq!(runs(&dir), 1);
        assert_eq!(modified(&snip), m);
        // Another page: rewritten, sorted and merged.
        p.sync(&at(&[0x3a5b2, 0x3a5b1, 0x100]), 1200, &mut log);
        assert_eq!(
            snippet_value(&fs::read_to_string(&snip).unwrap()).as_deref(),
            Some("0x100,0x3a5b1-0x3a5b2")
        );
        assert_eq!(runs(&dir), 2);
        // A restart finds the snippet: the same set writes and runs nothing
        // (grub.cfg newer than the snippet: update-grub ran).
        fs::write(dir.join("grub.cfg"), "x").unwrap();
        let mut q = Persist::new(snip.clone(), ug.clone(), dir.join("grub.cfg"));
        q.sync(&at(&[0x100, 0x3a5b1, 0x3a5b2]), 1300, &mut log);
        assert_eq!(runs(&dir), 2);
        // Pages forgotten (retired-pages = forget): the frames go.
        q.sync(&at(&[0x100]), 1400, &mut log);
        assert_eq!(
            snippet_value(&fs::read_to_string(&snip).unwrap()).as_deref(),
            Some("0x100")
        );
        q.sync(&[], 1500, &mut log);
        let text = fs::read_to_string(&snip).unwrap();
        assert_eq!(snippet_value(&text).as_deref(), Some(""));
        assert!(!text.contains("badpage=$"), "{text}");
        assert_eq!(runs(&dir), 4);
        assert!(!dir.join("zz-xen-mcelog-badpages.cfg.tmp").exists());
    }

    #[test]
    fn a_failing_update_grub_is_counted_logged_once_and_retried() {
        let dir = Scratch::new("grub-fail");
        let snip = dir.join("s.cfg");
        let mut p = Persist::new(
            snip.clone(),
            fake_update_grub(&dir, 1),
            dir.join("grub.cfg"),
        );
        let mut logs = Vec::new();
        let mut log = |l: Level, s: String| logs.push(format!("<{}>{s}", l as u8));
        p.sync(&at(&[0x10]), 1000, &mut log);
        assert_eq!((runs(&dir), p.failures), (1, 1));
        // The snippet is in place; no retry before UPDATE_GRUB_RETRY.
        assert!(snip.exists());
        p.sync(&at(&[0x10]), 1000 + UPDATE_GRUB_RETRY - 1, &mut log);
        assert_eq!(runs(&dir), 1);
        p.sync(&at(&[0x10]), 1000 + UPDATE_GRUB_RETRY, &mut log);
        assert_eq!((runs(&dir), p.failures), (2, 2));
        let errs: Vec<&String> = logs.iter().filter(|l| l.starts_with("<3>")).collect();
        assert_eq!(errs.len(), 1, "{logs:#?}");
        assert!(
            errs[0].contains(
                "update-grub failed (exit status: 1): Generating grub configuration file"
            ),
            "{}",
            errs[0]
        );
        assert!(p
            .metrics()
            .contains("xen_mcelog_retire_update_grub_failures_total 2\n"));
        // A restart: the snippet is newer than grub.cfg (missing): due again.
        let mut q = Persist::new(
            snip.clone(),
            fake_update_grub(&dir, 0),
            dir.join("grub.cfg"),
        );
        q.sync(&at(&[0x10]), 5000, &mut |_, _| {});
        assert_eq!((runs(&dir), q.runs), (3, 1));
        // A snippet that cannot be written: counted, logged, not fatal.
        let mut r = Persist::new(
            dir.join("no/such/dir.cfg"),
            fake_update_grub(&dir, 0),
            dir.join("g"),
        );
        let mut errs = Vec::new();
        r.sync(&at(&[0x10]), 1000, &mut |l, s| errs.push((l, s)));
        assert_eq!(r.failures, 1);
        assert!(errs
            .iter()
            .any(|(l, s)| *l == Level::Err && s.contains("cannot write")));
    }

    #[test]
    fn a_hung_update_grub_is_killed_at_the_timeout() {
        let dir = Scratch::new("grub-hung");
        let p = dir.join("ug");
        fs::write(&p, "#!/bin/sh\nsleep 60 &\nwait\n").unwrap();
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let t = Instant::now();
        let e = run_bounded(&p, Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("no answer within 1 s: killed it"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
    }
}
