// SPDX-License-Identifier: GPL-2.0-only

//! `persist = grub` (retire.conf): the machine frames page retirement has
//! retired also go on Xen's command line as `badpage=`, so that Xen keeps
//! them out of its allocator from boot on. Xen forgets offlined pages at a
//! reset; without this the service offlines them again only once it runs,
//! when dom0 and guests may already use them.
//!
//! Xen 4.20, x86 (and every architecture: the code is common):
//!
//! - docs/misc/xen-command-line.pandoc, `### badpage`:
//!   `= List of [ <integer> | <integer>-<integer> ]`, page (frame) numbers:
//!   "if your memory tester says that byte `0x12345678` is bad, you would
//!   place `badpage=0x12345`".
//! - xen/common/page_alloc.c: `opt_badpage` is a `string_param` of
//!   `char[100]`; `init_boot_pages()` (called by xen/arch/x86/setup.c for
//!   each RAM range of the memory map) reads it with `simple_strtoul(p, &p,
//!   0)` (xen/lib/strtoul.c: base 0, so hexadecimal needs its `0x`: `12345`
//!   is decimal and a leading `0` octal), `A-B` an inclusive range, `,`
//!   between items, and stops at anything else; each range is cut out of
//!   the boot allocator's regions (`bootmem_region_zap`), so the frames are
//!   never handed to the heap, dom0 or a guest. Xen prints nothing about it
//!   but its command line at boot (xen/arch/x86/setup.c: `Command line:`).
//! - xen/common/kernel.c `parse_params()`: a string parameter is copied with
//!   `strlcpy` into its buffer: a longer value is silently cut at 99
//!   characters (a number cut in the middle would name another frame), and
//!   a second `badpage=` replaces the first (the last one wins). Each option
//!   is also cut at `MAX_PARAM_SIZE` - 1 = 127 characters
//!   (xen/include/xen/param.h). So the value written here never exceeds
//!   [`BADPAGE_MAX`]; what does not fit is left out (see [`fit`]).
//! - What `xen-hptool mem-status` says of such a frame: `query_page_offline`
//!   (xen/common/page_alloc.c) reports the page's `PGC_state`; a frame cut
//!   out at boot was never freed into the heap, so its `page_info` keeps the
//!   zeroed state of the frame table (xen/arch/x86/mm.c
//!   `init_frametable_chunk`: `PGC_state_inuse`, no owner): status 0,
//!   "PAGE_ONLINED", neither offlined nor offline-pending. Offlining it then
//!   fails as "an anonymous page" (xen/common/page_alloc.c `offline_page`,
//!   tools/misc/xen-hptool.c), yet marks it offline-pending. So the
//!   service, which offlines retired pages again at start, reads the
//!   running Xen's `badpage=` ([`xen_badpages`]) and takes that refusal for
//!   such a frame as "out of service" ([`kept_out_at_boot`]).
//!
//! Debian trixie's GRUB (grub2-common, grub-common):
//!
//! - /usr/sbin/grub-mkconfig sources /etc/default/grub, then each
//!   /etc/default/grub.d/*.cfg in the shell's glob order (`set -e`);
//!   /usr/sbin/update-grub is `grub-mkconfig -o /boot/grub/grub.cfg`.
//! - /etc/grub.d/20_linux_xen gives Xen `${GRUB_CMDLINE_XEN}
//!   ${GRUB_CMDLINE_XEN_DEFAULT}` in its default and advanced entries and
//!   only `${GRUB_CMDLINE_XEN}` in its recovery entries: the snippet appends
//!   to `GRUB_CMDLINE_XEN`, so a recovery boot keeps the frames out too.
//! - xen-hypervisor-common ships /etc/default/grub.d/xen.cfg, where the
//!   admin may *assign* `GRUB_CMDLINE_XEN`. The snippet's name
//!   ([`DEFAULT_SNIPPET`], `zz-...`) sorts after it in the C order (dash)
//!   and in a locale's (bash), so it appends last and nothing the admin set
//!   is lost; it changes no other variable. If `badpage=` is already on
//!   either variable (the admin's own list), the snippet adds nothing (Xen
//!   would take only the last one) and says so on update-grub's output,
//!   which the service logs.
//!
//! The snippet is rewritten (atomically, as the state file) and update-grub
//! run only when the list changes; update-grub is bounded by a timeout, a
//! failure is logged once and counted (`xen_mcelog_retire_update_grub_
//! failures_total`) and tried again later; nothing here stops the records.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::prom::write_atomic;
use crate::retire::{Level, Outcome, PageState, State};

