// SPDX-License-Identifier: GPL-2.0-only

//! Predictive page retirement for Xen hosts (`xen-mcelog-dump --follow
//! --retire CONFIG`): corrected memory errors are counted per machine page
//! (4 KiB frame) in mcelog's leaky bucket; when a page's bucket overflows
//! (`memory-ce-threshold = N / window`, N >= 2) the page is offlined by Xen
//! through the page-offline sysctl of Xen's own tool (`xen-hptool
//! mem-offline`; xen-hptool itself only for a guest's page with `guest-pages
//! = offline`), at most `max-offlines` per period. Off until
//! configured; `action = dry-run` only logs. The counts, the pages' states
//! and the recent offlines are kept in a state file, so a restart of the
//! service or a reload of the module loses nothing.
//!
//! Only the record's machine address is used (the Xen side of an extended
//! record, [`XenInfo::machine_addr`]): dom0's pseudo-physical pages and a
//! guest's addresses are never involved.
//!
//! Time: every time the policy uses or keeps is wall-clock Unix seconds (the
//! state file outlives reboots, where no monotonic clock survives, and the
//! driver stamps each record with the wall clock). An error counts at its
//! record's stamp, so a backlog read at start keeps its spacing; the stamp is
//! clamped to [the page bucket's last drain, now]. A clock that goes back
//! (e.g. years ahead at boot, then stepped back by NTP) would leave times in
//! the future, blocking `max-offlines` and stopping buckets from draining
//! until the clock caught up: a `now` before the latest time seen makes all
//! later times `now` (logged when 60 s or more). A step forward cannot be told
//! from time passing and counts as elapsed: buckets drain and the
//! `max-offlines` period may end early (no page is offlined that did not
//! cross its threshold).
//!
//! Who owns a page is asked of Xen right before every offline request (the
//! first crossing, deferred and guest pages retried by [`Retirer::tick`],
//! retired pages offlined again after a reboot): [`xenpage::claim`], through
//! the page-offline sysctl xen-hptool uses, whose answer names the owner.
//! A free page or dom0's goes in that same step; with `guest-pages = skip`
//! a guest's page is left to the guest (Xen's mark taken back at once) and
//! xen-hptool, which suspends the guest to exchange the page, is never run;
//! with `guest-pages = offline` xen-hptool then exchanges it. The owner in
//! the error record only says who held the page when the error was seen.
//!
//! Everything but [`HpTool`] (which runs the program and makes the sysctl)
//! and [`load_state`]'s file handling is pure and host-tested.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use xmc_core::mcinfo::{DOMID_INVALID, XEN_PAGE_SHIFT};
use xmc_core::record::{
    Mce, XenInfo, MCI_STATUS_ADDRV, MCI_STATUS_DEFERRED, MCI_STATUS_MISCV, MCI_STATUS_PADDRV,
    MCI_STATUS_POISON, MCI_STATUS_UC, MCI_STATUS_VAL, VENDOR_AMD, VENDOR_HYGON, VENDOR_INTEL,
    XEN_INFO_PREVIOUS_BOOT,
};

use crate::prom::write_atomic;
use crate::xenpage::{
    self, Claim, Mark, XenPages, PG_OFFLINE_STATUS_BROKEN, PG_OFFLINE_STATUS_OFFLINED,
    PG_OFFLINE_STATUS_OFFLINE_PENDING,
};

/// Where the Debian packages install the configuration.
pub const DEFAULT_CONFIG: &str = "/etc/xen-mcelog/retire.conf";
/// The state file's default place (systemd `StateDirectory=xen-mcelog`).
pub const DEFAULT_STATE: &str = "/var/lib/xen-mcelog/retire.state";
/// Debian's xen-utils-common wrapper, which runs the running Xen's version.
pub const DEFAULT_HPTOOL: &str = "/usr/sbin/xen-hptool";
/// A page whose offlining failed for an unknown reason is tried this many
/// times in all (at each new overflow of its bucket), then left alone.
pub const MAX_ATTEMPTS: u32 = 3;
/// How often pages Xen left offline-pending are asked about again (seconds).
pub const PENDING_RECHECK: u64 = 600;
/// At most this many pages are tracked: past it, room is made by
/// forgetting the pages whose loss costs no decision ([`EVICTABLE`], each
/// state's longest unchanged first); pages retired, deferred or left to a
/// guest are never forgotten: while the table holds only those, an error on
/// a new page is counted in the total and as untracked (logged). A failing
/// DIMM gives a few pages; thousands at once is a failing channel or DIMM,
/// which page retirement does not fix.
pub const MAX_PAGES: usize = 16384;
/// The states a full table may forget, in this order: a counting page
/// (it counts again from zero), a dry-run verdict (the page is judged
/// again), a refusal (Xen is asked again at the next crossing and refuses
/// again) and a failure (it gets its attempts again).
pub const EVICTABLE: [PageState; 4] = [
    PageState::Counting,
    PageState::DryRun,
    PageState::Refused,
    PageState::Failed,
];
/// Under a storm the state file is written at most once per this interval
/// (monotonic time): counts, drains, dry-run verdicts and deferrals are
/// coalesced, and a crash (SIGKILL, a reset) loses at most this much of
/// them: pages count again, none Xen took. Everything Xen is asked to do
/// is written at once: the state before every offline request
/// ([`Retirer::checkpoint`]) and the outcome right after; and always when
/// the service stops.
pub const STATE_SAVE_INTERVAL: Duration = Duration::from_secs(10);
/// A full table makes room for this many pages at once, so that a storm
/// of new pages sorts the table once per this many records, not per
/// record.
const ROOM: usize = MAX_PAGES / 64;
/// Evictions from a full table are logged at most once per this many
/// seconds (one summary line; the textfile counts each).
const EVICT_LOG_INTERVAL: u64 = 60;

/// `MCi_MISC` address mode "physical address" (bits 8:6).
const MCI_MISC_ADDR_PHYS: u64 = 2;

/// What the configuration allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing is counted or decided (the default); pages retired before
    /// stay out of service unless `retired-pages = forget`.
    Off,
    /// Counted; a page past the threshold is only logged.
    DryRun,
    /// Counted; a page past the threshold is offlined through Xen.
    Offline,
}

impl Action {
    /// The configuration's word.
    pub fn name(self) -> &'static str {
        match self {
            Action::Off => "off",
            Action::DryRun => "dry-run",
            Action::Offline => "offline",
        }
    }
}

/// `COUNT / TIME` as mcelog writes it: `10 / 24h` (units s, m, h, d; none
/// is seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// The count.
    pub count: u32,
    /// The period in seconds (> 0).
    pub secs: u64,
}

impl Rate {
    /// Parses `10 / 24h`.
    pub fn parse(s: &str) -> Result<Rate, String> {
        let (n, t) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected COUNT / TIME, e.g. 10 / 24h"))?;
        let count = n
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("`{s}`: `{}` is not a count", n.trim()))?;
        let t = t.trim();
        let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((i, _)) => t.split_at(i),
            None => (t, ""),
        };
        let mult = match unit.trim() {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            u => return Err(format!("`{s}`: unknown time unit `{u}` (s, m, h, d)")),
        };
        let secs = digits
            .parse::<u64>()
            .ok()
            .and_then(|v| v.checked_mul(mult))
            .filter(|&v| v > 0)
            .ok_or_else(|| format!("`{s}`: `{t}` is not a time > 0"))?;
        Ok(Rate { count, secs })
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.count, window(self.secs))
    }
}

/// A period as the configuration writes it: `24h`, `90m`, `30s`.
pub fn window(secs: u64) -> String {
    if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// The configuration file (`key = value` lines, `#` comments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `action`.
    pub action: Action,
    /// `memory-ce-threshold`: mcelog's meaning (a leaky bucket of COUNT
    /// errors that drains COUNT per TIME; the page is retired when it fills).
    pub threshold: Rate,
    /// `max-offlines`: at most COUNT pages offlined per TIME.
    pub max_offlines: Rate,
    /// `state-file`.
    pub state: PathBuf,
    /// `xen-hptool`.
    pub hptool: PathBuf,
    /// `privcmd`: dom0's hypercall device, for Xen's page-offline sysctl.
    pub privcmd: PathBuf,
    /// `guest-pages = offline`: also offline pages a guest domain owns.
    pub guest_pages: bool,
    /// `retired-pages = forget`: with `action = off` or `dry-run`, the pages
    /// retired before are dropped from the state at start instead of being
    /// offlined again (`keep`, the default, keeps them out of service
    /// whatever the action).
    pub forget_retired: bool,
    /// `persist = grub`: the retired frames also go on Xen's command line
    /// (`badpage=`, through a GRUB snippet; [`crate::grub`]).
    pub persist_grub: bool,
    /// `grub-snippet`: the one file `persist = grub` writes.
    pub grub_snippet: PathBuf,
    /// `update-grub`: the program run after the snippet changed.
    pub update_grub: PathBuf,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            action: Action::Off,
            threshold: Rate {
                count: 10,
                secs: 86400,
            },
            max_offlines: Rate {
                count: 4,
                secs: 86400,
            },
            state: PathBuf::from(DEFAULT_STATE),
            hptool: PathBuf::from(DEFAULT_HPTOOL),
            privcmd: PathBuf::from(crate::sys::PRIVCMD_PATH),
            guest_pages: false,
            forget_retired: false,
            persist_grub: false,
            grub_snippet: PathBuf::from(crate::grub::DEFAULT_SNIPPET),
            update_grub: PathBuf::from(crate::grub::DEFAULT_UPDATE_GRUB),
        }
    }
}

impl Config {
    /// Parses the file's text; unknown keys and bad values are errors
    /// (naming the line), so a typo never silently leaves a default.
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut c = Config::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = |e: String| format!("line {}: {e}", i + 1);
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| at(format!("`{line}`: expected key = value")))?;
            let (k, v) = (k.trim(), v.trim());
            match k {
                "action" => {
                    c.action = match v {
                        "off" => Action::Off,
                        "dry-run" => Action::DryRun,
                        "offline" => Action::Offline,
                        _ => return Err(at(format!("action `{v}`: off, dry-run or offline"))),
                    }
                }
                "memory-ce-threshold" => c.threshold = Rate::parse(v).map_err(at)?,
                "max-offlines" => c.max_offlines = Rate::parse(v).map_err(at)?,
                "state-file" => c.state = PathBuf::from(v),
                "xen-hptool" => c.hptool = PathBuf::from(v),
                "privcmd" => c.privcmd = PathBuf::from(v),
                "retired-pages" => {
                    c.forget_retired = match v {
                        "keep" => false,
                        "forget" => true,
                        _ => return Err(at(format!("retired-pages `{v}`: keep or forget"))),
                    }
                }
                "guest-pages" => {
                    c.guest_pages = match v {
                        "skip" => false,
                        "offline" => true,
                        _ => return Err(at(format!("guest-pages `{v}`: skip or offline"))),
                    }
                }
                "persist" => {
                    c.persist_grub = match v {
                        "off" => false,
                        "grub" => true,
                        _ => return Err(at(format!("persist `{v}`: off or grub"))),
                    }
                }
                "grub-snippet" => c.grub_snippet = PathBuf::from(v),
                "update-grub" => c.update_grub = PathBuf::from(v),
                _ => return Err(at(format!("unknown key `{k}`"))),
            }
        }
        if c.threshold.count < 2 {
            return Err(format!(
                "memory-ce-threshold {}: must be at least 2 (never act on a single error)",
                c.threshold
            ));
        }
        if c.forget_retired && c.action == Action::Offline {
            return Err(
                "retired-pages = forget with action = offline would forget at every \
                        start what was retired: use it with action = off or dry-run"
                    .into(),
            );
        }
        if c.max_offlines.count == 0 && c.action == Action::Offline {
            return Err(
                "max-offlines 0 / ...: nothing could be offlined; use action = dry-run".into(),
            );
        }
        Ok(c)
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The machine frame of a corrected memory error whose page can be retired,
/// or `None`. Linux's RAS_CEC rule (arch/x86/kernel/cpu/mce/core.c
/// `cec_add_mce`: `mce_is_memory_error && mce_is_correctable &&
/// mce_usable_address`), applied to Xen's record:
///
/// - corrected: VAL, not UC, and on AMD/Hygon not DEFERRED (core.c
///   `mce_is_correctable`); from this boot;
/// - a usable address (core.c `mce_usable_address`: ADDRV, then per vendor,
///   see [`usable_address`]), and a machine address on Xen's side;
/// - a memory error: on Intel a memory-controller error code (0000 0000 1MMM
///   CCCC; stricter than core.c `mce_is_memory_error`, which also takes
///   cache-hierarchy codes: a corrected cache error says nothing about a DRAM
///   page, and mcelog's `memory-ce-threshold` counts DIMM errors only); on
///   AMD/Hygon see [`usable_address`] (legacy: the northbridge's DRAM ECC,
///   amd.c `legacy_mce_is_memory_error`; SMCA: a memory code with extended
///   error code 0, standing in for amd.c `smca_mce_is_memory_error`, which
///   names the UMC bank by its MCA_IPID, a register Xen's record lacks).
pub fn memory_ce_frame(m: &Mce, x: &XenInfo) -> Option<u64> {
    let amd = matches!(m.cpuvendor, VENDOR_AMD | VENDOR_HYGON);
    if m.status & MCI_STATUS_VAL == 0
        || m.status & MCI_STATUS_UC != 0
        || (amd && m.status & MCI_STATUS_DEFERRED != 0)
        || x.flags & XEN_INFO_PREVIOUS_BOOT != 0
        || !usable_address(m)
    {
        return None;
    }
    let code = (m.status & 0xFFFF) as u16 & !0x1000;
    let memctl = code & 0xFF80 == 0x0080;
    let bus_to_memory = code & 0xF800 == 0x0800 && code >> 2 & 3 == 0;
    let memory = match m.cpuvendor {
        VENDOR_INTEL => memctl,
        // Legacy: usable_address took only bank 4 with XEC 8, the DRAM ECC.
        VENDOR_AMD | VENDOR_HYGON if !amd_smca(m) => true,
        VENDOR_AMD | VENDOR_HYGON => amd_xec(m, 0x3F) == 0 && (memctl || bus_to_memory),
        _ => false,
    };
    if !memory {
        return None;
    }
    x.machine_addr(m).map(|a| a >> XEN_PAGE_SHIFT)
}

