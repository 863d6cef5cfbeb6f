// SPDX-License-Identifier: GPL-2.0-only

//! Xen's side: what Xen did with an offline request ([`Outcome`]), the
//! page offlining the policy asks of Xen ([`Hypervisor`]), and its real
//! implementation ([`HpTool`]): Xen's page-offline sysctl, and Xen's own
//! tool `xen-hptool` run with a timeout, its output read as Xen meant it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::xenpage::{
    self, XenPages, PG_OFFLINE_STATUS_BROKEN, PG_OFFLINE_STATUS_OFFLINED,
    PG_OFFLINE_STATUS_OFFLINE_PENDING,
};

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

/// Xen's own tool, `xen-hptool` (Debian: xen-utils), the page-offline
/// sysctl it makes, made directly ([`xenpage::Sysctl`]), and xen_mcelog's
/// page-owner probe ([`xenpage::OwnerDevice`]), which ask who owns a page
/// before anything else.
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
    /// `XMC_PAGE_OWNER` through /dev/xen_mcelog.
    pub owner: xenpage::OwnerDevice,
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
            owner: xenpage::OwnerDevice::new(Path::new(crate::sys::DEFAULT_DEVICE)),
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

    fn guests(&mut self) -> Result<Vec<u16>, String> {
        self.sysctl.guests()
    }

    fn owner_is(&mut self, mfn: u64, domid: u16) -> Result<xenpage::Answer, xenpage::NotAsked> {
        self.owner.ask(mfn, domid)
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