/// The snippet's default place: sorts after Debian's xen.cfg.
pub const DEFAULT_SNIPPET: &str = "/etc/default/grub.d/zz-xen-mcelog-badpages.cfg";
/// Debian's update-grub (grub2-common).
pub const DEFAULT_UPDATE_GRUB: &str = "/usr/sbin/update-grub";
/// What update-grub writes (to tell whether it ran since the snippet
/// changed).
pub const DEFAULT_GRUB_CFG: &str = "/boot/grub/grub.cfg";
/// The longest `badpage=` value Xen keeps (`char opt_badpage[100]`).
pub const BADPAGE_MAX: usize = 99;
/// How long update-grub may take (os-prober, many kernels) before it is
/// killed with its process group.
pub const UPDATE_GRUB_TIMEOUT: Duration = Duration::from_secs(300);
/// A failed update-grub is tried again after this many seconds.
pub const UPDATE_GRUB_RETRY: u64 = 600;
/// The snippet's variable holding the list.
const VAR: &str = "XEN_MCELOG_BADPAGES";

/// The retired frames (offlined or offline-pending) with the time each was
/// retired, earliest first (then by frame).
pub fn retired_frames(st: &State) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = st
        .pages
        .iter()
        .filter(|(_, p)| matches!(p.state, PageState::Offlined | PageState::Pending))
        .map(|(m, p)| (p.changed, *m))
        .collect();
    v.sort_unstable();
    v.into_iter().map(|(t, m)| (m, t)).collect()
}

/// Characters of `0x...` for `x`.
fn hex_len(x: u64) -> usize {
    let digits = (64 - x.leading_zeros() as usize).div_ceil(4).max(1);
    2 + digits
}

/// Characters of one item: `0xS` or `0xS-0xE`.
fn item_len(s: u64, e: u64) -> usize {
    hex_len(s) + if e > s { 1 + hex_len(e) } else { 0 }
}

/// Xen's `badpage=` value for inclusive `ranges` (sorted, disjoint,
/// not adjacent): `0x3a5b1,0x3a5c0-0x3a5c2`.
pub fn render(ranges: &[(u64, u64)]) -> String {
    let mut s = String::new();
    for (i, &(a, b)) in ranges.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{a:#x}");
        if b > a {
            let _ = write!(s, "-{b:#x}");
        }
    }
    s
}

/// Frames -> inclusive ranges, sorted, adjacent and repeated frames merged.
pub fn ranges(frames: impl IntoIterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut f: Vec<u64> = frames.into_iter().collect();
    f.sort_unstable();
    f.dedup();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for m in f {
        match out.last_mut() {
            Some((_, e)) if e.checked_add(1) == Some(m) => *e = m,
            _ => out.push((m, m)),
        }
    }
    out
}

/// What goes on Xen's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fit {
    /// The `badpage=` value (at most [`BADPAGE_MAX`] characters; empty
    /// when no frame).
    pub value: String,
    /// How many frames it names.
    pub frames: usize,
    /// The frames that did not fit, in frame order.
    pub left_out: Vec<u64>,
}

