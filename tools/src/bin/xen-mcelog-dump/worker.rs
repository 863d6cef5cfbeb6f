// SPDX-License-Identifier: GPL-2.0-only

//! Page retirement's thread (`--retire`): the records the reader printed,
//! the periodic work, a reload at SIGHUP, the state file and the
//! textfile's part; everything that runs xen-hptool happens here.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use xmc_core::record::XenInfo;
use xmc_tools::grub;
use xmc_tools::retire::{self, Config, HpTool, Level, Retirer};
use xmc_tools::xenpage::Sysctl;
use xmc_tools::Mce;

use crate::textfile::{lock, Shared};
use crate::{retire_log, unix_now};

/// `--retire`: the policy and Xen's tool (owned by the retire thread).
pub(crate) struct Retire {
    pub(crate) r: Retirer,
    hv: HpTool,
    /// When the periodic work is due next.
    next_tick: Instant,
    /// `persist = grub`: the GRUB snippet and update-grub.
    persist: Option<grub::Persist>,
}

/// What the reader sends the retire thread.
pub(crate) enum Msg {
    /// Records printed, with their Xen side.
    Records(Vec<(Mce, XenInfo)>),
    /// SIGHUP: read the configuration again.
    Reload,
}

/// The retire thread, seen from the reader.
pub(crate) struct RetireThread {
    pub(crate) tx: mpsc::Sender<Msg>,
    pub(crate) join: std::thread::JoinHandle<()>,
}

/// How often `--retire` looks at deferred and pending pages.
const RETIRE_TICK: Duration = Duration::from_secs(60);

/// Reads the state and says what is configured. Xen is not asked here:
/// the retire thread starts with [`Retirer::resume`].
pub(crate) fn start_retire(cfg: Config, hptool_timeout: Duration) -> Retire {
    let path = cfg.state.clone();
    let state = retire::load_state(&path, unix_now(), &mut retire_log);
    let mut hv = HpTool::new(cfg.hptool.clone());
    hv.timeout = hptool_timeout;
    hv.sysctl = Sysctl::new(&cfg.privcmd);
    let mut r = Retirer::new(cfg, state);
    retire_log(Level::Notice, r.describe());
    // Xen's badpage= frames (persist = grub): offlining one again at start
    // fails as an anonymous page, which for them means kept out (grub/cmdline.rs).
    if !grub::retired_frames(&r.state).is_empty() {
        match grub::running_xen_badpages() {
            Ok(b) => r.boot_badpages = b,
            Err(e) => retire_log(
                Level::Warning,
                format!("cannot read Xen's command line for its badpage= frames: {e}"),
            ),
        }
    }
    if r.cfg.action != retire::Action::Off {
        for w in retire::dom0_offline_warnings() {
            retire_log(Level::Warning, w);
        }
    }
    Retire {
        r,
        hv,
        next_tick: Instant::now() + RETIRE_TICK,
        persist: None,
    }
}

/// `persist = grub`: the snippet follows the retired pages (grub/); it
/// is read again when its paths change at a reload, dropped when off.
fn sync_persist(rt: &mut Retire) {
    let c = &rt.r.cfg;
    if !c.persist_grub {
        rt.persist = None;
        return;
    }
    let p = match &mut rt.persist {
        Some(p) if p.snippet == c.grub_snippet && p.update_grub == c.update_grub => p,
        _ => rt.persist.insert(grub::Persist::new(
            c.grub_snippet.clone(),
            c.update_grub.clone(),
            PathBuf::from(grub::DEFAULT_GRUB_CFG),
        )),
    };
    p.sync(
        &grub::retired_frames(&rt.r.state),
        unix_now(),
        &mut retire_log,
    );
}

/// Loads `--retire CONFIG`; a failure is logged (naming the file and line)
/// and leaves retirement as `what` says.
pub(crate) fn load_config(path: &Path, what: &str) -> Option<Config> {
    Config::load(path)
        .inspect_err(|e| {
            retire_log(
                Level::Err,
                format!(
                    "--retire {e}; {what} (records are still read; fix it, then \
                     systemctl reload xen-mcelog-json)"
                ),
            );
        })
        .ok()
}

/// Page retirement's thread: everything that runs xen-hptool happens here,
/// so a slow or hung xen-hptool (bounded by its timeout) never holds up
/// the records.
pub(crate) struct Worker {
    pub(crate) conf: PathBuf,
    pub(crate) rt: Option<Retire>,
    pub(crate) cfg_error: bool,
    pub(crate) hptool_timeout: Duration,
    pub(crate) prom: Option<Shared>,
    /// The state file's clock (retire::STATE_SAVE_INTERVAL): monotonic.
    pub(crate) started: Instant,
}