/// The CPU family of CPUID leaf 1 EAX (base family, plus the extended
/// family when the base is 0xF); 0 when the record has no CPUID.
pub fn cpu_family(cpuid: u32) -> u32 {
    let base = cpuid >> 8 & 0xF;
    if base == 0xF {
        base + (cpuid >> 20 & 0xFF)
    } else {
        base
    }
}

/// Whether an AMD/Hygon record comes from a Scalable MCA CPU. Linux asks
/// `X86_FEATURE_SMCA` (CPUID 0x80000007 EBX bit 3) of the CPU it runs on;
/// Xen's record carries the CPU's leaf 1 EAX only, so the family decides:
/// every AMD family from 17h (Zen) on has SMCA, and Hygon's 18h is a Zen.
fn amd_smca(m: &Mce) -> bool {
    match m.cpuvendor {
        VENDOR_AMD => cpu_family(m.cpuid) >= 0x17,
        VENDOR_HYGON => true,
        _ => false,
    }
}

/// AMD's extended error code, `MCi_STATUS[21:16]` masked (amd.c `XEC`).
fn amd_xec(m: &Mce, mask: u64) -> u64 {
    m.status >> 16 & mask
}

/// Linux's `mce_usable_address` (arch/x86/kernel/cpu/mce/core.c): is
/// `MCi_ADDR` a physical address this code can use for a page?
///
/// - ADDRV must be set.
/// - Intel: arch/x86/kernel/cpu/mce/intel.c `intel_mce_usable_address`:
///   MISCV set, `MCi_MISC` address mode physical (bits 8:6 = 2) and its
///   least significant valid bit (5:0) at most XEN_PAGE_SHIFT.
/// - AMD: arch/x86/kernel/cpu/mce/amd.c `amd_mce_usable_address`. Before
///   SMCA only the northbridge's DRAM ECC (bank 4, extended error code 8)
///   has a system physical address; any other bank 4 error has none. With
///   SMCA a bank's address is a system physical address when MCA_STATUS
///   PADDRV (bit 54) says so (Linux also checks the bank's MCA_CONFIG
///   PADDRV capability, bit 11, which Xen does not report; the status bit
///   is reserved on banks without it), or for a poison consumption (bit 43).
///   Everything else is not usable: an SMCA UMC (memory controller) error
///   carries a *normalized* DRAM address, which only the Data Fabric's
///   address map turns into a system address (Linux: drivers/ras/amd/atl;
///   neither Xen nor dom0 translates it), so such errors are not counted.
///   A record without CPUID (family unknown) is not used either.
/// - Hygon: Linux's switch has no case for it (so any ADDRV address is
///   taken); Hygon's family 18h is a Zen with the same normalized UMC
///   addresses, so it is held to the SMCA rule here.
/// - Other vendors: not used.
pub fn usable_address(m: &Mce) -> bool {
    if m.status & MCI_STATUS_ADDRV == 0 {
        return false;
    }
    match m.cpuvendor {
        VENDOR_INTEL => {
            m.status & MCI_STATUS_MISCV != 0
                && m.misc & 0x3F <= u64::from(XEN_PAGE_SHIFT)
                && m.misc >> 6 & 7 == MCI_MISC_ADDR_PHYS
        }
        VENDOR_AMD | VENDOR_HYGON => {
            if m.cpuvendor == VENDOR_AMD && m.cpuid == 0 {
                return false;
            }
            if !amd_smca(m) {
                // amd.c legacy_mce_is_memory_error: bank 4, XEC 8.
                return m.bank == 4 && amd_xec(m, 0x1F) == 8;
            }
            m.status & (MCI_STATUS_PADDRV | MCI_STATUS_POISON) != 0
        }
        _ => false,
    }
}

/// Where a page stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PageState {
    /// Errors counted, below the threshold.
    Counting,
    /// Past the threshold in dry-run mode: logged, not offlined.
    DryRun,
    /// Past the threshold, waiting for the rate limit.
    Deferred,
    /// Past the threshold, and Xen answered right before the offline
    /// request that a guest domain owns it (`guest-pages = skip`): left to
    /// the guest; Xen is asked again every [`PENDING_RECHECK`] seconds and
    /// at a later crossing, and the page goes once it is free or dom0's.
    Guest,
    /// Xen reports it offlined.
    Offlined,
    /// Xen marked it offline-pending: it goes when its owner frees it.
    Pending,
    /// Xen refused (its own page, not conventional RAM, ...): not retried.
    Refused,
    /// Offlining failed for another reason (retried up to [`MAX_ATTEMPTS`]).
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
    fn new(now: u64) -> Page {
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
    fn account(&mut self, r: Rate, now: u64) -> bool {
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

/// What Xen did with an offline request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Offlined now.
    Offlined,
    /// Marked offline-pending (in use); the owner, when Xen named it.
    Pending(Option<u32>),
    /// Xen refused for good; why.
    Refused(String),
    /// Something else went wrong; what.
    Failed(String),
}

/// Xen's page offlining, as Xen's tools reach it: the page-offline sysctl
/// itself ([`XenPages`]), and xen-hptool.
pub trait Hypervisor: XenPages {
    /// `xen-hptool mem-offline`: for a guest's page it suspends the guest
    /// to exchange the page (tools/misc/xen-hptool.c `hp_mem_offline_func`).
    /// Run only for a guest's page with `guest-pages = offline`, or when
    /// the sysctl cannot be made (then for any page, with `guest-pages =
    /// offline` only).
    fn offline(&mut self, mfn: u64) -> Outcome;
    /// Xen's `PG_OFFLINE_STATUS_*` bits for `mfn`.
    fn query(&mut self, mfn: u64) -> Result<u32, String>;
}

/// Log priorities (syslog's numbers, for the journal's `<N>` prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// LOG_ERR.
    Err = 3,
    /// LOG_WARNING.
    Warning = 4,
    /// LOG_NOTICE.
    Notice = 5,
    /// LOG_INFO.
    Info = 6,
}

/// The policy: a configuration and its state.
pub struct Retirer {
    /// The configuration.
    pub cfg: Config,
    /// Counts and pages.
    pub state: State,
    /// The state changed since the last save.
    pub dirty: bool,
    /// Xen was asked to offline a page ([`Retirer::checkpoint`]), or
    /// retired pages were forgotten: the next [`Retirer::save_if_due`]
    /// writes at once.
    pub urgent: bool,
    /// Writes of the state file since the start (checkpoints included).
    pub state_writes: u64,
    /// Monotonic time of the last write ([`Retirer::save_if_due`]'s clock).
    last_save: Option<Duration>,
    /// The last write failed (logged once until one succeeds).
    save_failing: bool,
    /// Pages forgotten to make room in a full table, by state
    /// ([`EVICTABLE`]'s order), since the start.
    pub evicted: [u64; 4],
    /// Evictions not logged yet, and when the last summary was logged.
    evicted_unlogged: [u64; 4],
    evict_logged_at: Option<u64>,
    /// Errors on pages that could not be tracked (the table full of pages
    /// that are never forgotten), since the start.
    pub untracked: u64,
    /// The table is full of pages never forgotten (logged when it starts).
    full_logged: bool,
    last_recheck: u64,
    /// The latest time the policy has seen or holds (`None` until the
    /// first call): a `now` before it means the clock went back.
    high_water: Option<u64>,
    /// Retired pages Xen could not be asked about yet since the start.
    unchecked: Vec<u64>,
    /// The frames the running Xen kept out of its allocator from boot on
    /// (its command line's `badpage=`, [`crate::grub::xen_badpages`]), as
    /// inclusive ranges: offlining one again fails as "anonymous", which
    /// then means it is out of service ([`crate::grub::kept_out_at_boot`]).
    pub boot_badpages: Vec<(u64, u64)>,
}

/// Words for a query's status bits.
pub fn status_text(s: u32) -> String {
    // Xen sets no bit for a page in use (ONLINE is never set by 4.20).
    let mut w = Vec::new();
    if s & (PG_OFFLINE_STATUS_OFFLINED | PG_OFFLINE_STATUS_OFFLINE_PENDING) == 0 {
        w.push("online");
    }
    for (b, n) in [
        (PG_OFFLINE_STATUS_OFFLINED, "offlined"),
        (PG_OFFLINE_STATUS_OFFLINE_PENDING, "offline-pending"),
        (PG_OFFLINE_STATUS_BROKEN, "broken"),
    ] {
        if s & b != 0 {
            w.push(n);
        }
    }
    format!("{s:#x} [{}]", w.join(" "))
}

impl Retirer {
    /// A policy with `cfg` and a state read before.
    pub fn new(cfg: Config, state: State) -> Retirer {
        Retirer {
            cfg,
            state,
            dirty: false,
            urgent: false,
            state_writes: 0,
            last_save: None,
            save_failing: false,
            evicted: [0; 4],
            evicted_unlogged: [0; 4],
            evict_logged_at: None,
            untracked: 0,
            full_logged: false,
            last_recheck: 0,
            high_water: None,
            unchecked: Vec::new(),
            boot_badpages: Vec::new(),
        }
    }

    /// What is configured, for the log at start.
    pub fn describe(&self) -> String {
        let c = &self.cfg;
        match c.action {
            Action::Off => {
                let retired = self
                    .frames_in(&[PageState::Offlined, PageState::Pending])
                    .len();
                let mut d = String::from("page retirement is off (action = off)");
                if retired > 0 && !c.forget_retired {
                    let _ = write!(
                        d,
                        "; {retired} page{} retired before kept out of service (offlined again \
                         after a reboot; retired-pages = forget, or their lines removed from {}, \
                         returns them)",
                        if retired == 1 { "" } else { "s" },
                        c.state.display()
                    );
                }
                d
            }
            _ => format!(
                "page retirement: action = {}, memory-ce-threshold = {}, max-offlines = {}, \
                 {} pages known ({} offlined, {} pending) in {}",
                c.action.name(),
                c.threshold,
                c.max_offlines,
                self.state.pages.len(),
                self.count(PageState::Offlined),
                self.count(PageState::Pending),
                c.state.display()
            ),
        }
    }

    fn count(&self, s: PageState) -> usize {
        self.state.pages.values().filter(|p| p.state == s).count()
    }

    /// The frames of the pages in one of `states`, in frame order.
    fn frames_in(&self, states: &[PageState]) -> Vec<u64> {
        self.state
            .pages
            .iter()
            .filter(|(_, p)| states.contains(&p.state))
            .map(|(m, _)| *m)
            .collect()
    }

