// SPDX-License-Identifier: GPL-2.0-only

//! `xen-mcelog-dump --follow` as xen-mcelog-json.service runs it, on the
//! host: the device is a pseudo-terminal in raw mode with VMIN = VTIME = 0
//! (a character device that polls readable when bytes are queued and reads
//! 0 when empty, as /dev/xen_mcelog does; no Xen side, so the records are
//! not counted by page retirement), records are written into its master
//! side, and xen-hptool is a shell script. What it shows: an optional
//! output (the textfile, page retirement's configuration) never stops the
//! records; a hung xen-hptool is killed at its timeout while the records
//! keep flowing; SIGHUP reads the configuration again; systemd hears
//! READY=1, WATCHDOG=1 and STOPPING=1 (Type=notify, WatchdogSec=).
//!
//! Why one file of about 800 lines: its seven tests each run the service as a
//! whole around the same pseudo-terminal device and `Tool` harness (the first
//! 180 lines); one test binary is one service under test.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use xmc_tools::Mce;

mod scratch;
use scratch::Scratch;

const DUMP: &str = env!("CARGO_BIN_EXE_xen-mcelog-dump");

/// A pseudo-terminal: the master (written to) and the slave (kept open so
/// the line settings stay), and the slave's path for the tool.
struct Pty {
    master: File,
    _slave: File,
    path: String,
}

fn pty() -> Pty {
    // SAFETY: plain libc calls on descriptors this function owns; the
    // termios struct is fully written by tcgetattr before use.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(m >= 0, "posix_openpt");
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        let s = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(s >= 0, "open {path}");
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(s, &mut t), 0);
        libc::cfmakeraw(&mut t);
        t.c_cc[libc::VMIN] = 0;
        t.c_cc[libc::VTIME] = 0;
        assert_eq!(libc::tcsetattr(s, libc::TCSANOW, &t), 0);
        Pty {
            master: File::from_raw_fd(m),
            _slave: File::from_raw_fd(s),
            path,
        }
    }
}

/// A corrected memory error at `addr`, 128 bytes.
fn record(addr: u64) -> Vec<u8> {
    Mce {
        status: 0x9C00_0000_0000_009F,
        addr,
        misc: 0x86,
        bank: 2,
        finished: 1,
        time: 1_764_000_000,
        ..Mce::default()
    }
    .to_bytes()
    .to_vec()
}