/// The `badpage=` value for `frames` (frame, time retired; in priority
/// order, [`retired_frames`]'s earliest first): sorted, ranges merged, at
/// most `max` characters. Frames are taken in priority order as long as the
/// value still fits (a frame next to one taken may still fit when a new one
/// does not), so a page retired later never pushes out one persisted
/// before, and the list stays the same when it is full. The frames left
/// out are still offlined again by the service after a reboot, as without
/// `persist`.
pub fn fit(frames: &[(u64, u64)], max: usize) -> Fit {
    // Inclusive ranges by start; the sum of item lengths; commas = n - 1.
    let mut taken: BTreeMap<u64, u64> = BTreeMap::new();
    let mut items_len = 0usize;
    let mut left_out = Vec::new();
    let mut n = 0usize;
    for &(f, _) in frames {
        if taken.range(..=f).next_back().is_some_and(|(_, &e)| e >= f) {
            continue;
        }
        let left = f
            .checked_sub(1)
            .and_then(|p| taken.range(..=p).next_back().filter(|(_, &e)| e == p))
            .map(|(&s, &e)| (s, e));
        let right = f
            .checked_add(1)
            .and_then(|q| taken.get(&q).map(|&e| (q, e)));
        let (s, e) = (left.map_or(f, |l| l.0), right.map_or(f, |r| r.1));
        let old =
            left.map_or(0, |(a, b)| item_len(a, b)) + right.map_or(0, |(a, b)| item_len(a, b));
        let new_items = items_len - old + item_len(s, e);
        let new_n = n + 1 - usize::from(left.is_some()) - usize::from(right.is_some());
        if new_items + new_n.saturating_sub(1) > max {
            left_out.push(f);
            continue;
        }
        if let Some((a, _)) = left {
            taken.remove(&a);
        }
        if let Some((a, _)) = right {
            taken.remove(&a);
        }
        taken.insert(s, e);
        items_len = new_items;
        n = new_n;
    }
    left_out.sort_unstable();
    let r: Vec<(u64, u64)> = taken.into_iter().collect();
    Fit {
        value: render(&r),
        frames: r.iter().map(|&(a, b)| (b - a + 1) as usize).sum(),
        left_out,
    }
}

/// The snippet's text for a `badpage=` value (empty: adds nothing).
pub fn snippet_text(value: &str) -> String {
    let mut s = format!(
        "# Written by xen-mcelog-dump --retire (persist = grub in /etc/xen-mcelog/retire.conf):\n\
         # the machine frames page retirement has retired, for Xen's badpage= option,\n\
         # so that Xen keeps them out of its allocator from boot on. Rewritten, and\n\
         # update-grub run, whenever that list changes: do not edit (set persist = off\n\
         # and remove this file, then run update-grub, to stop it).\n\
         # grub-mkconfig sources it after /etc/default/grub and the other\n\
         # /etc/default/grub.d/*.cfg (its name sorts last); it only appends to\n\
         # GRUB_CMDLINE_XEN (every Xen entry, recovery included). Xen takes only the\n\
         # last badpage= and at most {BADPAGE_MAX} characters of it: with a badpage= of your\n\
         # own already there, nothing is added (update-grub says so).\n\
         {VAR}=\"{value}\"\n"
    );
    if !value.is_empty() {
        s.push_str(&format!(
            "case \" ${{GRUB_CMDLINE_XEN-}} ${{GRUB_CMDLINE_XEN_DEFAULT-}} \" in\n\
             *\" badpage=\"*)\n\
             \techo \"xen-mcelog: badpage= is already on Xen's command line (GRUB_CMDLINE_XEN or \
             GRUB_CMDLINE_XEN_DEFAULT) and Xen takes only the last one: the retired frames \
             ${VAR} are not added; merge them into it\" >&2 ;;\n\
             *)\n\
             \tGRUB_CMDLINE_XEN=\"${{GRUB_CMDLINE_XEN:+$GRUB_CMDLINE_XEN }}badpage=${VAR}\" ;;\n\
             esac\n"
        ));
    }
    s
}

/// The `badpage=` value a snippet written by [`snippet_text`] holds.
pub fn snippet_value(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(VAR)?.strip_prefix("=\""))
        .and_then(|v| v.strip_suffix('"'))
        .map(str::to_string)
}