    fn set(&mut self, mfn: u64, s: PageState, now: u64) {
        if let Some(p) = self.state.pages.get_mut(&mfn) {
            if p.state != s {
                p.state = s;
                p.changed = now;
            }
        }
        self.dirty = true;
    }

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
    fn checkpoint(&mut self, mfn: u64, log: &mut dyn FnMut(Level, String)) {
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

    /// Offlines left in the current period (the list is pruned).
    fn budget(&mut self, now: u64) -> u32 {
        let r = self.cfg.max_offlines;
        self.state
            .offlines
            .retain(|&t| now.saturating_sub(t) < r.secs);
        let used = u32::try_from(self.state.offlines.len()).unwrap_or(u32::MAX);
        r.count.saturating_sub(used)
    }

    /// Takes `now` (wall clock) for the policy. Every time the policy keeps
    /// is wall-clock (the state file outlives reboots; the driver stamps
    /// records with the wall clock), so a clock that goes back, e.g. a clock
    /// years ahead stepped back by NTP, would leave times in the future:
    /// `max-offlines` blocked and buckets not draining until the clock
    /// catches up. A `now` before the latest time seen makes every later
    /// time the policy holds `now` (at most one period of `max-offlines`
    /// and one window of a bucket are then counted from the step). A step
    /// forward cannot be told from time really passing (a restart after a
    /// long stop looks the same): it counts as elapsed, so buckets drain and
    /// the `max-offlines` period may end early; no page is offlined that
    /// did not cross its threshold.
    fn observe(&mut self, now: u64, log: &mut dyn FnMut(Level, String)) {
        let high = *self.high_water.get_or_insert_with(|| {
            let st = &self.state;
            st.pages
                .values()
                .flat_map(|p| [p.since, p.changed])
                .chain(st.offlines.iter().copied())
                .max()
                .unwrap_or(0)
        });
        self.high_water = Some(now);
        if now >= high {
            return;
        }
        for p in self.state.pages.values_mut() {
            p.since = p.since.min(now);
            p.changed = p.changed.min(now);
        }
        for t in &mut self.state.offlines {
            *t = (*t).min(now);
        }
        self.last_recheck = self.last_recheck.min(now);
        self.dirty = true;
        if high - now >= 60 {
            log(
                Level::Warning,
                format!(
                    "the clock is {} s behind the latest time in the state (stepped back?): \
                     later times are taken as now",
                    high - now
                ),
            );
        }
    }

    /// One record read from the device.
    pub fn record(
        &mut self,
        m: &Mce,
        x: &XenInfo,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
    ) {
        if self.cfg.action == Action::Off {
            return;
        }
        let Some(mfn) = memory_ce_frame(m, x) else {
            return;
        };
        self.observe(now, log);
        let t = self.cfg.threshold;
        if !self.state.pages.contains_key(&mfn) && self.state.pages.len() >= MAX_PAGES {
            self.prune_to(now, MAX_PAGES - ROOM, log);
            if self.state.pages.len() >= MAX_PAGES {
                // Only pages that are never forgotten: this one is not
                // tracked (its error counts in the total).
                self.state.errors += 1;
                self.untracked += 1;
                self.dirty = true;
                if !self.full_logged {
                    self.full_logged = true;
                    log(
                        Level::Err,
                        format!(
                            "page {mfn:#x}: corrected memory error at {:#x} not tracked: the \
                             table of {MAX_PAGES} pages holds only pages retired, deferred or \
                             left to a guest, which are never forgotten (a failing channel or \
                             DIMM, which page retirement does not fix); further such errors are \
                             counted in xen_mcelog_retire_untracked_errors_total",
                            m.addr
                        ),
                    );
                }
                return;
            }
        }
        if self.state.pages.len() < MAX_PAGES {
            self.full_logged = false;
        }
        // The error counts at the time the driver stamped the record (a
        // backlog read at start keeps its spacing), clamped to
        // [bucket's start, now]: a stamp in the future (the clock went back
        // since) is now, one before the bucket's last drain is that drain.
        let at = if m.time == 0 || m.time > now {
            now
        } else {
            m.time
        };
        let p = self.state.pages.entry(mfn).or_insert_with(|| {
            let mut p = Page::new(now);
            p.since = at;
            p
        });
        let full = p.account(t, at.max(p.since));
        p.owner = x.domid;
        self.state.errors += 1;
        self.dirty = true;
        let (state, level, errors) = (p.state, p.count, p.errors);
        let ma = m.addr;
        match state {
            PageState::Offlined | PageState::Pending | PageState::Refused => {
                log(
                    Level::Info,
                    format!(
                        "page {mfn:#x}: corrected memory error at {ma:#x} ({errors} in all); the \
                         page is already {}",
                        state.name()
                    ),
                );
                return;
            }
            PageState::Failed if self.state.pages[&mfn].attempts >= MAX_ATTEMPTS => {
                log(
                    Level::Warning,
                    format!(
                        "page {mfn:#x}: corrected memory error at {ma:#x} ({errors} in all); \
                         offlining failed {MAX_ATTEMPTS} times, not retried"
                    ),
                );
                return;
            }
            _ => {}
        }
        if !full {
            log(
                Level::Info,
                format!(
                    "page {mfn:#x}: corrected memory error at {ma:#x}, {level} of {} within {}",
                    t.count,
                    window(t.secs)
                ),
            );
            return;
        }
        let why = format!(
            "page {mfn:#x}: {} corrected memory errors within memory-ce-threshold {}",
            t.count, t
        );
        if self.cfg.action == Action::DryRun {
            self.set(mfn, PageState::DryRun, now);
            log(
                Level::Warning,
                format!("{why}: dry run, would offline it (xen-hptool mem-offline {mfn:#x})"),
            );
            return;
        }
        self.try_offline(mfn, &why, now, hv, log);
    }

    /// Offlines `mfn` if the rate limit allows, else defers it. Xen is
    /// asked who owns the page right before (in the same step, for a free
    /// page: [`xenpage::claim`]); the error record's owner is not used.
    fn try_offline(
        &mut self,
        mfn: u64,
        why: &str,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
    ) {
        if self.budget(now) == 0 {
            let r = self.cfg.max_offlines;
            let next = self.state.offlines.first().map_or(now, |t| t + r.secs);
            if self.state.pages[&mfn].state != PageState::Deferred {
                log(
                    Level::Warning,
                    format!(
                        "{why}: deferred, max-offlines {r} reached (next possible in {} s)",
                        next.saturating_sub(now)
                    ),
                );
            }
            self.set(mfn, PageState::Deferred, now);
            return;
        }
        match self.ask_and_offline(mfn, why, false, now, hv, log) {
            Ok(Some(out)) => self.apply(mfn, out, now, log),
            Ok(None) => {}
            Err(e) => self.apply(
                mfn,
                Outcome::Failed(format!(
                    "cannot ask Xen who owns the page, so not offlined (guest-pages = skip): {e}"
                )),
                now,
                log,
            ),
        }
    }

    /// Asks Xen who owns `mfn` now and offlines it unless a guest does
    /// (`guest-pages = skip`); `why` opens the log lines; `again`: a page
    /// retired before that Xen has online (the host rebooted). The outcome
    /// for [`Retirer::apply`], or `None` when the page stays where it is
    /// (left to a guest, or Xen had it already: logged, its state set).
    /// `Err`: Xen could not be asked and, with `guest-pages = skip`,
    /// nothing was done.
    fn ask_and_offline(
        &mut self,
        mfn: u64,
        why: &str,
        again: bool,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
    ) -> Result<Option<Outcome>, String> {
        let guests = self.cfg.guest_pages;
        // Xen may act on the page from here on.
        self.checkpoint(mfn, log);
        // (Past its first query, xenpage::claim acts only on a page Xen
        // reports with none of its status bits: 0x0 [online].)
        let (lead, again) = if again {
            (
                format!(
                    "{why}, but Xen reports it {} (the host rebooted?)",
                    status_text(0)
                ),
                " again",
            )
        } else {
            (why.to_string(), "")
        };
        let claim = match xenpage::claim(hv, mfn, guests) {
            Ok(c) => c,
            Err(e) if guests => {
                // guest-pages = offline: the owner does not decide.
                log(
                    Level::Warning,
                    format!(
                        "{lead}: offlining it{again} through Xen (xen-hptool mem-offline \
                         {mfn:#x}; Xen's page-offline sysctl failed: {e})"
                    ),
                );
                return Ok(Some(hv.offline(mfn)));
            }
            Err(e) => return Err(e),
        };
        let out = match claim {
            Claim::Already(s) => {
                let st = if s & PG_OFFLINE_STATUS_OFFLINED != 0 {
                    PageState::Offlined
                } else {
                    PageState::Pending
                };
                if self.state.pages.get(&mfn).map(|p| p.state) != Some(st) {
                    log(
                        Level::Notice,
                        format!(
                            "{why}: Xen reports it {} already: nothing asked",
                            status_text(s)
                        ),
                    );
                }
                self.set(mfn, st, now);
                return Ok(None);
            }
            Claim::Guest { domid, mark } if !guests => {
                self.leave_to_guest(mfn, domid, mark, &lead, now, log);
                return Ok(None);
            }
            Claim::Guest { domid, .. } => {
                log(
                    Level::Warning,
                    format!(
                        "{lead}: domain {domid} owns it now: offlining it{again} through Xen \
                         (xen-hptool mem-offline {mfn:#x}, which suspends the guest to exchange \
                         the page: guest-pages = offline)"
                    ),
                );
                self.note_owner(mfn, domid);
                return Ok(Some(hv.offline(mfn)));
            }
            Claim::Offlined => Outcome::Offlined,
            Claim::Pending(d) => {
                self.note_owner(mfn, d);
                Outcome::Pending(Some(u32::from(d)))
            }
            Claim::Refused(w) => Outcome::Refused(w),
            Claim::Failed(w) => Outcome::Failed(w),
        };
        log(
            Level::Warning,
            format!(
                "{lead}: offlining it{again} through Xen (its page-offline sysctl, as xen-hptool \
                 mem-offline {mfn:#x}; not owned by a guest)"
            ),
        );
        Ok(Some(out))
    }

    fn note_owner(&mut self, mfn: u64, domid: u16) {
        if let Some(p) = self.state.pages.get_mut(&mfn) {
            p.owner = domid;
        }
    }

    /// Xen answered that guest `domid` owns `mfn` (`guest-pages = skip`):
    /// state `guest`, said when that is news (a retry finding the same
    /// owner is quiet).
    fn leave_to_guest(
        &mut self,
        mfn: u64,
        domid: u16,
        mark: Mark,
        why: &str,
        now: u64,
        log: &mut dyn FnMut(Level, String),
    ) {
        let news = self
            .state
            .pages
            .get(&mfn)
            .is_none_or(|p| p.state != PageState::Guest || p.owner != domid);
        self.note_owner(mfn, domid);
        if let Mark::Stuck(e) = mark {
            self.set(mfn, PageState::Pending, now);
            log(
                Level::Err,
                format!(
                    "{why}: in use by domain {domid} (Xen's answer); Xen marked it \
                     offline-pending and did not take the mark back ({e}): Xen offlines it when \
                     the guest frees it; the guest is not suspended"
                ),
            );
            return;
        }
        self.set(mfn, PageState::Guest, now);
        if news {
            log(
                Level::Warning,
                format!(
                    "{why}: in use by domain {domid}, not offlined: domain {domid} owns it now \
                     (Xen's answer), left to the guest (guest-pages = skip: xen-hptool would \
                     suspend the guest to exchange the page); Xen is asked again every {} \
                     minutes",
                    PENDING_RECHECK / 60
                ),
            );
        }
    }

    fn apply(&mut self, mfn: u64, out: Outcome, now: u64, log: &mut dyn FnMut(Level, String)) {
        match out {
            Outcome::Offlined => {
                self.state.offlines.push(now);
                self.set(mfn, PageState::Offlined, now);
                log(Level::Notice, format!("page {mfn:#x}: offlined by Xen"));
            }
            Outcome::Pending(owner) => {
                self.state.offlines.push(now);
                self.set(mfn, PageState::Pending, now);
                let who = owner.map_or("its owner".to_string(), |d| format!("domain {d}"));
                log(
                    Level::Notice,
                    format!(
                        "page {mfn:#x}: offline-pending in Xen (in use by {who}; Xen offlines it \
                         when it is freed)"
                    ),
                );
            }
            Outcome::Refused(why) => {
                self.set(mfn, PageState::Refused, now);
                log(
                    Level::Err,
                    format!("page {mfn:#x}: Xen refused to offline it, not retried: {why}"),
                );
            }
            Outcome::Failed(why) => {
                if let Some(p) = self.state.pages.get_mut(&mfn) {
                    p.attempts += 1;
                }
                self.set(mfn, PageState::Failed, now);
                let n = self.state.pages.get(&mfn).map_or(0, |p| p.attempts);
                let again = if n < MAX_ATTEMPTS {
                    "tried again at the next threshold crossing"
                } else {
                    "not retried"
                };
                log(
                    Level::Err,
                    format!("page {mfn:#x}: offlining failed (attempt {n} of {MAX_ATTEMPTS}, {again}): {why}"),
                );
            }
        }
    }

    /// At start: pages offlined before that Xen reports online again (the
    /// host rebooted: Xen forgets offlined pages) are offlined again, outside
    /// the rate limit (they were decided before), whatever the action: a
    /// switch to `off` or `dry-run` stops new decisions, it does not return
    /// known-bad pages to service. `retired-pages = forget` (with `off` or
    /// `dry-run`) drops them from the state instead, each logged.
    pub fn resume(
        &mut self,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
    ) {
        let retired = self.frames_in(&[PageState::Offlined, PageState::Pending]);
        if self.cfg.action != Action::Offline && self.cfg.forget_retired {
            for mfn in retired {
                self.state.pages.remove(&mfn);
                self.dirty = true;
                self.urgent = true;
                log(
                    Level::Notice,
                    format!(
                        "page {mfn:#x}: retired before, forgotten (retired-pages = forget): not \
                         offlined again; back in service after the next reboot of the host"
                    ),
                );
            }
            return;
        }
        if self.cfg.action != Action::Offline && retired.is_empty() {
            return;
        }
        self.observe(now, log);
        self.unchecked = retired;
        self.check_retired(now, hv, log, true, true);
        self.last_recheck = now;
        self.tick(now, hv, log);
    }

    /// Asks Xen about the retired pages not checked yet since the start;
    /// those Xen has online again are offlined again, each after Xen said
    /// who owns it now ([`Retirer::ask_and_offline`]): one a guest owns
    /// (`guest-pages = skip`) is left to it, state `guest`, and stays on the
    /// list, asked about again when `due` (every [`PENDING_RECHECK`]
    /// seconds) and offlined again, outside the rate limit, once it is free
    /// or dom0's. (Only while the service runs: after a restart such a page
    /// is an ordinary `guest` page, whose offline counts in `max-offlines`.)
    /// A page Xen cannot be asked about (at boot the service may start
    /// before dom0 can make hypercalls: no /dev/xen/privcmd yet) stays for
    /// the next tick; only the first failure is logged.
    fn check_retired(
        &mut self,
        now: u64,
        hv: &mut dyn Hypervisor,
        log: &mut dyn FnMut(Level, String),
        first: bool,
        due: bool,
    ) {
        let mut left = Vec::new();
        for mfn in std::mem::take(&mut self.unchecked) {
            let was = self.state.pages.get(&mfn).map(|p| p.state);
            if was == Some(PageState::Guest) && !due {
                left.push(mfn);
                continue;
            }
            let why = format!("page {mfn:#x}: retired before");
            match self.ask_and_offline(mfn, &why, true, now, hv, log) {
                Ok(Some(out)) => {
                    let out = crate::grub::kept_out_at_boot(mfn, out, &self.boot_badpages, log);
                    let before = self.state.offlines.len();
                    self.apply(mfn, out, now, log);
                    // A re-offline is not a new decision: not counted.
                    self.state.offlines.truncate(before);
                }
                Ok(None) => {
                    if self.state.pages.get(&mfn).map(|p| p.state) == Some(PageState::Guest) {
                        left.push(mfn);
                    }
                }
                Err(e) => {
                    if first {
                        log(
                            Level::Err,
                            format!(
                                "page {mfn:#x}: cannot ask Xen (tried again every minute): {e}"
                            ),
                        );
                    }
                    left.push(mfn);
                }
            }
        }
        self.unchecked = left;
    }

    /// Forgets the counting pages whose bucket has drained (no drain for a
    /// whole window: the next error would find it empty, as on a new page)
    /// and, past [`MAX_PAGES`], pages in [`EVICTABLE`]'s order.
    pub fn prune(&mut self, now: u64, log: &mut dyn FnMut(Level, String)) {
        self.prune_to(now, MAX_PAGES, log);
    }

    /// [`Retirer::prune`] down to `limit` pages: past it, the counting
    /// pages that drained longest ago, then dry-run, refused and failed
    /// pages, each state's longest unchanged first. Pages retired
    /// (offlined, pending), deferred or left to a guest are never
    /// forgotten. Each page forgotten to make room is counted by state
    /// ([`Retirer::evicted`]) and summed up in the log (at most one line a
    /// minute).
    fn prune_to(&mut self, now: u64, limit: usize, log: &mut dyn FnMut(Level, String)) {
        let w = self.cfg.threshold.secs;
        let before = self.state.pages.len();
        self.state
            .pages
            .retain(|_, p| p.state != PageState::Counting || now.saturating_sub(p.since) < w);
        if self.state.pages.len() != before {
            self.dirty = true;
        }
        for (i, st) in EVICTABLE.into_iter().enumerate() {
            if self.state.pages.len() <= limit {
                break;
            }
            let mut idle: Vec<(u64, u64)> = self
                .state
                .pages
                .iter()
                .filter(|(_, p)| p.state == st)
                .map(|(m, p)| {
                    (
                        if st == PageState::Counting {
                            p.since
                        } else {
                            p.changed
                        },
                        *m,
                    )
                })
                .collect();
            idle.sort_unstable();
            let extra = self.state.pages.len() - limit;
            for (_, mfn) in idle.into_iter().take(extra) {
                self.state.pages.remove(&mfn);
                self.evicted[i] += 1;
                self.evicted_unlogged[i] += 1;
                self.dirty = true;
            }
        }
        self.log_evictions(now, log);
    }

    /// The evictions since the last summary, when there are any and the
    /// last summary is [`EVICT_LOG_INTERVAL`] old (or there was none).
    fn log_evictions(&mut self, now: u64, log: &mut dyn FnMut(Level, String)) {
        if self.evicted_unlogged.iter().all(|&n| n == 0)
            || self
                .evict_logged_at
                .is_some_and(|t| now.saturating_sub(t) < EVICT_LOG_INTERVAL)
        {
            return;
        }
        self.evict_logged_at = Some(now);
        let what: Vec<String> = EVICTABLE
            .iter()
            .zip(std::mem::take(&mut self.evicted_unlogged))
            .filter(|(_, n)| *n > 0)
            .map(|(st, n)| format!("{n} {}", st.name()))
            .collect();
        log(
            Level::Warning,
            format!(
                "the table of {MAX_PAGES} pages is full: forgot {} page(s) to make room, \
                 longest unchanged first (retired, deferred and guest pages are never \
                 forgotten; xen_mcelog_retire_evicted_pages_total)",
                what.join(", ")
            ),
        );
    }

    /// Periodic work: deferred pages when the rate limit allows again;
    /// every [`PENDING_RECHECK`] seconds, guest pages (Xen asked again who
    /// owns them) and pending pages Xen may have finished with.
    pub fn tick(&mut self, now: u64, hv: &mut dyn Hypervisor, log: &mut dyn FnMut(Level, String)) {
        if self.cfg.action == Action::Off && self.unchecked.is_empty() {
            return;
        }
        self.observe(now, log);
        if self.cfg.action != Action::Off {
            self.prune(now, log);
        }
        let due = now.saturating_sub(self.last_recheck) >= PENDING_RECHECK;
        // Retired pages Xen could not be asked about at start, or left to a
        // guest since, any action.
        if !self.unchecked.is_empty() {
            self.check_retired(now, hv, log, false, due);
        }
        if self.cfg.action != Action::Offline {
            if due {
                self.last_recheck = now;
            }
            return;
        }
        // (Taken before the deferred pages: one Xen has just said a guest
        // owns is not asked again in the same tick.)
        let guests = if due {
            self.frames_in(&[PageState::Guest])
        } else {
            Vec::new()
        };
        for mfn in self.frames_in(&[PageState::Deferred]) {
            if self.budget(now) == 0 {
                break;
            }
            let why = format!("page {mfn:#x}: deferred earlier, max-offlines allows it now");
            self.try_offline(mfn, &why, now, hv, log);
        }
        if !due {
            return;
        }
        self.last_recheck = now;
        for mfn in guests {
            if self.unchecked.contains(&mfn) {
                continue;
            }
            if self.budget(now) == 0 {
                break;
            }
            let owner = self.state.pages[&mfn].owner;
            let why = format!("page {mfn:#x}: left to domain {owner} earlier");
            self.try_offline(mfn, &why, now, hv, log);
        }
        for mfn in self.frames_in(&[PageState::Pending]) {
            if let Ok(s) = hv.query(mfn) {
                if s & PG_OFFLINE_STATUS_OFFLINED != 0 {
                    self.set(mfn, PageState::Offlined, now);
                    log(
                        Level::Notice,
                        format!("page {mfn:#x}: offlined by Xen (was pending)"),
                    );
                }
            }
        }
    }

    /// The node_exporter textfile's part: pages by state, errors counted.
    pub fn metrics(&self) -> String {
        let mut s = String::from(
            "# HELP xen_mcelog_retire_pages Machine pages tracked by page retirement \
             (xen-mcelog-dump --retire), by state.\n# TYPE xen_mcelog_retire_pages gauge\n",
        );
        for st in PageState::ALL {
            let _ = writeln!(
                s,
                "xen_mcelog_retire_pages{{state=\"{}\"}} {}",
                st.name(),
                self.count(st)
            );
        }
        let errors = self.state.errors;
        let _ = write!(
            s,
            "# HELP xen_mcelog_retire_errors_total Corrected memory errors counted per machine \
             page (kept across restarts).\n# TYPE xen_mcelog_retire_errors_total counter\n\
             xen_mcelog_retire_errors_total {errors}\n\
             # HELP xen_mcelog_retire_action The configured action (1 for the one in force).\n\
             # TYPE xen_mcelog_retire_action gauge\n"
        );
        for a in [Action::Off, Action::DryRun, Action::Offline] {
            let _ = writeln!(
                s,
                "xen_mcelog_retire_action{{action=\"{}\"}} {}",
                a.name(),
                u8::from(self.cfg.action == a)
            );
        }
        s.push_str(
            "# HELP xen_mcelog_retire_evicted_pages_total Pages forgotten to make room in the \
             full table, by state (since the start).\n\
             # TYPE xen_mcelog_retire_evicted_pages_total counter\n",
        );
        for (st, n) in EVICTABLE.iter().zip(self.evicted) {
            let _ = writeln!(
                s,
                "xen_mcelog_retire_evicted_pages_total{{state=\"{}\"}} {n}",
                st.name()
            );
        }
        let _ = write!(
            s,
            "# HELP xen_mcelog_retire_untracked_errors_total Corrected memory errors on pages \
             not tracked: the table full of pages never forgotten (since the start).\n\
             # TYPE xen_mcelog_retire_untracked_errors_total counter\n\
             xen_mcelog_retire_untracked_errors_total {}\n\
             # HELP xen_mcelog_retire_state_writes_total Writes of the state file tried \
             since the start.\n# TYPE xen_mcelog_retire_state_writes_total counter\n\
             xen_mcelog_retire_state_writes_total {}\n",
            self.untracked, self.state_writes
        );
        s
    }
}

/// Where Debian's rasdaemon takes its settings.
pub const RASDAEMON_DEFAULTS: &str = "/etc/default/rasdaemon";

/// The `PAGE_CE_ACTION` of rasdaemon's defaults file's text, when it is one
/// that offlines dom0's own pages (`soft`, `hard`, `soft-then-hard`; Debian
/// ships `soft`). rasdaemon passes the address of an EDAC memory error to
/// the kernel's soft_offline_page; in a Xen dom0 that address is a machine
/// address, and the kernel takes it for one of dom0's pseudo-physical
/// frames: a healthy dom0 page would go, the failing one stay in use.
pub fn rasdaemon_page_action(text: &str) -> Option<String> {
    let v = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("PAGE_CE_ACTION="))
        .next_back()?
        .trim()
        .trim_matches('"')
        .to_string();
    (!matches!(v.as_str(), "" | "off" | "account")).then_some(v)
}

