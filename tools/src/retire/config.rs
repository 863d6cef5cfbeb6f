// SPDX-License-Identifier: GPL-2.0-only

//! The configuration file (`retire.conf`): its `key = value` lines, the
//! rates (`COUNT / TIME`) they take, and the defaults a missing key keeps.

use std::fs;
use std::path::{Path, PathBuf};

/// Where the Debian packages install the configuration.
pub const DEFAULT_CONFIG: &str = "/etc/xen-mcelog/retire.conf";
/// The state file's default place (systemd `StateDirectory=xen-mcelog`).
pub const DEFAULT_STATE: &str = "/var/lib/xen-mcelog/retire.state";
/// Debian's xen-utils-common wrapper, which runs the running Xen's version.
pub const DEFAULT_HPTOOL: &str = "/usr/sbin/xen-hptool";

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