/// The frames Xen keeps out of its allocator for a command line, as
/// inclusive ranges, read the way Xen 4.20 reads it: the last `badpage=`
/// option (xen/common/kernel.c `parse_params`: options split at spaces,
/// each cut at 127 characters; `no-badpage` too, with an empty value; the
/// value cut at 99 by `strlcpy`), then xen/common/page_alloc.c
/// `init_boot_pages`' loop with xen/lib/strtoul.c's base-0 numbers.
pub fn xen_badpages(cmdline: &str) -> Vec<(u64, u64)> {
    let mut value: Option<&[u8]> = None;
    for opt in cmdline.split(' ').filter(|o| !o.is_empty()) {
        let opt = &opt.as_bytes()[..opt.len().min(127)];
        let (key, val) = match opt.iter().position(|&c| c == b'=') {
            Some(i) => (&opt[..i], &opt[i + 1..]),
            None => (opt, &opt[opt.len()..]),
        };
        let key = key.strip_prefix(b"no-").unwrap_or(key);
        if key == b"badpage" {
            value = Some(&val[..val.len().min(BADPAGE_MAX)]);
        }
    }
    let Some(mut p) = value else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while !p.is_empty() {
        let (s, rest) = strtoul0(p);
        p = rest;
        let mut e = s;
        if p.first() == Some(&b'-') {
            let (v, rest) = strtoul0(&p[1..]);
            p = rest;
            e = v.max(s);
        }
        // An item followed by anything but `,` or the end is not taken.
        match p.first() {
            Some(b',') => p = &p[1..],
            None => {}
            Some(_) => break,
        }
        // bootmem_region_zap(s, e + 1): nothing when e + 1 wraps.
        if e != u64::MAX {
            out.push((s, e));
        }
    }
    ranges_union(out)
}

/// xen/lib/strtoul.c `simple_strtoul(cp, &end, 0)`.
fn strtoul0(mut p: &[u8]) -> (u64, &[u8]) {
    let mut base = 10u64;
    if p.first() == Some(&b'0') {
        base = 8;
        p = &p[1..];
        if matches!(p.first(), Some(b'x' | b'X')) && p.get(1).is_some_and(u8::is_ascii_hexdigit) {
            p = &p[1..];
            base = 16;
        }
    }
    let mut v = 0u64;
    while let Some(d) = p.first().and_then(|&c| (c as char).to_digit(16)) {
        if u64::from(d) >= base {
            break;
        }
        v = v.wrapping_mul(base).wrapping_add(u64::from(d));
        p = &p[1..];
    }
    (v, p)
}