/// What is configured on this dom0 that would offline dom0's own pages
/// for a machine address (logged at start, when retirement is on).
pub fn dom0_offline_warnings() -> Vec<String> {
    let mut w = Vec::new();
    if let Some(a) = fs::read_to_string(RASDAEMON_DEFAULTS)
        .ok()
        .as_deref()
        .and_then(rasdaemon_page_action)
    {
        w.push(format!(
            "{RASDAEMON_DEFAULTS} has PAGE_CE_ACTION=\"{a}\": on a Xen dom0 rasdaemon would \
             soft-offline dom0's own page at the number of a machine page (a healthy page goes, \
             the failing one stays); set PAGE_CE_ACTION=\"off\" and let Xen retire pages"
        ));
    }
    w
}

/// What xen-hptool's output and the query after it mean. `text` is its
/// stdout and stderr together; `query` what `mem-status` said afterwards.
/// xen-hptool's own words decide refusals (its exit status is 1 both for a
/// refusal and for an owned page it could not exchange); Xen's status bits
/// decide the rest.
pub fn classify(text: &str, query: Result<u32, String>) -> Outcome {
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .map(|l| l.trim().to_string())
    };
    if let Some(l) = line("this page is xen page") {
        return Outcome::Refused(format!("Xen's own page: {l}"));
    }
    // The hypercall failed: Xen's page, not conventional RAM, out of range.
    if let Some(l) = line("failed, error") {
        let more: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("not permitted"))
            .map(str::trim)
            .collect();
        return Outcome::Refused(format!("{l} {}", more.join(" ")).trim().to_string());
    }
    if let Some(l) = line("offline failed") {
        return Outcome::Refused(
            format!("{l} {}", line("anonymous").unwrap_or_default())
                .trim()
                .to_string(),
        );
    }
    // The owner, as xen-hptool names it after an exchange, or when it could
    // not suspend the owner for one.
    let owner = text.lines().find_map(|l| {
        ["this page is DOM", "Failed to suspend guest "]
            .iter()
            .find_map(|k| l.find(k).map(|i| &l[i + k.len()..]))
            .and_then(|r| {
                r.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .ok()
            })
    });
    match query {
        Ok(s) if s & PG_OFFLINE_STATUS_OFFLINED != 0 => Outcome::Offlined,
        Ok(s) if s & PG_OFFLINE_STATUS_OFFLINE_PENDING != 0 => Outcome::Pending(owner),
        Ok(s) => Outcome::Failed(format!(
            "Xen reports it {} after xen-hptool: {}",
            status_text(s),
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        )),
        Err(e) => Outcome::Failed(e),
    }
}

/// `Memory Status 2: [ PAGE_OFFLINED ]` (xen-hptool mem-status) -> 2.
pub fn parse_status(text: &str) -> Option<u32> {
    let l = text.lines().find(|l| l.starts_with("Memory Status "))?;
    let hex = l["Memory Status ".len()..].split(':').next()?;
    u32::from_str_radix(hex.trim(), 16).ok()
}

/// How long one run of `xen-hptool` may take before it is killed (its
/// `mem-offline` of a guest's page waits for the guest to suspend, which a
/// hung guest never does).
pub const HPTOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// Xen's own tool, `xen-hptool` (Debian: xen-utils), and the page-offline
/// sysctl it makes, made directly ([`xenpage::Sysctl`]) to learn a page's
/// owner before anything else.
pub struct HpTool {
    /// The program.
    pub path: PathBuf,
    /// How long one run may take; then it is killed with its process group
    /// and the call fails (an offline counts as a failed attempt).
    pub timeout: Duration,
    /// Runs killed at the timeout since the start.
    pub timeouts: u64,
    /// What was killed since the caller last took it (for its log).
    pub killed: Vec<String>,
    /// Xen's page-offline sysctl through /dev/xen/privcmd.
    pub sysctl: xenpage::Sysctl,
}

impl HpTool {
    /// `path`, with the default timeout.
    pub fn new(path: PathBuf) -> HpTool {
        HpTool {
            path,
            timeout: HPTOOL_TIMEOUT,
            timeouts: 0,
            killed: Vec::new(),
            sysctl: xenpage::Sysctl::new(Path::new(crate::sys::PRIVCMD_PATH)),
        }
    }