impl Worker {
    pub(crate) fn run(mut self, rx: mpsc::Receiver<Msg>) {
        if let Some(rt) = &mut self.rt {
            rt.r.resume(unix_now(), &mut rt.hv, &mut retire_log);
        }
        self.after(false);
        loop {
            let mono = self.started.elapsed();
            let wait = self.rt.as_ref().map_or(RETIRE_TICK, |rt| {
                let tick = rt.next_tick.saturating_duration_since(Instant::now());
                rt.r.save_wait(mono).map_or(tick, |s| s.min(tick))
            });
            match rx.recv_timeout(wait) {
                Ok(Msg::Records(recs)) => {
                    if let Some(rt) = &mut self.rt {
                        for (m, x) in &recs {
                            rt.r.record(m, x, unix_now(), &mut rt.hv, &mut retire_log);
                        }
                    }
                }
                Ok(Msg::Reload) => self.reload(),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(rt) = self.rt.as_mut().filter(|rt| rt.next_tick <= Instant::now()) {
                        rt.next_tick = Instant::now() + RETIRE_TICK;
                        rt.r.tick(unix_now(), &mut rt.hv, &mut retire_log);
                    }
                }
                // The reader ended (stop, SIGTERM, an error): what changed
                // since the last write is written now.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.after(true);
                    break;
                }
            }
            self.after(false);
        }
    }

    /// SIGHUP: the configuration again; a bad one changes nothing.
    fn reload(&mut self) {
        let conf = self.conf.clone();
        let keep = if self.rt.is_some() {
            "the configuration in force stays"
        } else {
            "page retirement stays off"
        };
        let Some(mut cfg) = load_config(&conf, &format!("reload refused: {keep}")) else {
            self.cfg_error = true;
            return;
        };
        self.cfg_error = false;
        let Some(rt) = &mut self.rt else {
            retire_log(Level::Notice, format!("reloaded {}", conf.display()));
            let mut rt = start_retire(cfg, self.hptool_timeout);
            rt.r.resume(unix_now(), &mut rt.hv, &mut retire_log);
            self.rt = Some(rt);
            return;
        };
        if cfg.state != rt.r.cfg.state {
            retire_log(
                Level::Warning,
                format!(
                    "reload: state-file {} takes effect at a restart; {} stays in use",
                    cfg.state.display(),
                    rt.r.cfg.state.display()
                ),
            );
            cfg.state = rt.r.cfg.state.clone();
        }
        let was = rt.r.cfg.action;
        rt.hv.path = cfg.hptool.clone();
        if rt.hv.sysctl.path() != cfg.privcmd {
            rt.hv.sysctl = Sysctl::new(&cfg.privcmd);
        }
        rt.r.cfg = cfg;
        retire_log(
            Level::Notice,
            format!("reloaded {}: {}", conf.display(), rt.r.describe()),
        );
        let now_on = rt.r.cfg.action;
        if was == retire::Action::Off && now_on != retire::Action::Off {
            for w in retire::dom0_offline_warnings() {
                retire_log(Level::Warning, w);
            }
        }
        // Switched to offline: the pages retired before are asked about
        // (and offlined again if Xen has them online), as at a start.
        if was != retire::Action::Offline && now_on == retire::Action::Offline {
            rt.r.resume(unix_now(), &mut rt.hv, &mut retire_log);
        }
        rt.r.dirty = true;
        rt.r.urgent = true;
    }

    /// After each step: xen-hptool runs killed, the state file (when due,
    /// or whenever it changed with `last`), the textfile.
    fn after(&mut self, last: bool) {
        let mono = self.started.elapsed();
        let (metrics, timeouts) = match &mut self.rt {
            Some(rt) => {
                for k in std::mem::take(&mut rt.hv.killed) {
                    retire_log(Level::Err, k);
                }
                rt.r.save_if_due(mono, last, &mut retire_log);
                sync_persist(rt);
                let mut m = rt.r.metrics();
                if let Some(p) = &rt.persist {
                    m.push_str(&p.metrics());
                }
                (m, rt.hv.timeouts)
            }
            None => (String::new(), 0),
        };
        if let Some(tf) = &self.prom {
            let mut tf = lock(tf);
            let t = Some(timeouts);
            let e = Some(self.cfg_error);
            if tf.retire != metrics || tf.hptool_timeouts != t || tf.retire_config_error != e {
                tf.retire = metrics;
                tf.hptool_timeouts = t;
                tf.retire_config_error = e;
                tf.write();
            }
        }
    }
}