/// Inclusive ranges, sorted and merged (overlapping or adjacent).
fn ranges_union(mut r: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    r.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in r {
        match out.last_mut() {
            Some((_, le)) if s <= le.saturating_add(1) => *le = (*le).max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Whether `mfn` is in one of `ranges`.
pub fn covered(ranges: &[(u64, u64)], mfn: u64) -> bool {
    ranges.iter().any(|&(s, e)| s <= mfn && mfn <= e)
}

/// What an offline request for a retired page at start means when Xen's
/// `badpage=` ([`xen_badpages`]) names the frame: Xen never freed it into
/// its heap, so it reports the page online (status 0), and offlining it
/// fails as "an anonymous page" (no owner, not free; Xen marks it
/// offline-pending then). That refusal means the page is out of service,
/// as Xen was told at boot: `Offlined` (logged), not `Refused`, which would
/// drop it from the snippet. Any other outcome stands: a frame Xen placed
/// its own image or a boot module on before its allocator started
/// (xen/arch/x86/setup.c relocates them from the memory map without
/// reading `badpage=`) reached the heap later and is offlined as usual.
pub fn kept_out_at_boot(
    mfn: u64,
    out: Outcome,
    boot: &[(u64, u64)],
    log: &mut dyn FnMut(Level, String),
) -> Outcome {
    match out {
        Outcome::Refused(w) if w.contains("anonymous page") && covered(boot, mfn) => {
            log(
                Level::Notice,
                format!(
                    "page {mfn:#x}: kept out of Xen's allocator since boot (badpage= on Xen's \
                     command line): nobody had it, Xen now marks it offline-pending"
                ),
            );
            Outcome::Offlined
        }
        o => o,
    }
}

/// The running Xen's `badpage=` frames (through /dev/xen/privcmd).
pub fn running_xen_badpages() -> Result<Vec<(u64, u64)>, String> {
    let f = crate::sys::open(
        crate::sys::PRIVCMD_PATH,
        crate::sys::Mode {
            rdwr: true,
            ..Default::default()
        },
    )
    .map_err(|e| format!("{}: {e}", crate::sys::PRIVCMD_PATH))?;
    let line = crate::sys::xen_commandline(&f).map_err(|e| format!("XENVER_commandline: {e}"))?;
    Ok(xen_badpages(&line))
}

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
    use crate::retire::Page;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("xmc-grub-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn at(frames: &[u64]) -> Vec<(u64, u64)> {
        frames
            .iter()
            .enumerate()
            .map(|(i, &m)| (m, i as u64))
            .collect()
    }

    #[test]
    fn the_value_is_sorted_hex_with_ranges_merged() {
        assert_eq!(fit(&[], BADPAGE_MAX).value, "");
        assert_eq!(fit(&at(&[0x3a5b1]), BADPAGE_MAX).value, "0x3a5b1");
        let f = fit(
            &at(&[0x3a5c2, 0x12, 0x3a5c0, 0x3a5c1, 0x13, 0x3a5b1, 0x3a5c1]),
            99,
        );
        assert_eq!(f.value, "0x12-0x13,0x3a5b1,0x3a5c0-0x3a5c2");
        assert_eq!((f.frames, f.left_out.len()), (6, 0));
        // Frame 0 and the largest frame are written as Xen reads them.
        assert_eq!(
            fit(&at(&[0, 1, 0xf_ffff_ffff]), 99).value,
            "0x0-0x1,0xfffffffff"
        );
        // Xen reads back exactly these frames.
        for set in [
            vec![0x3a5b1],
            vec![5, 6, 7, 9, 0x100, 0xfffff],
            vec![0x138c34, 0x138c35],
        ] {
            let f = fit(&at(&set), BADPAGE_MAX);
            let back = xen_badpages(&format!("console=com1 badpage={} noreboot", f.value));
            assert_eq!(back, ranges(set.iter().copied()), "{}", f.value);
        }
    }

    #[test]
    fn too_many_frames_keep_the_earliest_retired_within_99_characters() {
        // 7-digit frames: "0x1000000" is 9 characters, 10 of them with their
        // commas 99.
        let frames: Vec<u64> = (0..12u64).map(|i| 0x100_0000 + i * 0x10).collect();
        let f = fit(&at(&frames), BADPAGE_MAX);
        assert_eq!(f.value.len(), BADPAGE_MAX);
        assert_eq!(f.frames, 10);
        assert_eq!(f.left_out, frames[10..].to_vec());
        // Retired first, kept: a 12-character frame after 0x10 and seven
        // 9-character ones (87 characters) fits, the next does not, yet a
        // frame retired later next to 0x10 still does (0x10-0x11: 5 more).
        let mut list = vec![0x10];
        list.extend((0..7u64).map(|i| 0x100_0000 + i * 0x10));
        list.extend([0x10_0000_0000, 0x20_0000_0000, 0x11]);
        let g = fit(&at(&list), BADPAGE_MAX);
        assert_eq!(g.left_out, vec![0x20_0000_0000]);
        assert!(g.value.starts_with("0x10-0x11,0x1000000,"), "{}", g.value);
        assert_eq!(g.value.len(), 92);
        // What fits is what Xen keeps: not cut by its 99-character buffer.
        for v in [&f.value, &g.value] {
            let back = xen_badpages(&format!("badpage={v}"));
            assert_eq!(render(&back), *v);
        }
    }

    #[test]
    fn xen_reads_badpage_as_page_alloc_c_does() {
        assert_eq!(xen_badpages("console=com1"), vec![]);
        assert_eq!(
            xen_badpages("badpage=0x3f45,0x8a321"),
            vec![(0x3f45, 0x3f45), (0x8a321, 0x8a321)]
        );
        // Base 0: decimal without 0x, octal with a leading 0.
        assert_eq!(xen_badpages("badpage=100,010"), vec![(8, 8), (100, 100)]);
        // A range; an end below its start is the start.
        assert_eq!(
            xen_badpages("badpage=0x10-0x12,0x20-0x1"),
            vec![(0x10, 0x12), (0x20, 0x20)]
        );
        // The last badpage= wins; no-badpage empties it.
        assert_eq!(xen_badpages("badpage=0x1 x=y badpage=0x2"), vec![(2, 2)]);
        assert_eq!(xen_badpages("badpage=0x1 no-badpage"), vec![]);
        // Anything else stops the list, the item before it not taken.
        assert_eq!(xen_badpages("badpage=0x1,0x2;0x3"), vec![(1, 1)]);
        // Past 99 characters Xen cuts the value: the cut number names
        // another frame (0x1234567 instead of 0x12345678).
        let long = (0..9)
            .map(|i| format!("{:#x}", 0x100_0000 + i * 0x10))
            .collect::<Vec<_>>()
            .join(",")
            + ",0x12345678";
        assert_eq!(long.len(), 100);
        let got = xen_badpages(&format!("badpage={long}"));
        assert!(
            covered(&got, 0x123_4567) && !covered(&got, 0x1234_5678),
            "{got:?}"
        );
    }

    #[test]
    fn an_anonymous_refusal_of_a_badpage_frame_means_kept_out() {
        let boot = xen_badpages("badpage=0x3a5b1,0x3a5c0-0x3a5c2");
        let anon = || {
            Outcome::Refused(
                "Memory mfn 3a5c1 offline failed the memory is an anonymous page!".into(),
            )
        };
        let mut logs = Vec::new();
        let mut log = |l: Level, s: String| logs.push(format!("<{}>{s}", l as u8));
        assert_eq!(
            kept_out_at_boot(0x3a5c1, anon(), &boot, &mut log),
            Outcome::Offlined
        );
        // Not on Xen's command line, or another refusal, or offlined: as is.
        assert_eq!(kept_out_at_boot(0x3a5c3, anon(), &boot, &mut log), anon());
        let xp = Outcome::Refused("Xen's own page".into());
        assert_eq!(kept_out_at_boot(0x3a5b1, xp.clone(), &boot, &mut log), xp);
        assert_eq!(
            kept_out_at_boot(0x3a5b1, Outcome::Pending(Some(3)), &boot, &mut log),
            Outcome::Pending(Some(3))
        );
        assert_eq!(logs.len(), 1);
        assert!(logs[0].starts_with("<5>page 0x3a5c1: kept out of Xen's allocator since boot"));
    }

    fn state(pages: &[(u64, PageState, u64)]) -> State {
        let mut st = State::default();
        for &(m, s, t) in pages {
            let mut p = Page {
                count: 0,
                since: t,
                errors: 3,
                state: s,
                attempts: 0,
                changed: t,
                owner: 0x7FF4,
            };
            p.state = s;
            st.pages.insert(m, p);
        }
        st
    }

    #[test]
    fn only_offlined_and_pending_pages_in_retirement_order() {
        let st = state(&[
            (0x30, PageState::Offlined, 300),
            (0x10, PageState::Pending, 200),
            (0x20, PageState::Refused, 100),
            (0x40, PageState::Counting, 100),
            (0x50, PageState::Deferred, 100),
            (0x60, PageState::Offlined, 100),
        ]);
        assert_eq!(
            retired_frames(&st),
            vec![(0x60, 100), (0x10, 200), (0x30, 300)]
        );
    }

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
        let dir = scratch("sync");
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
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_update_grub_is_counted_logged_once_and_retried() {
        let dir = scratch("fail");
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
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_hung_update_grub_is_killed_at_the_timeout() {
        let dir = scratch("hung");
        let p = dir.join("ug");
        fs::write(&p, "#!/bin/sh\nsleep 60 &\nwait\n").unwrap();
        fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let t = Instant::now();
        let e = run_bounded(&p, Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("no answer within 1 s: killed it"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(10));
        fs::remove_dir_all(&dir).unwrap();
    }

    /// grub-mkconfig's sourcing (/usr/sbin/grub-mkconfig, Debian trixie's
    /// grub2-common 2.12: /etc/default/grub, then /etc/default/grub.d/*.cfg
    /// in glob order, under `set -e`), run by `shell` on a temp directory.
    fn grub_mkconfig_vars(shell: &str, etc: &Path) -> Option<String> {
        let script = "set -e\nsysconfdir=\"$1\"\n\
            if test -f ${sysconfdir}/default/grub ; then\n  . ${sysconfdir}/default/grub\nfi\n\
            for x in ${sysconfdir}/default/grub.d/*.cfg ; do\n  if [ -e \"${x}\" ]; then\n    . \"${x}\"\n  fi\ndone\n\
            printf 'XEN=[%s]\\nXEN_DEFAULT=[%s]\\nLINUX=[%s]\\nDEFAULT=[%s]\\n' \"$GRUB_CMDLINE_XEN\" \
            \"$GRUB_CMDLINE_XEN_DEFAULT\" \"$GRUB_CMDLINE_LINUX\" \"$GRUB_CMDLINE_LINUX_DEFAULT\"\n";
        let out = Command::new(shell)
            .args(["-c", script, "sh", etc.to_str().unwrap()])
            .env("LC_ALL", "en_US.UTF-8")
            .output()
            .ok()?;
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    #[test]
    fn sourced_by_grub_mkconfig_the_snippet_only_appends() {
        let dir = scratch("shell");
        let d = dir.join("default");
        fs::create_dir_all(d.join("grub.d")).unwrap();
        fs::write(
            d.join("grub"),
            "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n\
             GRUB_CMDLINE_XEN_DEFAULT=\"dom0_mem=4G,max:4G\"\n",
        )
        .unwrap();
        // Debian's xen.cfg with the admin's assignment uncommented.
        fs::write(
            d.join("grub.d/xen.cfg"),
            "echo \"Including Xen overrides from /etc/default/grub.d/xen.cfg\" >&2\n\
             GRUB_CMDLINE_XEN=\"console=com1 com1=115200,8n1\"\n",
        )
        .unwrap();
        let snip = d
            .join("grub.d")
            .join(Path::new(DEFAULT_SNIPPET).file_name().unwrap());
        fs::write(&snip, snippet_text("0x3a5b1,0x3a5c0-0x3a5c2")).unwrap();
        let mut shells = 0;
        for sh in ["/bin/sh", "/bin/dash", "/bin/bash"] {
            let Some(out) = grub_mkconfig_vars(sh, &dir) else {
                continue;
            };
            shells += 1;
            assert!(
                out.contains(
                    "XEN=[console=com1 com1=115200,8n1 badpage=0x3a5b1,0x3a5c0-0x3a5c2]\n"
                ),
                "{sh}: {out}"
            );
            assert!(
                out.contains("XEN_DEFAULT=[dom0_mem=4G,max:4G]\nLINUX=[]\nDEFAULT=[quiet]\n"),
                "{sh}: {out}"
            );
            // The default entry's Xen line, as 20_linux_xen writes it, is read
            // by Xen as these frames.
            let xen =
                "console=com1 com1=115200,8n1 badpage=0x3a5b1,0x3a5c0-0x3a5c2 dom0_mem=4G,max:4G";
            assert_eq!(
                xen_badpages(xen),
                vec![(0x3a5b1, 0x3a5b1), (0x3a5c0, 0x3a5c2)]
            );
        }
        assert!(shells > 0, "no shell to test with");
        // Without xen.cfg's assignment: appended to nothing, no leading space.
        fs::remove_file(d.join("grub.d/xen.cfg")).unwrap();
        if let Some(out) = grub_mkconfig_vars("/bin/sh", &dir) {
            assert!(
                out.contains("XEN=[badpage=0x3a5b1,0x3a5c0-0x3a5c2]\n"),
                "{out}"
            );
        }
        // The admin's own badpage=: left as it is, said on stderr.
        fs::write(
            d.join("grub"),
            "GRUB_CMDLINE_XEN_DEFAULT=\"dom0_mem=4G badpage=0x77\"\n",
        )
        .unwrap();
        if let Some(out) = grub_mkconfig_vars("/bin/sh", &dir) {
            assert!(
                out.contains("XEN=[]\nXEN_DEFAULT=[dom0_mem=4G badpage=0x77]\n"),
                "{out}"
            );
            assert!(
                out.contains("xen-mcelog: badpage= is already on Xen's command line"),
                "{out}"
            );
            assert!(
                out.contains("the retired frames 0x3a5b1,0x3a5c0-0x3a5c2 are not added"),
                "{out}"
            );
        }
        // An empty list adds nothing.
        fs::write(&snip, snippet_text("")).unwrap();
        fs::write(d.join("grub"), "GRUB_CMDLINE_XEN=\"x=1\"\n").unwrap();
        if let Some(out) = grub_mkconfig_vars("/bin/sh", &dir) {
            assert!(out.contains("XEN=[x=1]\n"), "{out}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_snippet_sorts_after_debians_xen_cfg() {
        let name = Path::new(DEFAULT_SNIPPET)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        // The C order (dash's glob); a locale's ignores punctuation first,
        // and z sorts after x there too.
        assert!(name > "xen.cfg");
        assert!(name.starts_with("zz-"));
    }
}