    /// Runs `xen-hptool CMD MFN` in a process group of its own, stdin
    /// closed; its stdout then stderr. Past [`HpTool::timeout`] the group
    /// is killed (SIGKILL: xen-hptool does not handle signals) and the
    /// call fails.
    fn run(&mut self, cmd: &str, mfn: u64) -> Result<String, String> {
        let what = format!("{} {cmd} {mfn:#x}", self.path.display());
        let mut child = Command::new(&self.path)
            .arg(cmd)
            .arg(format!("{mfn:#x}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let deadline = Instant::now() + self.timeout;
        let mut pipes = [
            child.stdout.take().map(OwnedFd::from),
            child.stderr.take().map(OwnedFd::from),
        ];
        let mut text = [Vec::new(), Vec::new()];
        // Both pipes until EOF (a full pipe would stall the child), then
        // its exit, all before the deadline.
        loop {
            let open: Vec<usize> = (0..2).filter(|&i| pipes[i].is_some()).collect();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.kill(child, what));
            }
            if open.is_empty() {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) => std::thread::sleep(left.min(Duration::from_millis(10))),
                    Err(e) => return Err(format!("{what}: {e}")),
                }
                continue;
            }
            let mut pfds: Vec<libc::pollfd> = open
                .iter()
                .map(|&i| libc::pollfd {
                    fd: pipes[i].as_ref().map_or(-1, AsRawFd::as_raw_fd),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            // SAFETY: `pfds` is a live array of `pfds.len()` pollfds.
            let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("{what}: poll: {e}"));
            }
            for (k, &i) in open.iter().enumerate() {
                if pfds[k].revents == 0 {
                    continue;
                }
                let mut buf = [0u8; 4096];
                let fd = pipes[i].as_ref().map_or(-1, AsRawFd::as_raw_fd);
                // SAFETY: `buf` is a live, writable buffer of its length;
                // `fd` is the open pipe owned by `pipes[i]`.
                let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                if r > 0 {
                    text[i].extend_from_slice(&buf[..r as usize]);
                } else if r == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted
                {
                    pipes[i] = None;
                }
            }
        }
        let mut out = String::from_utf8_lossy(&text[0]).into_owned();
        out.push_str(&String::from_utf8_lossy(&text[1]));
        Ok(out)
    }

    /// Kills `child`'s process group, reaps it (or leaves a thread to, if
    /// it is stuck in the kernel), counts it; the error to return.
    fn kill(&mut self, mut child: std::process::Child, what: String) -> String {
        let pid = child.id();
        if let Ok(pgid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) on the process group this call created
            // (process_group(0): its id is the child's pid), not yet reaped.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            match child.try_wait() {
                Ok(None) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(None) => {
                    std::thread::spawn(move || child.wait());
                    break;
                }
                _ => break,
            }
        }
        self.timeouts += 1;
        let msg = format!(
            "{what}: no answer within {} s: killed it (process group {pid})",
            self.timeout.as_secs_f64()
        );
        self.killed.push(msg.clone());
        msg
    }
}

impl XenPages for HpTool {
    fn page_op(&mut self, op: xenpage::PageOp, mfn: u64) -> Result<xenpage::Reply, String> {
        self.sysctl.page_op(op, mfn)
    }
}

impl Hypervisor for HpTool {
    fn offline(&mut self, mfn: u64) -> Outcome {
        match self.run("mem-offline", mfn) {
            Ok(text) => classify(&text, self.query(mfn)),
            Err(e) => Outcome::Failed(e),
        }
    }