/// The tool, running: stdout and stderr into files of `dir`.
struct Tool {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Tool {
    fn start(dir: &Path, args: &[&str]) -> Tool {
        Tool::start_env(dir, args, false)
    }
    /// With `journal`, as under systemd: lines with syslog priorities.
    fn start_env(dir: &Path, args: &[&str], journal: bool) -> Tool {
        let out = dir.join("stdout");
        let err = dir.join("stderr");
        let mut cmd = Command::new(DUMP);
        if journal {
            cmd.env("JOURNAL_STREAM", "8:1234");
        } else {
            cmd.env_remove("JOURNAL_STREAM");
        }
        cmd.args(args);
        Tool::spawn(cmd, out, err)
    }
    /// Runs `cmd` with stdout and stderr into `out` and `err`; never with
    /// the notification socket of a service manager running the tests.
    fn spawn(mut cmd: Command, out: PathBuf, err: PathBuf) -> Tool {
        for v in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
            if !cmd.get_envs().any(|(k, _)| k == v) {
                cmd.env_remove(v);
            }
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .expect("xen-mcelog-dump runs");
        Tool { child, out, err }
    }
    fn stdout(&self) -> String {
        fs::read_to_string(&self.out).unwrap_or_default()
    }
    fn stderr(&self) -> String {
        fs::read_to_string(&self.err).unwrap_or_default()
    }
    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own, not yet reaped child.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
    /// Waits up to `secs` for `cond`; panics with the tool's output if not.
    fn wait_for(&mut self, secs: u64, what: &str, cond: impl Fn(&Tool) -> bool) {
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            if cond(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = self.child.try_wait().unwrap();
        panic!(
            "{what}: not within {secs} s (exit: {status:?})\n--- stdout\n{}--- stderr\n{}",
            self.stdout(),
            self.stderr()
        );
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_lines(t: &Tool) -> usize {
    t.stdout()
        .lines()
        .filter(|l| l.starts_with("{\"cpu\":"))
        .count()
}

fn file_has(p: &Path, line: &str) -> bool {
    fs::read_to_string(p).is_ok_and(|s| s.lines().any(|l| l == line))
}

#[test]
fn textfile_that_cannot_be_written_does_not_stop_the_records() {
    let mut pty = pty();
    let dir = Scratch::new("svc-prom");
    // node_exporter not installed: its directory does not exist.
    let prom = dir.join("node-exporter/xen_mcelog.prom");
    let mut t = Tool::start_env(
        &dir,
        &[
            "--follow",
            "--json",
            "--prometheus",
            prom.to_str().unwrap(),
            &pty.path,
        ],
        true,
    );
    pty.master.write_all(&record(0x1000_0000)).unwrap();
    t.wait_for(10, "the record printed", |t| json_lines(t) == 1);
    assert!(t.alive());
    let e = t.stderr();
    assert_eq!(
        e.matches("cannot write the textfile").count(),
        1,
        "logged once:\n{e}"
    );
    assert!(
        e.contains(&format!("<3>--prometheus {}: cannot write", prom.display())),
        "{e}"
    );
    // Installed later: the next batch writes it, with the failures counted.
    fs::create_dir_all(prom.parent().unwrap()).unwrap();
    pty.master.write_all(&record(0x1000_0040)).unwrap();
    t.wait_for(10, "the textfile written", |_| {
        file_has(
            &prom,
            "xen_mcelog_bank_records_total{severity=\"corrected\",bank=\"2\",socket=\"0\"} 2",
        )
    });
    let text = fs::read_to_string(&prom).unwrap();
    assert!(
        text.lines().any(
            |l| l.starts_with("xen_mcelog_textfile_write_failures_total ")
                && l != "xen_mcelog_textfile_write_failures_total 0"
        ),
        "{text}"
    );
    assert_eq!(json_lines(&t), 2);
    assert!(t.stderr().contains("written again"), "{}", t.stderr());
    drop(t);
}

#[test]
fn bad_retire_config_does_not_stop_the_records() {
    let mut pty = pty();
    let dir = Scratch::new("svc-conf");
    let conf = dir.join("retire.conf");
    fs::write(&conf, "action = dry-run\nmemory-ce-treshold = 3 / 1h\n").unwrap();
    let prom = dir.join("x.prom");
    let mut t = Tool::start(
        &dir,
        &[
            "--follow",
            "--json",
            "--retire",
            conf.to_str().unwrap(),
            "--prometheus",
            prom.to_str().unwrap(),
            &pty.path,
        ],
    );
    pty.master.write_all(&record(0x1000_0000)).unwrap();
    t.wait_for(10, "the record printed", |t| json_lines(t) == 1);
    assert!(t.alive());
    let e = t.stderr();
    assert!(
        e.contains("retire: --retire ")
            && e.contains("line 2: unknown key `memory-ce-treshold`")
            && e.contains("page retirement is off"),
        "{e}"
    );
    t.wait_for(10, "the textfile says so", |_| {
        file_has(&prom, "xen_mcelog_retire_config_error 1")
    });
    // A missing file too; under systemd at err (the journal's <3>).
    drop(t);
    let mut t = Tool::start_env(
        &dir,
        &[
            "--follow",
            "--json",
            "--retire",
            "/nonexistent/retire.conf",
            &pty.path,
        ],
        true,
    );
    pty.master.write_all(&record(0x1000_0040)).unwrap();
    t.wait_for(10, "the record printed", |t| json_lines(t) == 1);
    assert!(
        t.stderr()
            .contains("<3>retire: --retire /nonexistent/retire.conf: No such file"),
        "{}",
        t.stderr()
    );
    drop(t);
}

/// A state file with page 0x12345 offlined before (Xen forgets it at a
/// reboot; at start the tool asks Xen about it and offlines it again).
fn state_with_offlined_page(p: &Path) {
    fs::write(
        p,
        "xen-mcelog-retire 1\nerrors 3\noffline-at 1764000000\n\
         page 0x12345 state=offlined count=0 since=1764000000 errors=3 attempts=0 \
         changed=1764000000 owner=32756\n",
    )
    .unwrap();
}

#[test]
fn hung_hptool_is_killed_and_records_keep_flowing() {
    let mut pty = pty();
    let dir = Scratch::new("svc-hptool");
    let state = dir.join("retire.state");
    state_with_offlined_page(&state);
    // Xen says the page is online again; offlining it hangs (a guest that
    // never suspends), in a child of the script (same process group).
    // xen-hptool runs only without Xen's page-offline sysctl (no privcmd
    // device here, and never the host's) and with guest-pages = offline.
    let hp = dir.join("xen-hptool");
    fs::write(
        &hp,
        format!(
            "#!/bin/sh\ncase $1 in\nmem-status) echo 'Memory Status 0: [ ONLINE ]' ;;\n\
             mem-offline) sleep 600 & echo $! > {d}/sleep.pid; wait ;;\nesac\n",
            d = dir.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&hp, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let conf = dir.join("retire.conf");
    fs::write(
        &conf,
        format!(
            "action = offline\nguest-pages = offline\nstate-file = {}\nxen-hptool = {}\n\
             privcmd = {}\n",
            state.display(),
            hp.display(),
            dir.join("no-privcmd").display()
        ),
    )
    .unwrap();
    let prom = dir.join("x.prom");
    let mut t = Tool::start(
        &dir,
        &[
            "--follow",
            "--json",
            "--retire",
            conf.to_str().unwrap(),
            "--hptool-timeout",
            "6",
            "--prometheus",
            prom.to_str().unwrap(),
            &pty.path,
        ],
    );
    t.wait_for(10, "xen-hptool mem-offline running", |_| {
        dir.join("sleep.pid").exists()
    });
    let started = Instant::now();
    // While it hangs, records are printed.
    pty.master.write_all(&record(0x1000_0000)).unwrap();
    t.wait_for(5, "the record printed while xen-hptool hangs", |t| {
        json_lines(t) == 1
    });
    assert!(
        !t.stderr().contains("killed"),
        "printed before the timeout:\n{}",
        t.stderr()
    );
    // At the timeout: killed with its group, a failed attempt.
    t.wait_for(10, "the failed attempt logged", |t| {
        t.stderr()
            .contains("page 0x12345: offlining failed (attempt 1 of 3")
    });
    assert!(started.elapsed() >= Duration::from_secs(4));
    let e = t.stderr();
    assert!(
        e.contains("mem-offline 0x12345: no answer within 6 s: killed it (process group"),
        "{e}"
    );
    let pid: i32 = fs::read_to_string(dir.join("sleep.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let gone = || {
        fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    t.wait_for(5, "the script's child killed with its group", |_| gone());
    t.wait_for(10, "the textfile counts it", |_| {
        file_has(&prom, "xen_mcelog_retire_pages{state=\"failed\"} 1")
            && file_has(&prom, "xen_mcelog_retire_hptool_timeouts_total 1")
    });
    pty.master.write_all(&record(0x1000_0040)).unwrap();
    t.wait_for(5, "the next record printed", |t| json_lines(t) == 2);
    assert!(t.alive());
    drop(t);
}

#[test]
fn sighup_reloads_the_retire_config_and_keeps_the_counts() {
    let mut pty = pty();
    let dir = Scratch::new("svc-hup");
    let state = dir.join("retire.state");
    let conf = dir.join("retire.conf");
    let cfg = |action: &str| {
        format!(
            "action = {action}\nmemory-ce-threshold = 3 / 24h\nstate-file = {}\n\
             xen-hptool = /nonexistent/xen-hptool\nprivcmd = /nonexistent/privcmd\n",
            state.display()
        )
    };
    fs::write(&conf, cfg("off")).unwrap();
    // Counts from before: 5 errors, a page 2 of 3 on its way (its bucket
    // last drained in 2096: it does not drain during the test).
    fs::write(
        &state,
        "xen-mcelog-retire 1\nerrors 5\n\
         page 0x54321 state=counting count=2 since=4000000000 errors=2 attempts=0 \
         changed=4000000000 owner=32756\n",
    )
    .unwrap();
    let prom = dir.join("x.prom");
    let mut t = Tool::start(
        &dir,
        &[
            "--follow",
            "--json",
            "--retire",
            conf.to_str().unwrap(),
            "--prometheus",
            prom.to_str().unwrap(),
            &pty.path,
        ],
    );
    t.wait_for(10, "retirement off", |t| {
        t.stderr()
            .contains("retire: page retirement is off (action = off)")
    });
    pty.master.write_all(&record(0x1000_0000)).unwrap();
    pty.master.write_all(&record(0x1000_0040)).unwrap();
    t.wait_for(10, "two records", |t| json_lines(t) == 2);
    // systemctl reload: action off -> dry-run.
    fs::write(&conf, cfg("dry-run")).unwrap();
    t.signal(libc::SIGHUP);
    t.wait_for(10, "the new configuration in force", |t| {
        t.stderr().contains(&format!(
            "retire: reloaded {}: page retirement: action = dry-run, memory-ce-threshold = 3 / 24h",
            conf.display()
        ))
    });
    assert!(
        t.stderr().contains("1 pages known (0 offlined, 0 pending)"),
        "{}",
        t.stderr()
    );
    t.wait_for(10, "the textfile says dry-run", |_| {
        file_has(&prom, "xen_mcelog_retire_action{action=\"dry-run\"} 1")
            && file_has(&prom, "xen_mcelog_retire_errors_total 5")
            && file_has(&prom, "xen_mcelog_retire_pages{state=\"counting\"} 1")
    });
    assert!(t.alive(), "SIGHUP ended it:\n{}", t.stderr());
    // The reader was not restarted: its counters go on.
    pty.master.write_all(&record(0x1000_0080)).unwrap();
    t.wait_for(10, "the third record counted", |t| {
        json_lines(t) == 3
            && file_has(
                &prom,
                "xen_mcelog_bank_records_total{severity=\"corrected\",bank=\"2\",socket=\"0\"} 3",
            )
    });
    // A bad new configuration: the old one stays, and it says so.
    fs::write(&conf, "action = offlin\n").unwrap();
    t.signal(libc::SIGHUP);
    t.wait_for(10, "the bad configuration refused", |t| {
        t.stderr().contains("line 1: action `offlin`")
            && t.stderr().contains("the configuration in force stays")
    });
    t.wait_for(10, "the textfile says so", |_| {
        file_has(&prom, "xen_mcelog_retire_config_error 1")
            && file_has(&prom, "xen_mcelog_retire_action{action=\"dry-run\"} 1")
    });
    assert!(t.alive());
    drop(t);
    let _ = pty.master.as_raw_fd();
}

/// An executable shell script at `p`.
fn script(p: &Path, body: &str) {
    fs::write(p, format!("#!/bin/sh\n{body}")).unwrap();
    fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn persist_grub_writes_the_snippet_and_a_failing_update_grub_stops_nothing() {
    let mut pty = pty();
    let dir = Scratch::new("svc-grub");
    let state = dir.join("retire.state");
    state_with_offlined_page(&state);
    // Xen still has the page offlined (no reboot): nothing to offline.
    let hp = dir.join("xen-hptool");
    script(&hp, "echo 'Memory Status 2: [ PAGE_OFFLINED ]'\n");
    let ug = dir.join("update-grub");
    script(
        &ug,
        &format!(
            "echo run >> {}/runs\necho 'grub-probe: error: failed to get canonical path' >&2\nexit 1\n",
            dir.display()
        ),
    );
    fs::create_dir_all(dir.join("grub.d")).unwrap();
    let snip = dir.join("grub.d/zz-xen-mcelog-badpages.cfg");
    let conf = dir.join("retire.conf");
    fs::write(
        &conf,
        format!(
            "action = offline\nstate-file = {}\nxen-hptool = {}\npersist = grub\n\
             grub-snippet = {}\nupdate-grub = {}\n",
            state.display(),
            hp.display(),
            snip.display(),
            ug.display()
        ),
    )
    .unwrap();
    let prom = dir.join("x.prom");
    let mut t = Tool::start_env(
        &dir,
        &[
            "--follow",
            "--json",
            "--retire",
            conf.to_str().unwrap(),
            "--prometheus",
            prom.to_str().unwrap(),
            &pty.path,
        ],
        true,
    );
    t.wait_for(10, "the snippet written, update-grub failed", |t| {
        t.stderr().contains("<3>retire: persist = grub: ")
    });
    let text = fs::read_to_string(&snip).unwrap();
    assert!(text.contains("XEN_MCELOG_BADPAGES=\"0x12345\"\n"), "{text}");
    let e = t.stderr();
    assert!(
        e.contains(&format!(
            "<5>retire: persist = grub: wrote {}: badpage=0x12345 (1 frames), appended to \
             GRUB_CMDLINE_XEN; running {}",
            snip.display(),
            ug.display()
        )),
        "{e}"
    );
    assert!(
        e.contains(
            "update-grub failed (exit status: 1): grub-probe: error: failed to get canonical path"
        ),
        "{e}"
    );
    t.wait_for(10, "the textfile counts it", |_| {
        file_has(&prom, "xen_mcelog_retire_update_grub_failures_total 1")
            && file_has(
                &prom,
                "xen_mcelog_retire_persisted_pages{state=\"on_cmdline\"} 1",
            )
    });
    // The records flow; nothing is written or run again for them.
    pty.master.write_all(&record(0x1000_0000)).unwrap();
    pty.master.write_all(&record(0x1000_0040)).unwrap();
    t.wait_for(10, "two records", |t| json_lines(t) == 2);
    assert!(t.alive());
    assert_eq!(
        fs::read_to_string(dir.join("runs"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    assert_eq!(t.stderr().matches("<3>retire: persist = grub").count(), 1);
    drop(t);
}

/// The value of the sample `name` (no labels) in the textfile `p`.
fn sample(p: &Path, name: &str) -> Option<u64> {
    let text = fs::read_to_string(p).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
}

#[test]
fn textfile_heartbeat_stop_and_restart() {
    let mut pty = pty();
    let dir = Scratch::new("svc-live");
    let prom = dir.join("x.prom");
    let p = prom.to_str().unwrap().to_string();
    let args = [
        "--follow",
        "--json",
        "--prometheus",
        &p,
        "--heartbeat",
        "1",
        &pty.path,
    ];
    let mut t = Tool::start(&dir, &args);
    t.wait_for(10, "the reader up", |_| {
        sample(&prom, "xen_mcelog_reader_up") == Some(1)
            && sample(&prom, "xen_mcelog_last_read_timestamp_seconds").is_some_and(|v| v > 0)
    });
    let start = sample(&prom, "xen_mcelog_start_time_seconds").unwrap();
    let first = sample(&prom, "xen_mcelog_last_read_timestamp_seconds").unwrap();
    assert!(file_has(
        &prom,
        "xen_mcelog_records_total{severity=\"fatal\",boot=\"current\"} 0"
    ));
    // No record: the file is rewritten all the same, with a later read.
    t.wait_for(10, "a heartbeat", |_| {
        sample(&prom, "xen_mcelog_last_read_timestamp_seconds").is_some_and(|v| v > first)
    });
    pty.master.write_all(&record(0x1000_0000)).unwrap();
    t.wait_for(10, "the record counted", |_| {
        file_has(
            &prom,
            "xen_mcelog_records_total{severity=\"corrected\",boot=\"current\"} 1",
        )
    });
    // systemctl stop: SIGTERM; the textfile says the reader is down.
    t.signal(libc::SIGTERM);
    let status = t.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", t.stderr());
    assert_eq!(sample(&prom, "xen_mcelog_reader_up"), Some(0));
    assert!(t.stderr().contains("stopped by a signal"), "{}", t.stderr());
    // Started again: the counters go on from the file.
    let mut t = Tool::start(&dir, &args);
    t.wait_for(10, "the reader up again", |_| {
        sample(&prom, "xen_mcelog_reader_up") == Some(1)
    });
    assert!(sample(&prom, "xen_mcelog_start_time_seconds").unwrap() >= start);
    pty.master.write_all(&record(0x1000_0040)).unwrap();
    t.wait_for(10, "the second record counted on top", |_| {
        file_has(
            &prom,
            "xen_mcelog_records_total{severity=\"corrected\",boot=\"current\"} 2",
        ) && file_has(
            &prom,
            "xen_mcelog_bank_records_total{severity=\"corrected\",bank=\"2\",socket=\"0\"} 2",
        )
    });
    // Killed (no chance to say so): ExecStopPost's --mark-down does.
    drop(t);
    assert_eq!(sample(&prom, "xen_mcelog_reader_up"), Some(1));
    let o = Command::new(DUMP)
        .args(["--prometheus", &p, "--mark-down"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(sample(&prom, "xen_mcelog_reader_up"), Some(0));
    assert!(file_has(
        &prom,
        "xen_mcelog_records_total{severity=\"corrected\",boot=\"current\"} 2"
    ));
}

/// The messages on a notification socket until `until` (or `stop` says
/// enough), each as sent (`READY=1\n`...), with when it arrived.
fn notifications(
    sock: &UnixDatagram,
    until: Instant,
    got: &mut Vec<(Instant, String)>,
    stop: impl Fn(&[(Instant, String)]) -> bool,
) {
    let mut b = [0u8; 4096];
    while Instant::now() < until && !stop(got) {
        if let Ok(n) = sock.recv(&mut b) {
            got.push((
                Instant::now(),
                String::from_utf8_lossy(&b[..n]).into_owned(),
            ));
        }
    }
}

#[test]
fn systemd_notify_ready_watchdog_stopping() {
    // xen-mcelog-json.service is Type=notify with WatchdogSec=: the tool
    // says READY=1 once the device is open and the textfile was tried,
    // WATCHDOG=1 from the loop as it wakes up (also with no record: it
    // wakes for the watchdog, the heartbeat here being 30 s), and
    // STOPPING=1 at SIGTERM. systemd's socket is a datagram socket of the
    // test's; WATCHDOG_PID is the tool's own pid (the shell execs it), as
    // systemd sets it.
    let mut pty = pty();
    let dir = Scratch::new("svc-notify");
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let prom = dir.join("x.prom");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "WATCHDOG_PID=$$ exec \"$0\" \"$@\"", DUMP])
        .args([
            "--follow",
            "--json",
            "--prometheus",
            prom.to_str().unwrap(),
            &pty.path,
        ])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "4000000")
        .env_remove("JOURNAL_STREAM");
    let mut t = Tool::spawn(cmd, dir.join("stdout"), dir.join("stderr"));
    let mut got = Vec::new();
    let watchdogs = |g: &[(Instant, String)]| g.iter().filter(|(_, m)| m == "WATCHDOG=1\n").count();
    notifications(
        &sock,
        Instant::now() + Duration::from_secs(10),
        &mut got,
        |g| !g.is_empty(),
    );
    assert_eq!(
        got.first().map(|(_, m)| m.as_str()),
        Some("READY=1\n"),
        "{got:?}\n{}",
        t.stderr()
    );
    // Ready after the textfile's first write was tried (here: written).
    assert!(prom.exists());
    notifications(
        &sock,
        Instant::now() + Duration::from_secs(20),
        &mut got,
        |g| watchdogs(g) >= 3,
    );
    assert!(watchdogs(&got) >= 3, "{got:?}\n{}", t.stderr());
    // Fed within the interval (4 s), which is what systemd checks: the
    // loop wakes at half of it, so a late wake-up of up to 2 s on a busy
    // machine still passes, and one that would get the reader killed fails.
    let beats: Vec<Instant> = got.iter().map(|(t, _)| *t).collect();
    assert!(
        beats
            .windows(2)
            .all(|w| w[1] - w[0] < Duration::from_secs(4)),
        "{got:?}"
    );
    // A record: printed, and the watchdog still fed.
    pty.master.write_all(&record(0x1000_0000)).unwrap();
    t.wait_for(10, "the record printed", |t| json_lines(t) == 1);
    let n = watchdogs(&got);
    notifications(
        &sock,
        Instant::now() + Duration::from_secs(10),
        &mut got,
        |g| watchdogs(g) > n,
    );
    assert!(watchdogs(&got) > n, "{got:?}");
    // systemctl stop: SIGTERM, STOPPING=1, a clean exit.
    t.signal(libc::SIGTERM);
    notifications(
        &sock,
        Instant::now() + Duration::from_secs(10),
        &mut got,
        |g| g.last().is_some_and(|(_, m)| m == "STOPPING=1\n"),
    );
    assert_eq!(got.last().map(|(_, m)| m.as_str()), Some("STOPPING=1\n"));
    let status = t.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", t.stderr());
    assert!(!t.stderr().contains("cannot notify"), "{}", t.stderr());
    assert_eq!(got.iter().filter(|(_, m)| m == "READY=1\n").count(), 1);
    drop(t);
    // The watchdog is this process's only when WATCHDOG_PID says so
    // (sd_watchdog_enabled(3)): another pid's, and only READY=1 comes.
    let _ = fs::remove_file(&sock_path);
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut cmd = Command::new(DUMP);
    cmd.args(["--follow", "--json", &pty.path])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "200000")
        .env("WATCHDOG_PID", "1");
    let t = Tool::spawn(cmd, dir.join("stdout"), dir.join("stderr"));
    let mut got = Vec::new();
    notifications(
        &sock,
        Instant::now() + Duration::from_secs(3),
        &mut got,
        |_| false,
    );
    assert_eq!(
        got.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>(),
        ["READY=1\n"],
        "{}",
        t.stderr()
    );
    drop(t);
}