    fn query(&mut self, mfn: u64) -> Result<u32, String> {
        let text = self.run("mem-status", mfn)?;
        parse_status(&text).ok_or_else(|| {
            format!(
                "{} mem-status {mfn:#x}: no status in `{}`",
                self.path.display(),
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xenpage::tests::{FakePages, St};
    use xmc_core::record::{ADDR_SPACE_GUEST, ADDR_SPACE_MACHINE};

    /// A corrected memory-controller read error at `addr`, Intel.
    fn ce(addr: u64) -> (Mce, XenInfo) {
        let m = Mce {
            status: 0x9C00_0000_0000_009F,
            misc: 0x86,
            addr,
            cpuvendor: VENDOR_INTEL,
            ..Mce::default()
        };
        let x = XenInfo {
            addr_space: ADDR_SPACE_MACHINE,
            domid: DOMID_INVALID,
            ..XenInfo::default()
        };
        (m, x)
    }

    /// Xen as xen/common/page_alloc.c offlines pages ([`FakePages`]), with
    /// xen-hptool on top. `calls`: what changes something (`offline`,
    /// `online`: the sysctl; `hptool`: xen-hptool mem-offline, `suspend
    /// domN` when it suspends a guest); `asked`: the queries (`status`:
    /// the sysctl's, `query`: mem-status).
    #[derive(Default)]
    struct FakeXen {
        x: FakePages,
        /// Xen's own frames (the sysctl answers -EPERM).
        refuse: Vec<u64>,
        /// dom0's frames.
        owned: Vec<u64>,
        calls: Vec<String>,
        asked: Vec<String>,
        /// The sysctl cannot be made (e.g. a Xen with another interface).
        no_sysctl: bool,
    }

    impl FakeXen {
        fn setup(&mut self, mfn: u64) {
            if self.owned.contains(&mfn) && !self.x.pages.contains_key(&mfn) {
                self.x.give(mfn, Some(0));
            }
            if self.refuse.contains(&mfn) && !self.x.xen.contains(&mfn) {
                self.x.xen.push(mfn);
            }
        }
    }

    impl XenPages for FakeXen {
        fn page_op(&mut self, op: xenpage::PageOp, mfn: u64) -> Result<xenpage::Reply, String> {
            if self.no_sysctl {
                return Err("Xen refused XEN_SYSCTL_page_offline_op".into());
            }
            self.setup(mfn);
            match op {
                xenpage::PageOp::Query => self.asked.push(format!("status {mfn:#x}")),
                xenpage::PageOp::Offline => self.calls.push(format!("offline {mfn:#x}")),
                xenpage::PageOp::Online => self.calls.push(format!("online {mfn:#x}")),
            }
            self.x.page_op(op, mfn)
        }
    }

    impl Hypervisor for FakeXen {
        fn offline(&mut self, mfn: u64) -> Outcome {
            self.calls.push(format!("hptool {mfn:#x}"));
            self.setup(mfn);
            let r = self.x.page_op(xenpage::PageOp::Offline, mfn).unwrap();
            if r.rc != 0 {
                return Outcome::Refused("XEN_PAGE".into());
            }
            match xenpage::owner(r.status) {
                Some(d) if xenpage::is_guest(d) => {
                    // xen-hptool suspends the guest and exchanges the page.
                    self.calls.push(format!("suspend dom{d}"));
                    self.x.pages.insert(mfn, St::Offlined);
                    Outcome::Offlined
                }
                Some(d) => Outcome::Pending(Some(u32::from(d))),
                None => Outcome::Offlined,
            }
        }
        fn query(&mut self, mfn: u64) -> Result<u32, String> {
            self.asked.push(format!("query {mfn:#x}"));
            self.setup(mfn);
            Ok(self.x.status(mfn))
        }
    }

    /// A configuration whose state file is a fresh one of its own (in a
    /// directory of this test process): offline requests write it first.
    fn cfg(action: &str) -> Config {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!("xmc-retire-cfg-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let state = dir.join(format!("{}.state", N.fetch_add(1, Ordering::Relaxed)));
        Config::parse(&format!(
            "action = {action}\nmemory-ce-threshold = 3 / 24h\nmax-offlines = 2 / 1h\n\
             state-file = {}\n",
            state.display()
        ))
        .unwrap()
    }

    fn feed(r: &mut Retirer, hv: &mut FakeXen, addr: u64, n: usize, now: u64) -> Vec<String> {
        let mut logs = Vec::new();
        let (m, x) = ce(addr);
        for _ in 0..n {
            r.record(&m, &x, now, hv, &mut |l, s| {
                logs.push(format!("<{}>{s}", l as u8))
            });
        }
        logs
    }

    #[test]
    fn rates_parse_like_mcelog() {
        assert_eq!(
            Rate::parse("10 / 24h"),
            Ok(Rate {
                count: 10,
                secs: 86400
            })
        );
        assert_eq!(
            Rate::parse("3/90m"),
            Ok(Rate {
                count: 3,
                secs: 5400
            })
        );
        assert_eq!(Rate::parse("2 / 30"), Ok(Rate { count: 2, secs: 30 }));
        assert_eq!(Rate::parse("2 / 1d").unwrap().to_string(), "2 / 24h");
        assert_eq!(Rate::parse("2 / 90").unwrap().to_string(), "2 / 90s");
        assert!(Rate::parse("2 / 0h").is_err());
        assert!(Rate::parse("2 / 3w").is_err());
        assert!(Rate::parse("x / 3h").is_err());
        assert!(Rate::parse("10").is_err());
    }

    #[test]
    fn config_defaults_off_and_refuses_mistakes() {
        let c = Config::parse("# nothing\n\n").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.action, Action::Off);
        assert_eq!(c.privcmd, Path::new("/dev/xen/privcmd"));
        let c = Config::parse(
            "action = offline # go\nstate-file = /tmp/s\nxen-hptool = /x\nprivcmd = /p\n",
        )
        .unwrap();
        assert_eq!(
            (
                c.action,
                c.state.as_path(),
                c.hptool.as_path(),
                c.privcmd.as_path()
            ),
            (
                Action::Offline,
                Path::new("/tmp/s"),
                Path::new("/x"),
                Path::new("/p")
            )
        );
        assert!(Config::parse("action = yes")
            .unwrap_err()
            .contains("line 1"));
        assert!(Config::parse("\nmemory-ce-treshold = 3 / 1h")
            .unwrap_err()
            .contains("line 2: unknown key"));
        assert!(Config::parse("memory-ce-threshold = 1 / 1h")
            .unwrap_err()
            .contains("single error"));
        assert!(Config::parse("action = offline\nmax-offlines = 0 / 1h").is_err());
        assert!(Config::parse("action").is_err());
    }

    #[test]
    fn only_corrected_memory_errors_with_a_machine_address_count() {
        let (m, x) = ce(0x3A5B_1040);
        assert_eq!(memory_ce_frame(&m, &x), Some(0x3A5B1));
        let with = |f: &dyn Fn(&mut Mce, &mut XenInfo)| {
            let (mut m, mut x) = ce(0x3A5B_1040);
            f(&mut m, &mut x);
            memory_ce_frame(&m, &x)
        };
        // Uncorrected, not valid, no address, not a memory code: no.
        assert_eq!(with(&|m, _| m.status |= MCI_STATUS_UC), None);
        assert_eq!(with(&|m, _| m.status &= !MCI_STATUS_VAL), None);
        assert_eq!(with(&|m, _| m.status &= !MCI_STATUS_ADDRV), None);
        assert_eq!(with(&|m, _| m.status = 0x9C00_0000_0000_017A), None);
        // Intel: the address must be physical and exact to the page.
        assert_eq!(with(&|m, _| m.status &= !MCI_STATUS_MISCV), None);
        assert_eq!(with(&|m, _| m.misc = 0x8D), None); // LSB 13
        assert_eq!(with(&|m, _| m.misc = 0x8C), Some(0x3A5B1)); // LSB 12
        assert_eq!(with(&|m, _| m.misc = 0x46), None); // mode 1 (linear)
                                                       // Bit 12 (corrected-error filtering) is not part of the code.
        assert_eq!(with(&|m, _| m.status |= 0x1000), Some(0x3A5B1));
        // No Xen side, or an unknown address space: no machine address.
        assert_eq!(with(&|_, x| x.addr_space = 3), None);
        assert_eq!(with(&|_, x| x.flags |= XEN_INFO_PREVIOUS_BOOT), None);
        // A guest-physical address is never used: the machine frame is.
        assert_eq!(
            with(&|_, x| {
                x.addr_space = ADDR_SPACE_GUEST;
                x.mfn = 0x1_2345;
            }),
            Some(0x1_2345)
        );
        // AMD: the northbridge's DRAM ECC (bus error, II = memory, bank 4,
        // extended error code 8; family 10h), no MISC rule.
        assert_eq!(
            with(&|m, _| {
                m.cpuvendor = VENDOR_AMD;
                m.cpuid = 0x0010_0F42;
                m.bank = 4;
                m.status = 0x9400_0000_0008_0833;
            }),
            Some(0x3A5B1)
        );
        assert_eq!(with(&|m, _| m.cpuvendor = 5), None);
    }

    /// A corrected DRAM ECC error as an AMD CPU of `cpuid` logs it in `bank`.
    fn amd_ce(cpuid: u32, bank: u8, status: u64) -> Option<u64> {
        let (mut m, x) = ce(0x3A5B_1040);
        m.cpuvendor = VENDOR_AMD;
        m.cpuid = cpuid;
        m.bank = bank;
        m.status = status;
        m.misc = 0;
        memory_ce_frame(&m, &x)
    }

    #[test]
    fn amd_counts_only_system_physical_addresses() {
        assert_eq!(cpu_family(0x0010_0F42), 0x10);
        assert_eq!(cpu_family(0x0060_0F12), 0x15);
        assert_eq!(cpu_family(0x0080_0F12), 0x17);
        assert_eq!(cpu_family(0x00A0_0F11), 0x19);
        assert_eq!(cpu_family(0x0006_06A6), 6);
        // Legacy AMD (families 10h, 15h): the northbridge's DRAM ECC (bank 4,
        // XEC 8) has a system physical address: counted.
        let nb = 0x9400_0000_0008_0833;
        assert_eq!(amd_ce(0x0010_0F42, 4, nb), Some(0x3A5B1));
        assert_eq!(amd_ce(0x0060_0F12, 4, nb), Some(0x3A5B1));
        // Another northbridge error (XEC 0x1F & 5: GART), or the same code in
        // another bank: no usable address.
        assert_eq!(amd_ce(0x0060_0F12, 4, 0x9400_0000_0005_0833), None);
        assert_eq!(amd_ce(0x0060_0F12, 2, nb), None);
        // Deferred is not corrected (core.c mce_is_correctable).
        assert_eq!(amd_ce(0x0060_0F12, 4, nb | MCI_STATUS_DEFERRED), None);
        // SMCA (Zen, family 17h/19h): a UMC DRAM ECC error (bank 15 on a
        // family 17h EPYC, XEC 0, memory-controller code) carries a
        // normalized DRAM address: not counted, whatever its code.
        for cpuid in [0x0080_0F12, 0x00A0_0F11] {
            for status in [0x9C00_0000_0000_009F, 0x9400_0000_0000_0833] {
                assert_eq!(amd_ce(cpuid, 15, status), None, "{cpuid:#x} {status:#x}");
            }
            // The same with MCA_STATUS PADDRV: a system physical address.
            assert_eq!(
                amd_ce(cpuid, 15, 0x9C00_0000_0000_009F | MCI_STATUS_PADDRV),
                Some(0x3A5B1)
            );
            // A legacy-looking bank 4 record is no exception on SMCA.
            assert_eq!(amd_ce(cpuid, 4, nb), None);
        }
        // Hygon (family 18h, a Zen): the SMCA rule.
        let (mut m, x) = ce(0x3A5B_1040);
        m.cpuvendor = VENDOR_HYGON;
        m.cpuid = 0x0090_0F02;
        m.bank = 15;
        m.misc = 0;
        assert_eq!(memory_ce_frame(&m, &x), None);
        m.status |= MCI_STATUS_PADDRV;
        assert_eq!(memory_ce_frame(&m, &x), Some(0x3A5B1));
        // No CPUID in the record: the family, and so the rule, is unknown.
        assert_eq!(amd_ce(0, 4, nb), None);
        // Uncounted AMD records change no page.
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        let (mut m, x) = ce(0x3A5B_1040);
        m.cpuvendor = VENDOR_AMD;
        m.cpuid = 0x0080_0F12;
        m.bank = 15;
        for t in 0..5 {
            r.record(&m, &x, 100 + t, &mut hv, &mut |_, _| {});
        }
        assert!(r.state.pages.is_empty() && hv.calls.is_empty());
    }

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

    #[test]
    fn threshold_offlines_once_and_other_pages_stay() {
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 2, 100);
        assert_eq!(hv.calls, Vec::<String>::new());
        assert!(
            l[1].contains("page 0x3a5b1: corrected memory error at 0x3a5b1000, 2 of 3 within 24h"),
            "{l:?}"
        );
        feed(&mut r, &mut hv, 0x3A5C_2000, 2, 100);
        let l = feed(&mut r, &mut hv, 0x3A5B_1040, 1, 110);
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert!(l[0].starts_with("<4>page 0x3a5b1: 3 corrected memory errors within memory-ce-threshold 3 / 24h: offlining it"), "{l:?}");
        assert_eq!(l[1], "<5>page 0x3a5b1: offlined by Xen");
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        assert_eq!(r.state.pages[&0x3A5C2].state, PageState::Counting);
        // The N+1th error: counted, nothing more asked of Xen.
        let l = feed(&mut r, &mut hv, 0x3A5B_1080, 1, 120);
        assert_eq!(hv.calls.len(), 1);
        assert!(l[0].contains("already offlined"), "{l:?}");
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"offlined\"} 1\n"));
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"counting\"} 1\n"));
        assert!(r.metrics().contains("xen_mcelog_retire_errors_total 6\n"));
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_action{action=\"offline\"} 1\n"));
    }

    #[test]
    fn a_guests_page_is_left_to_the_guest_unless_configured() {
        // Xen says who owns the page; the error record's owner does not
        // decide (it was right when the error was seen).
        let mut hv = FakeXen::default();
        hv.x.give(0x3A5B1, Some(5));
        let mut r = Retirer::new(cfg("offline"), State::default());
        let (m, mut x) = ce(0x3A5B_1000);
        let mut logs = Vec::new();
        for i in 0..3 {
            r.record(&m, &x, 100 + i, &mut hv, &mut |_, s| logs.push(s));
        }
        // Xen's answer named domain 5; the mark was taken back at once.
        assert_eq!(hv.calls, ["offline 0x3a5b1", "online 0x3a5b1"]);
        assert_eq!(hv.x.st(0x3A5B1), St::InUse(Some(5)));
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Guest);
        assert_eq!(r.state.pages[&0x3A5B1].owner, 5);
        assert!(
            logs[2].contains(
                "in use by domain 5, not offlined: domain 5 owns it now (Xen's answer), left to \
                 the guest (guest-pages = skip"
            ),
            "{logs:?}"
        );
        assert!(r.state.offlines.is_empty());
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"guest\"} 1\n"));
        assert_eq!(State::parse(&r.state.render()).unwrap(), r.state);
        // The guest freed it; the next crossing finds it free, although the
        // record still names domain 5.
        hv.x.free(0x3A5B1);
        x.domid = 5;
        hv.calls.clear();
        for i in 0..3 {
            r.record(&m, &x, 200 + i, &mut hv, &mut |_, _| {});
        }
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        // dom0's pages are asked to go (offline-pending); guests' with
        // guest-pages = offline, through xen-hptool, which suspends them.
        let mut c = cfg("offline");
        c.guest_pages = true;
        let mut r = Retirer::new(c, State::default());
        let mut hv = FakeXen {
            owned: vec![0x3A5C2],
            ..FakeXen::default()
        };
        hv.x.give(0x3A5B1, Some(5));
        feed(&mut r, &mut hv, 0x3A5C_2000, 3, 100);
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        assert_eq!(
            hv.calls,
            [
                "offline 0x3a5c2",
                "offline 0x3a5b1",
                "hptool 0x3a5b1",
                "suspend dom5"
            ]
        );
        assert!(
            l[2].contains("domain 5 owns it now: offlining it through Xen (xen-hptool mem-offline 0x3a5b1, which suspends the guest"),
            "{l:?}"
        );
        assert_eq!(r.state.pages[&0x3A5C2].state, PageState::Pending);
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        assert!(Config::parse("guest-pages = offline").unwrap().guest_pages);
        assert!(Config::parse("guest-pages = maybe").is_err());
    }

    /// The calls that reached page `mfn`.
    fn reached(hv: &FakeXen, mfn: u64) -> Vec<String> {
        let m = format!("{mfn:#x}");
        hv.calls
            .iter()
            .filter(|c| c.ends_with(&m))
            .cloned()
            .collect()
    }

    #[test]
    fn a_page_that_changes_owner_between_deferral_and_retry_is_asked_about_again() {
        const P: u64 = 0x3A5D3;
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        // max-offlines 2 / 1h used up at 100.
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        feed(&mut r, &mut hv, 0x3A5C_2000, 3, 100);
        // P crosses while free (the record names no owner): deferred, Xen
        // not asked.
        let l = feed(&mut r, &mut hv, P << 12, 3, 200);
        assert!(
            l[2].contains("deferred, max-offlines 2 / 1h reached"),
            "{l:?}"
        );
        assert_eq!(r.state.pages[&P].state, PageState::Deferred);
        assert!(reached(&hv, P).is_empty());
        // A minute later domain 5 has it.
        hv.x.give(P, Some(5));
        let mut logs = Vec::new();
        r.tick(3000, &mut hv, &mut |_, s| logs.push(s));
        assert!(reached(&hv, P).is_empty(), "the rate limit still holds");
        r.tick(3700, &mut hv, &mut |_, s| logs.push(s));
        // Asked right before acting: domain 5 owns it; left to it, the
        // mark taken back, xen-hptool never run, nothing suspended.
        assert_eq!(
            reached(&hv, P),
            [format!("offline {P:#x}"), format!("online {P:#x}")]
        );
        assert_eq!(hv.x.st(P), St::InUse(Some(5)));
        assert_eq!(r.state.pages[&P].state, PageState::Guest);
        assert_eq!(r.state.pages[&P].owner, 5);
        assert_eq!(
            logs,
            [format!(
                "page {P:#x}: deferred earlier, max-offlines allows it now: in use by domain 5, \
                 not offlined: domain 5 owns it now (Xen's answer), left to the guest \
                 (guest-pages = skip: xen-hptool would suspend the guest to exchange the page); \
                 Xen is asked again every 10 minutes"
            )]
        );
        // Not an offline: the budget is untouched.
        assert!(r.state.offlines.is_empty(), "{:?}", r.state.offlines);
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"guest\"} 1\n"));
        // Before the recheck: not asked; at it: asked, still domain 5, quiet.
        r.tick(3760, &mut hv, &mut |_, s| logs.push(s));
        assert_eq!(reached(&hv, P).len(), 2);
        r.tick(3700 + PENDING_RECHECK, &mut hv, &mut |_, s| logs.push(s));
        assert_eq!(reached(&hv, P).len(), 4);
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert_eq!(hv.x.st(P), St::InUse(Some(5)));
        // The guest frees it: the next recheck offlines it, in one step.
        hv.x.free(P);
        r.tick(3700 + 2 * PENDING_RECHECK, &mut hv, &mut |_, s| {
            logs.push(s)
        });
        assert_eq!(reached(&hv, P).last().unwrap(), &format!("offline {P:#x}"));
        assert_eq!(hv.x.st(P), St::Offlined);
        assert_eq!(r.state.pages[&P].state, PageState::Offlined);
        assert!(
            logs[1].starts_with(&format!(
                "page {P:#x}: left to domain 5 earlier: offlining it through Xen"
            )),
            "{logs:?}"
        );
        assert_eq!(logs[2], format!("page {P:#x}: offlined by Xen"));
        assert_eq!(r.state.offlines, [3700 + 2 * PENDING_RECHECK]);
        assert!(!hv
            .calls
            .iter()
            .any(|c| c.starts_with("hptool") || c.starts_with("suspend")));
        assert!(hv.x.crashed.is_empty());
    }

    #[test]
    fn without_xens_answer_a_page_is_not_offlined_unless_guests_may_be() {
        let mut hv = FakeXen {
            no_sysctl: true,
            ..FakeXen::default()
        };
        let mut r = Retirer::new(cfg("offline"), State::default());
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        assert!(hv.calls.is_empty(), "{:?}", hv.calls);
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Failed);
        assert!(
            l[2].contains("cannot ask Xen who owns the page, so not offlined (guest-pages = skip)"),
            "{l:?}"
        );
        // guest-pages = offline: xen-hptool, as before.
        let mut c = cfg("offline");
        c.guest_pages = true;
        let mut r = Retirer::new(c, State::default());
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        assert_eq!(hv.calls, ["hptool 0x3a5b1"]);
        assert!(l[2].contains("offlining it through Xen (xen-hptool mem-offline 0x3a5b1; Xen's page-offline sysctl failed"), "{l:?}");
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
    }

    #[test]
    fn off_counts_nothing_and_dry_run_only_logs() {
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("off"), State::default());
        assert!(feed(&mut r, &mut hv, 0x3A5B_1000, 5, 100).is_empty());
        assert!(r.state.pages.is_empty() && !r.dirty);
        let mut r = Retirer::new(cfg("dry-run"), State::default());
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        assert!(
            l[2].contains("dry run, would offline it (xen-hptool mem-offline 0x3a5b1)"),
            "{l:?}"
        );
        assert!(hv.calls.is_empty());
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::DryRun);
        // Switching to offline does not act on the dry run's past verdict.
        r.cfg = cfg("offline");
        r.resume(200, &mut hv, &mut |_, _| {});
        assert!(hv.calls.is_empty());
    }

    #[test]
    fn counts_survive_a_restart_through_the_state_file() {
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 2, 100);
        let text = r.state.render();
        let st = State::parse(&text).unwrap();
        assert_eq!(st, r.state);
        let mut r2 = Retirer::new(cfg("offline"), st);
        feed(&mut r2, &mut hv, 0x3A5B_1000, 1, 200);
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert!(State::parse("junk\n").is_err());
        assert!(State::parse("xen-mcelog-retire 1\npage 12 state=x\n").is_err());
        assert!(State::parse("xen-mcelog-retire 1\npage 0x12 state=bogus\n").is_err());
        let dir = std::env::temp_dir().join(format!("xmc-retire-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("retire.state");
        r2.state.save(&f).unwrap();
        assert_eq!(
            State::parse(&fs::read_to_string(&f).unwrap()).unwrap(),
            r2.state
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xmc-retire-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
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
        let dir = scratch("damaged");
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
            cfg("offline"),
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
        let ro = scratch("nomove");
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
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&ro).unwrap();
    }

    #[test]
    fn drained_and_surplus_pages_are_forgotten_the_total_is_not() {
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 2, 100);
        feed(&mut r, &mut hv, 0x3A5C_1000, 3, 100);
        r.prune(100 + 86399, &mut |_, _| {});
        assert_eq!(r.state.pages.len(), 2);
        r.dirty = false;
        r.prune(100 + 86400, &mut |_, _| {});
        // The drained counting page goes; the offlined one stays.
        assert_eq!(r.state.pages.keys().copied().collect::<Vec<_>>(), [0x3A5C1]);
        assert!(r.dirty);
        assert!(r.metrics().contains("xen_mcelog_retire_errors_total 5\n"));
        assert_eq!(State::parse(&r.state.render()).unwrap(), r.state);
        // A bounded table: the oldest counting pages make room (ROOM of
        // them at once).
        for i in 0..(MAX_PAGES as u64 + 10) {
            feed(&mut r, &mut hv, (0x10_0000 + i) << 12, 1, 200_000 + i);
        }
        assert_eq!(r.state.pages.len(), MAX_PAGES - ROOM + 11);
        assert_eq!(r.evicted, [ROOM as u64, 0, 0, 0]);
        assert!(r.state.pages.contains_key(&0x3A5C1));
        assert!(!r.state.pages.contains_key(&0x10_0000));
        assert!(r
            .state
            .pages
            .contains_key(&(0x10_0000 + MAX_PAGES as u64 + 9)));
    }

    /// A page of `state` changed at `t`, for tables built by hand.
    fn page_in(state: PageState, t: u64) -> Page {
        let mut p = Page::new(t);
        p.state = state;
        p
    }

    #[test]
    fn a_full_table_forgets_only_what_costs_no_decision_and_says_so() {
        let mut hv = FakeXen::default();
        let mut logs = Vec::new();
        let mut log = |l: Level, s: String| logs.push(format!("<{}>{s}", l as u8));
        // Full of dry-run verdicts (and one page of each state that is
        // never forgotten): a new page forgets the oldest verdicts.
        let mut r = Retirer::new(cfg("dry-run"), State::default());
        let keep = [
            PageState::Offlined,
            PageState::Pending,
            PageState::Guest,
            PageState::Deferred,
        ];
        for (i, st) in keep.into_iter().enumerate() {
            r.state.pages.insert(0x1000 + i as u64, page_in(st, 1));
        }
        for i in 0..(MAX_PAGES - keep.len()) as u64 {
            r.state
                .pages
                .insert(0x10_0000 + i, page_in(PageState::DryRun, 1000 + i));
        }
        let (m, x) = ce(0x7777_7000);
        r.record(&m, &x, 50_000, &mut hv, &mut log);
        assert_eq!(r.state.pages.len(), MAX_PAGES - ROOM + 1);
        assert_eq!(r.evicted, [0, ROOM as u64, 0, 0]);
        assert!(r.state.pages.contains_key(&0x77777));
        assert!(!r.state.pages.contains_key(&0x10_0000));
        for i in 0..keep.len() as u64 {
            assert!(r.state.pages.contains_key(&(0x1000 + i)));
        }
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_evicted_pages_total{state=\"dry_run\"} 256\n"));
        assert!(
            logs.iter().any(|l| l
                .starts_with("<4>the table of 16384 pages is full: forgot 256 dry_run page(s)")),
            "{logs:?}"
        );

        // Full of pages that are never forgotten: the error counts in the
        // total and as untracked, logged once, and nothing is forgotten.
        let mut logs = Vec::new();
        let mut log = |l: Level, s: String| logs.push(format!("<{}>{s}", l as u8));
        let mut r = Retirer::new(cfg("offline"), State::default());
        for i in 0..MAX_PAGES as u64 {
            r.state
                .pages
                .insert(0x10_0000 + i, page_in(keep[i as usize % 4], 1000));
        }
        let before = r.state.pages.clone();
        for a in [0x7777_7000, 0x7777_8000, 0x7777_7000] {
            let (m, x) = ce(a);
            r.record(&m, &x, 50_000, &mut hv, &mut log);
        }
        assert_eq!(r.state.pages, before);
        assert_eq!((r.untracked, r.state.errors, r.evicted), (3, 3, [0; 4]));
        assert!(r.dirty);
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_untracked_errors_total 3\n"));
        let untracked: Vec<_> = logs.iter().filter(|l| l.contains("not tracked")).collect();
        assert_eq!(untracked.len(), 1, "{logs:?}");
        assert!(untracked[0]
            .starts_with("<3>page 0x77777: corrected memory error at 0x77777000 not tracked"));
        assert!(hv.calls.is_empty());
    }

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
        let c = cfg("offline");
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
        // 60 s of a corrected-error storm: 100 batches a second of 10
        // records each over 3000 pages (memory-ce-threshold 3 / 24h: pages
        // cross it; max-offlines 2 / 1h: two are offlined, the rest
        // deferred). Before: the file was written after every batch that
        // changed it. Now: at most once per STATE_SAVE_INTERVAL, plus twice
        // per offline request (before it, and its outcome).
        let mut r = Retirer::new(cfg("offline"), State::default());
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

    #[test]
    fn rate_limit_defers_then_tick_offlines() {
        let mut hv = FakeXen {
            owned: vec![0x3A5D3],
            ..FakeXen::default()
        };
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        feed(&mut r, &mut hv, 0x3A5D_3000, 3, 200);
        assert_eq!(r.state.pages[&0x3A5D3].state, PageState::Pending);
        let l = feed(&mut r, &mut hv, 0x3A5E_4000, 3, 300);
        assert!(
            l[2].contains("deferred, max-offlines 2 / 1h reached (next possible in 3400 s)"),
            "{l:?}"
        );
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Deferred);
        assert_eq!(hv.calls.len(), 2);
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"deferred\"} 1\n"));
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"pending\"} 1\n"));
        r.tick(3000, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Deferred);
        r.tick(3700, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Offlined);
        // Xen finished the pending page: the next recheck sees it.
        hv.x.free(0x3A5D3);
        r.tick(3700 + PENDING_RECHECK, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5D3].state, PageState::Offlined);
    }

    /// `n` errors on the page of `addr`, stamped by the driver at `stamp`,
    /// read at `now`.
    fn feed_at(r: &mut Retirer, hv: &mut FakeXen, addr: u64, stamp: u64, now: u64) -> Vec<String> {
        let mut logs = Vec::new();
        let (mut m, x) = ce(addr);
        m.time = stamp;
        r.record(&m, &x, now, hv, &mut |l, s| {
            logs.push(format!("<{}>{s}", l as u8))
        });
        logs
    }

    const T: u64 = 1_800_000_000;
    const YEARS: u64 = 5 * 365 * 86400;

    #[test]
    fn a_clock_stepped_back_blocks_nothing_for_long() {
        // The clock was five years ahead (an RTC set wrong): two pages
        // offlined, one error counted on a third, then the service restarts.
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, T + YEARS);
        feed(&mut r, &mut hv, 0x3A5C_2000, 3, T + YEARS);
        feed(&mut r, &mut hv, 0x3A5D_3000, 1, T + YEARS);
        let st = State::parse(&r.state.render()).unwrap();
        // NTP stepped it back. max-offlines (2 / 1h) is used up for the hour
        // after the step, not for five years.
        let mut r = Retirer::new(cfg("offline"), st);
        let mut logs = Vec::new();
        r.resume(T, &mut hv, &mut |_, s| logs.push(s));
        assert!(
            logs.iter().any(|l| l.contains(&format!(
                "the clock is {YEARS} s behind the latest time in the state (stepped back?)"
            ))),
            "{logs:?}"
        );
        let l = feed(&mut r, &mut hv, 0x3A5E_4000, 3, T + 10);
        assert!(
            l[2].contains("deferred, max-offlines 2 / 1h reached (next possible in 3590 s)"),
            "{l:?}"
        );
        r.tick(T + 3599, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Deferred);
        r.tick(T + 3600, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Offlined);
        // The bucket of the page counted in the future drains again: its
        // second error a day after the step finds the first drained.
        feed(&mut r, &mut hv, 0x3A5D_3000, 1, T + 20);
        assert_eq!(r.state.pages[&0x3A5D3].count, 2);
        feed(&mut r, &mut hv, 0x3A5D_3000, 1, T + 20 + 86400);
        assert_eq!(r.state.pages[&0x3A5D3].count, 1);
        assert_eq!(r.state.pages[&0x3A5D3].state, PageState::Counting);
        // Nothing the state holds is after now any more.
        assert!(r.state.offlines.iter().all(|&t| t <= T + 3600));
        assert!(r.state.pages.values().all(|p| p.since <= T + 20 + 86400));
    }

    #[test]
    fn a_clock_stepped_forward_counts_as_time_passed() {
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, T);
        feed(&mut r, &mut hv, 0x3A5C_2000, 2, T);
        feed(&mut r, &mut hv, 0x3A5D_3000, 3, T);
        feed(&mut r, &mut hv, 0x3A5E_4000, 3, T);
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Deferred);
        // Five years forward: the rate limit's period is over, the deferred
        // page goes; the drained counting page is forgotten, the offlined
        // pages never are.
        r.tick(T + YEARS, &mut hv, &mut |_, _| {});
        assert_eq!(r.state.pages[&0x3A5E4].state, PageState::Offlined);
        assert!(!r.state.pages.contains_key(&0x3A5C2));
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        // A record the driver stamped before the step but read after it
        // counts at its stamp: an old error, drained by the next.
        feed_at(&mut r, &mut hv, 0x3A5F_5000, T + 5, T + YEARS + 10);
        assert_eq!(r.state.pages[&0x3A5F5].since, T + 5);
        feed_at(&mut r, &mut hv, 0x3A5F_5000, T + YEARS + 20, T + YEARS + 20);
        assert_eq!(r.state.pages[&0x3A5F5].count, 1);
        // A stamp before the bucket's last drain counts at that drain.
        feed_at(&mut r, &mut hv, 0x3A5F_5000, T + 6, T + YEARS + 30);
        assert_eq!(
            (r.state.pages[&0x3A5F5].count, r.state.pages[&0x3A5F5].since),
            (2, T + YEARS + 20)
        );
        // A stamp in the future (the clock went back after it) counts now.
        feed_at(&mut r, &mut hv, 0x3A60_6000, T + 2 * YEARS, T + YEARS + 40);
        assert_eq!(r.state.pages[&0x3A606].since, T + YEARS + 40);
    }

    #[test]
    fn a_backlog_read_at_start_counts_at_its_own_times() {
        // memory-ce-threshold 3 / 1h: three errors two hours apart each,
        // queued in the device while the service was stopped, read at once.
        let c = Config::parse("action = offline\nmemory-ce-threshold = 3 / 1h\n").unwrap();
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(c, State::default());
        for stamp in [T, T + 7200, T + 14400] {
            feed_at(&mut r, &mut hv, 0x3A5B_1000, stamp, T + 18000);
        }
        assert!(hv.calls.is_empty(), "{:?}", hv.calls);
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Counting);
        assert_eq!(r.state.pages[&0x3A5B1].count, 1);
        // Three within the hour do cross it, backlog or not.
        for stamp in [T + 20000, T + 20010, T + 20020] {
            feed_at(&mut r, &mut hv, 0x3A5C_2000, stamp, T + 21000);
        }
        assert_eq!(hv.calls, ["offline 0x3a5c2"]);
    }

    #[test]
    fn refused_is_final_and_failures_are_bounded() {
        let mut hv = FakeXen {
            refuse: vec![0x3A5B1],
            ..FakeXen::default()
        };
        let mut r = Retirer::new(cfg("offline"), State::default());
        let l = feed(&mut r, &mut hv, 0x3A5B_1000, 9, 100);
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert!(l
            .iter()
            .any(|s| s.starts_with("<3>page 0x3a5b1: Xen refused to offline it, not retried")));
        // A refusal is not an offline: the budget is untouched.
        assert!(r.state.offlines.is_empty());

        struct Broken(u32);
        impl XenPages for Broken {
            fn page_op(&mut self, _: xenpage::PageOp, _: u64) -> Result<xenpage::Reply, String> {
                self.0 += 1;
                Err("cannot open /dev/xen/privcmd".into())
            }
        }
        impl Hypervisor for Broken {
            fn offline(&mut self, _: u64) -> Outcome {
                self.0 += 1;
                Outcome::Failed("no such file".into())
            }
            fn query(&mut self, _: u64) -> Result<u32, String> {
                Err("no".into())
            }
        }
        let mut b = Broken(0);
        let mut r = Retirer::new(cfg("offline"), State::default());
        let (m, x) = ce(0x3A5B_1000);
        for i in 0..30 {
            r.record(&m, &x, 100 + i, &mut b, &mut |_, _| {});
        }
        assert_eq!(b.0, MAX_ATTEMPTS);
        assert!(r
            .metrics()
            .contains("xen_mcelog_retire_pages{state=\"failed\"} 1\n"));
    }

    #[test]
    fn resume_offlines_again_what_a_reboot_put_back() {
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        let st = r.state.clone();
        // Reboot: Xen forgot.
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), st);
        let mut logs = Vec::new();
        r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
        assert_eq!(hv.asked, ["status 0x3a5b1"]);
        assert_eq!(hv.calls, ["offline 0x3a5b1"]);
        assert!(
            logs[0].starts_with(
                "page 0x3a5b1: retired before, but Xen reports it 0x0 [online] (the host rebooted?): \
                 offlining it again through Xen"
            ),
            "{logs:?}"
        );
        assert_eq!(logs[1], "page 0x3a5b1: offlined by Xen");
        assert_eq!(r.state.offlines, [100]);
        // Still offlined: nothing to do.
        hv.calls.clear();
        hv.asked.clear();
        r.resume(5001, &mut hv, &mut |_, _| {});
        assert_eq!(hv.asked, ["status 0x3a5b1"]);
        assert!(hv.calls.is_empty());
    }

    #[test]
    fn after_a_reboot_a_retired_page_a_guest_owns_now_is_left_to_it() {
        const P: u64 = 0x3A5B1;
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, P << 12, 3, 100);
        let st = r.state.clone();
        for action in ["offline", "off"] {
            // Reboot: Xen forgot, and domain 7 got the page before the
            // service started.
            let mut hv = FakeXen::default();
            hv.x.give(P, Some(7));
            let mut r = Retirer::new(cfg(action), st.clone());
            let mut logs = Vec::new();
            r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(hv.calls, ["offline 0x3a5b1", "online 0x3a5b1"], "{action}");
            assert_eq!(hv.x.st(P), St::InUse(Some(7)));
            assert_eq!(r.state.pages[&P].state, PageState::Guest);
            assert_eq!(
                logs,
                ["page 0x3a5b1: retired before, but Xen reports it 0x0 [online] (the host rebooted?): \
                  in use by domain 7, not offlined: domain 7 owns it now (Xen's answer), left to \
                  the guest (guest-pages = skip: xen-hptool would suspend the guest to exchange \
                  the page); Xen is asked again every 10 minutes"]
            );
            assert!(r
                .metrics()
                .contains("xen_mcelog_retire_pages{state=\"guest\"} 1\n"));
            // Every minute: not asked; every 10 minutes: asked, quiet.
            r.tick(5060, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(hv.calls.len(), 2);
            r.tick(5000 + PENDING_RECHECK, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(hv.calls.len(), 4);
            assert_eq!(logs.len(), 1, "{logs:?}");
            // The guest went: offlined again, outside the rate limit.
            hv.x.free(P);
            r.tick(5000 + 2 * PENDING_RECHECK, &mut hv, &mut |_, s| {
                logs.push(s)
            });
            assert_eq!(hv.x.st(P), St::Offlined);
            assert_eq!(r.state.pages[&P].state, PageState::Offlined);
            assert_eq!(logs[2], "page 0x3a5b1: offlined by Xen");
            assert_eq!(r.state.offlines, [100]);
            assert!(!hv.calls.iter().any(|c| c.starts_with("hptool")));
        }
        // guest-pages = offline: xen-hptool exchanges it, as before.
        let mut c = cfg("offline");
        c.guest_pages = true;
        let mut hv = FakeXen::default();
        hv.x.give(P, Some(7));
        let mut r = Retirer::new(c, st);
        r.resume(5000, &mut hv, &mut |_, _| {});
        assert_eq!(
            hv.calls,
            ["offline 0x3a5b1", "hptool 0x3a5b1", "suspend dom7"]
        );
        assert_eq!(r.state.pages[&P].state, PageState::Offlined);
    }

    #[test]
    fn frames_xen_kept_out_at_boot_stay_retired() {
        // persist = grub: after the reboot Xen's badpage= holds the page
        // (xen/common/page_alloc.c init_boot_pages: bootmem_region_zap), never
        // freed into its heap: in use, no owner. Xen reports it neither
        // offlined nor pending; offlining it again fails as an anonymous page
        // (Xen marks it offline-pending), which for such a frame means it is
        // out of service: still offlined.
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        feed(&mut r, &mut hv, 0x3A6C_2000, 3, 100);
        let st = r.state.clone();
        for (boot, kept) in [
            ("console=com1 badpage=0x3a5b1", true),
            ("console=com1", false),
        ] {
            let mut hv = FakeXen::default();
            hv.x.give(0x3a5b1, None);
            let mut r = Retirer::new(cfg("offline"), st.clone());
            r.boot_badpages = crate::grub::xen_badpages(boot);
            let mut logs = Vec::new();
            r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(hv.calls, ["offline 0x3a5b1", "offline 0x3a6c2"]);
            assert_eq!(hv.x.st(0x3a5b1), St::Offlining(None));
            let state = r.state.pages[&0x3a5b1].state;
            if kept {
                assert!(
                    logs.iter().any(|l| l.starts_with(
                        "page 0x3a5b1: kept out of Xen's allocator since boot (badpage= on Xen's \
                         command line)"
                    )),
                    "{logs:?}"
                );
                assert_eq!(state, PageState::Offlined);
                assert_eq!(crate::grub::retired_frames(&r.state).len(), 2);
            } else {
                // Not on Xen's command line: an anonymous page is a refusal.
                assert_eq!(state, PageState::Refused, "{logs:?}");
            }
            assert_eq!(r.state.pages[&0x3a6c2].state, PageState::Offlined);
            assert_eq!(r.state.offlines, [100, 100]);
        }
    }

    #[test]
    fn persist_is_off_unless_configured() {
        let c = Config::parse("").unwrap();
        assert!(!c.persist_grub);
        assert_eq!(c.grub_snippet, PathBuf::from(crate::grub::DEFAULT_SNIPPET));
        assert_eq!(c.update_grub, PathBuf::from("/usr/sbin/update-grub"));
        let c =
            Config::parse("persist = grub\ngrub-snippet = /tmp/x.cfg\nupdate-grub = /bin/true\n")
                .unwrap();
        assert!(c.persist_grub);
        assert_eq!(
            (c.grub_snippet.to_str(), c.update_grub.to_str()),
            (Some("/tmp/x.cfg"), Some("/bin/true"))
        );
        assert_eq!(
            Config::parse("action = off\npersist = yes").unwrap_err(),
            "line 2: persist `yes`: off or grub"
        );
    }

    #[test]
    fn off_or_dry_run_keeps_retired_pages_out_of_service() {
        // Two pages retired with action = offline, then the action switched.
        let mut hv = FakeXen {
            owned: vec![0x3A5C2],
            ..FakeXen::default()
        };
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        feed(&mut r, &mut hv, 0x3A5C_2000, 3, 100);
        feed(&mut r, &mut hv, 0x3A5D_3000, 1, 100);
        let st = r.state.clone();
        for action in ["off", "dry-run"] {
            // The host rebooted: Xen forgot; the service offlines them again.
            let mut hv = FakeXen::default();
            let mut r = Retirer::new(cfg(action), st.clone());
            let d = r.describe();
            if action == "off" {
                assert!(
                    d.starts_with("page retirement is off (action = off)"),
                    "{d}"
                );
                assert!(
                    d.contains("; 2 pages retired before kept out of service (offlined again after a reboot; retired-pages = forget"),
                    "{d}"
                );
            }
            let mut logs = Vec::new();
            r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
            assert_eq!(hv.calls, ["offline 0x3a5b1", "offline 0x3a5c2"], "{action}");
            assert!(
                logs[0].contains("page 0x3a5b1: retired before, but Xen reports it"),
                "{logs:?}"
            );
            // Not new offlines: the budget is untouched; nothing else moves.
            assert_eq!(r.state.offlines, st.offlines);
            assert_eq!(r.state.pages[&0x3A5D3], st.pages[&0x3A5D3]);
            // Off still counts nothing.
            if action == "off" {
                feed(&mut r, &mut hv, 0x3A5D_3000, 5, 5100);
                assert_eq!(r.state.pages[&0x3A5D3], st.pages[&0x3A5D3]);
            }
        }
        // Off with Xen not answering yet at start: the next ticks retry.
        struct Later(u32, FakeXen);
        impl XenPages for Later {
            fn page_op(&mut self, op: xenpage::PageOp, mfn: u64) -> Result<xenpage::Reply, String> {
                self.0 += 1;
                if self.0 <= 2 {
                    return Err("no privcmd".into());
                }
                self.1.page_op(op, mfn)
            }
        }
        impl Hypervisor for Later {
            fn offline(&mut self, mfn: u64) -> Outcome {
                self.1.offline(mfn)
            }
            fn query(&mut self, mfn: u64) -> Result<u32, String> {
                self.0 += 1;
                if self.0 <= 2 {
                    return Err("no privcmd".into());
                }
                self.1.query(mfn)
            }
        }
        let mut later = Later(0, FakeXen::default());
        let mut r = Retirer::new(cfg("off"), st.clone());
        r.resume(5000, &mut later, &mut |_, _| {});
        r.tick(5060, &mut later, &mut |_, _| {});
        assert!(
            later.1.calls.contains(&"offline 0x3a5b1".to_string()),
            "{:?}",
            later.1.calls
        );
        assert!(
            later.1.calls.contains(&"offline 0x3a5c2".to_string()),
            "{:?}",
            later.1.calls
        );
        // An empty state with action = off: nothing, not even a state file.
        let mut r = Retirer::new(cfg("off"), State::default());
        r.resume(5000, &mut hv, &mut |_, _| {});
        r.tick(5060, &mut hv, &mut |_, _| {});
        assert!(!r.dirty && r.describe() == "page retirement is off (action = off)");
    }

    #[test]
    fn retired_pages_forget_returns_them_after_the_next_reboot() {
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        feed(&mut r, &mut hv, 0x3A5D_3000, 1, 100);
        let st = r.state.clone();
        let c = Config::parse("action = off\nretired-pages = forget\n").unwrap();
        assert!(c.forget_retired);
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(c, st);
        assert_eq!(r.describe(), "page retirement is off (action = off)");
        let mut logs = Vec::new();
        r.resume(5000, &mut hv, &mut |_, s| logs.push(s));
        assert!(hv.calls.is_empty(), "{:?}", hv.calls);
        assert_eq!(
            logs,
            [
                "page 0x3a5b1: retired before, forgotten (retired-pages = forget): not offlined \
              again; back in service after the next reboot of the host"
            ]
        );
        assert_eq!(r.state.pages.keys().copied().collect::<Vec<_>>(), [0x3A5D3]);
        assert!(r.dirty);
        // Only with off or dry-run; keep is the default.
        assert!(Config::parse("action = dry-run\nretired-pages = forget").is_ok());
        assert!(Config::parse("action = offline\nretired-pages = forget")
            .unwrap_err()
            .contains("use it with action = off or dry-run"));
        assert!(
            !Config::parse("retired-pages = keep")
                .unwrap()
                .forget_retired
        );
        assert!(Config::parse("retired-pages = maybe").is_err());
    }

    #[test]
    fn resume_waits_for_xen_to_answer() {
        // At boot: no /dev/xen/privcmd yet, xen-hptool cannot ask.
        struct Early(Option<FakeXen>);
        impl XenPages for Early {
            fn page_op(&mut self, op: xenpage::PageOp, mfn: u64) -> Result<xenpage::Reply, String> {
                self.0
                    .as_mut()
                    .map_or(Err("no privcmd".into()), |h| h.page_op(op, mfn))
            }
        }
        impl Hypervisor for Early {
            fn offline(&mut self, mfn: u64) -> Outcome {
                self.0
                    .as_mut()
                    .map_or(Outcome::Failed("no privcmd".into()), |h| h.offline(mfn))
            }
            fn query(&mut self, mfn: u64) -> Result<u32, String> {
                self.0
                    .as_mut()
                    .map_or(Err("no privcmd".into()), |h| h.query(mfn))
            }
        }
        let mut hv = FakeXen::default();
        let mut r = Retirer::new(cfg("offline"), State::default());
        feed(&mut r, &mut hv, 0x3A5B_1000, 3, 100);
        let mut r = Retirer::new(cfg("offline"), r.state.clone());
        let mut early = Early(None);
        let mut logs = Vec::new();
        r.resume(5000, &mut early, &mut |_, s| logs.push(s));
        r.tick(5060, &mut early, &mut |_, s| logs.push(s));
        assert_eq!(logs.len(), 1, "{logs:?}");
        assert!(logs[0].contains("cannot ask Xen (tried again every minute): no privcmd"));
        assert_eq!(r.state.pages[&0x3A5B1].state, PageState::Offlined);
        // privcmd is there: the next tick offlines it again, once.
        early.0 = Some(FakeXen::default());
        r.tick(5120, &mut early, &mut |_, s| logs.push(s));
        r.tick(5180, &mut early, &mut |_, s| logs.push(s));
        assert_eq!(early.0.as_ref().unwrap().calls, ["offline 0x3a5b1"]);
        assert!(logs[1].contains("offlining it again"), "{logs:?}");
    }

    #[test]
    fn rasdaemon_offlining_dom0_pages_is_noticed() {
        assert_eq!(
            rasdaemon_page_action("# PAGE_CE_ACTION=\"off\"\nPAGE_CE_ACTION=\"soft\"\n"),
            Some("soft".into())
        );
        assert_eq!(
            rasdaemon_page_action("PAGE_CE_ACTION=\"soft\"\nPAGE_CE_ACTION=off\n"),
            None
        );
        assert_eq!(rasdaemon_page_action("PAGE_CE_THRESHOLD=\"50\"\n"), None);
    }

    #[test]
    fn xen_hptool_output_is_read_as_xen_meant_it() {
        let q = |s: u32| -> Result<u32, String> { Ok(s) };
        assert_eq!(
            classify(
                "Prepare to offline MEMORY mfn 3a5b1\nMemory mfn 3a5b1 offlined successfully, current state is [PG_OFFLINE_OFFLINED]\n",
                q(2)
            ),
            Outcome::Offlined
        );
        // An owned page: xen-hptool tries to suspend the owner and fails
        // (exit 1), Xen keeps it offline-pending.
        assert_eq!(
            classify(
                "Prepare to offline MEMORY mfn 1234\nDOM0: No suspend port, try live migration\nFailed to suspend guest 0 for mfn 1234\n",
                q(0xC)
            ),
            Outcome::Pending(Some(0))
        );
        assert_eq!(
            classify("Memory mfn 1234 offlined successfully , this page is DOM7 page yet failed to be exchanged.", q(0xC)),
            Outcome::Pending(Some(7))
        );
        let r = classify(
            "Prepare to offline MEMORY mfn feffc\nOfflining page mfn feffc failed, error ffffffea\nXEN_PAGE is not permitted be offlined\n",
            q(4),
        );
        assert!(
            matches!(&r, Outcome::Refused(w) if w.contains("failed, error ffffffea XEN_PAGE")),
            "{r:?}"
        );
        assert!(matches!(
            classify(
                "Memory mfn 10 offlined succssefully,this page is xen page, current state is",
                q(8)
            ),
            Outcome::Refused(_)
        ));
        assert!(
            matches!(classify("Memory mfn 10 offline failed\nthe memory is an anonymous page!", q(4)), Outcome::Refused(w) if w.contains("anonymous"))
        );
        assert!(
            matches!(classify("failed to get the handler\n", q(4)), Outcome::Failed(w) if w.contains("0x4 [online]"))
        );
        assert_eq!(
            classify("", Err("gone".into())),
            Outcome::Failed("gone".into())
        );
        assert_eq!(
            parse_status("Querying MEMORY mfn 3a5b1 status\nMemory Status 2: [ PAGE_OFFLINED ]\n"),
            Some(2)
        );
        assert_eq!(
            parse_status("Memory Status c: [ PAGE_OFFLINE_PENDING  PAGE_ONLINED ]"),
            Some(0xC)
        );
        assert_eq!(parse_status("Querying page mfn 1 failed, error -1"), None);
    }
}
