// SPDX-License-Identifier: GPL-2.0-only

//! Runs the three binaries on the host: output formats and exit codes on
//! saved dumps and ordinary files, and the injector's refusals (which are
//! decided before /dev/xen/privcmd is opened, so no hypercall is made).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use xmc_tools::{Mce, RECORD_LEN};

mod scratch;
use scratch::Scratch;

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().expect("binary runs")
}
fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const DUMP: &str = env!("CARGO_BIN_EXE_xen-mcelog-dump");
const INJECT: &str = env!("CARGO_BIN_EXE_xmc-inject");
const TEST: &str = env!("CARGO_BIN_EXE_xmc-test");

/// A file `name` holding `bytes` in the test's scratch directory `dir`.
fn temp(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn two_records() -> Vec<u8> {
    let a = Mce {
        status: 0x9C00_0000_0000_017A,
        addr: 0x1000_0000,
        misc: 0x86,
        mcgstatus: 5,
        bank: 1,
        extcpu: 1,
        cpu: 1,
        apicid: 2,
        finished: 1,
        time: 1_764_000_000,
        ..Mce::default()
    };
    let mut b = Mce {
        addr: 0x1000_0040,
        bank: 2,
        ..a
    };
    b.mark_injected();
    [a.to_bytes(), b.to_bytes()].concat()
}

#[test]
fn dump_text_json_raw_of_a_saved_file() {
    let tmp = Scratch::new("tools");
    let bytes = two_records();
    let f = temp(&tmp, "dump", &bytes);
    let path = f.to_str().unwrap();

    let o = run(DUMP, &[path]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        "cpu=1 bank=1 status=0x9c0000000000017a addr=0x10000000 misc=0x86 mcgstatus=0x5 \
         time=1764000000 tsc=0x0 cpuid=0x0 vendor=0 apicid=2 socketid=0 mcgcap=0x0 ppin=0x0 flags=[]"
    );
    assert!(lines[1].contains("bank=2 ") && lines[1].ends_with("flags=[injected]"));

    let o = run(DUMP, &["--json", path]);
    assert!(o.status.success());
    let json = stdout(&o);
    assert_eq!(json.lines().count(), 2);
    assert!(json.lines().all(|l| l.starts_with('{') && l.ends_with('}')));
    assert!(json.contains("\"addr\":\"0x10000040\"") && json.contains("\"injected\":true"));

    let o = run(DUMP, &["--raw", path]);
    assert!(o.status.success());
    assert_eq!(o.stdout, bytes);

    let o = run(DUMP, &["--decode", path]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert_eq!(text.matches("record ").count(), 2, "{text}");
    assert!(
        text.starts_with("record 1: corrected error (CE)\n  time       2025-11-24 16:00:00 UTC")
    );
    assert!(text.contains("record 2: corrected error (CE) [injected by a write to the device]"));
    assert!(text.contains("VAL (valid), EN (error reporting enabled)"));
    assert!(text.contains("  addr       0x10000040 (machine address)"));

    let o = run(DUMP, &["-x", "--count", "1", path]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert_eq!(
        text.lines().count(),
        10,
        "one record: title, 8 rows, blank\n{text}"
    );
    assert!(text.contains("  0000: 7a 01 00 00 00 00 00 9c  86 00"));
}

#[test]
fn dump_errors_and_empty_input() {
    let tmp = Scratch::new("tools");
    let empty = temp(&tmp, "empty", &[]);
    let o = run(DUMP, &[empty.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(o.stdout.is_empty());

    let mut bytes = two_records();
    bytes.extend_from_slice(&[1, 2, 3]);
    let part = temp(&tmp, "partial", &bytes);
    let o = run(DUMP, &[part.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stdout(&o).lines().count(),
        2,
        "whole records are still printed"
    );
    assert!(stderr(&o).contains("3 trailing bytes"));

    let o = run(DUMP, &["/nonexistent/xen_mcelog"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("No such file or directory"),
        "{}",
        stderr(&o)
    );

    // No device: the module is not loaded, and the message says how to load it.
    if !std::path::Path::new("/sys/module/xen_mcelog").exists() {
        let o = run(DUMP, &[]);
        assert_eq!(o.status.code(), Some(3));
        assert!(
            stderr(&o).contains("/dev/xen_mcelog: No such file or directory")
                && stderr(&o).contains("the xen_mcelog module is not loaded")
                && stderr(&o).contains("modprobe xen_mcelog"),
            "{}",
            stderr(&o)
        );
        let o = run(DUMP, &["--debugfs"]);
        assert_eq!(o.status.code(), Some(3));
        let e = stderr(&o);
        assert!(
            e.contains("/sys/kernel/debug/xen_mcelog/xen")
                && (e.contains("modprobe xen_mcelog") || e.contains("mount -t debugfs")),
            "{e}"
        );
    }
    // Permission denied: root is needed (only testable as root, dropping to nobody).
    if is_root() {
        let f = temp(&tmp, "eacces", &two_records());
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let o = run(
            TEST,
            &["as-user", "65534", "65534", "--", DUMP, f.to_str().unwrap()],
        );
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("Permission denied") && stderr(&o).contains("needs root"),
            "{}",
            stderr(&o)
        );
    }

    // --follow needs a pollable device; on /dev/null (always readable, always
    // empty, no mcelog ioctls) --count is never reached: exit 4 at --timeout.
    let o = run(DUMP, &["--follow", part.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("character device"), "{}", stderr(&o));
    let o = run(
        DUMP,
        &["--follow", "--count", "1", "--timeout", "1", "/dev/null"],
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
    assert_eq!(run(DUMP, &["--follow", "--debugfs"]).status.code(), Some(2));
    assert_eq!(run(DUMP, &["--timeout", "1"]).status.code(), Some(2));
    assert_eq!(run(DUMP, &["--debugfs", "x"]).status.code(), Some(2));
    assert_eq!(
        run(DUMP, &["--xen-view", "x", "--debugfs"]).status.code(),
        Some(2)
    );
    assert_eq!(run(DUMP, &["--xen-view", "x", "y"]).status.code(), Some(2));
    assert_eq!(
        run(DUMP, &["--follow", "--xen-view", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(run(DUMP, &["-d", "-j"]).status.code(), Some(2));
    assert_eq!(run(DUMP, &["--count", "x"]).status.code(), Some(2));

    assert_eq!(run(DUMP, &["--json", "--raw"]).status.code(), Some(2));
    assert_eq!(run(DUMP, &["--bogus"]).status.code(), Some(2));
    assert_eq!(run(DUMP, &["a", "b"]).status.code(), Some(2));
    assert!(run(DUMP, &["--help"]).status.success());
}

#[test]
fn inject_refuses_before_any_hypercall() {
    let refused = |args: &[&str], why: &str| {
        let o = run(INJECT, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(why), "{args:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?} printed {}", stdout(&o));
    };
    refused(
        &["srao", "--cpu", "0", "--bank", "1", "--addr", "0x1000"],
        "--force",
    );
    refused(
        &[
            "msr",
            "--cpu",
            "0",
            "--interpose",
            "1",
            "0x9c00000000000000",
            "0x1000",
        ],
        "--force",
    );
    refused(&["msr", "--cpu", "0", "1", "0xbf2000008000017a"], "PCC");
    refused(
        &[
            "srao",
            "--cpu",
            "0",
            "--bank",
            "1",
            "--addr",
            "0x10000000",
            "--status",
            "0xbd80000000000000",
        ],
        "AR",
    );
    refused(
        &[
            "corrected",
            "--cpu",
            "0",
            "--bank",
            "1",
            "--addr",
            "0x10000000",
            "--status",
            "0xbd000000000000c0",
        ],
        "UC=0",
    );
    refused(
        &[
            "ucna",
            "--cpu",
            "0",
            "--bank",
            "1",
            "--addr",
            "0x10000000",
            "--mce",
        ],
        "poller",
    );
    refused(
        &["corrected", "--bank", "1", "--addr", "0x10000000"],
        "--cpu is required",
    );
    refused(
        &[
            "corrected",
            "--cpu",
            "0",
            "--bank",
            "40",
            "--addr",
            "0x10000000",
        ],
        "bank 40",
    );
    refused(&["msr", "--cpu", "0", "1"], "missing STATUS");
    refused(&["fatal", "--cpu", "0"], "unknown subcommand");
    refused(&[], "missing subcommand");
    assert!(run(INJECT, &["--help"]).status.success());
}

#[test]
fn test_helper_on_ordinary_files() {
    let tmp = Scratch::new("tools");
    let o = run(TEST, &["ioctls", "/dev/null"]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "record_len=err:25 log_len=err:25 flags=err:25\n"
    );

    let o = run(TEST, &["ioctl", "/dev/null", "80044D01"]);
    assert_eq!(stdout(&o), "ret=-1 errno=25 value=0\n");

    let recs = temp(&tmp, "recs", &two_records());
    let o = run(TEST, &["read", recs.to_str().unwrap(), "4096"]);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("ret={} errno=0 records=2\n", 2 * RECORD_LEN)),
        "{out}"
    );
    assert!(out.contains("rec status=0x9c0000000000017a addr=0x10000040 misc=0x86 bank=2 "));
    assert!(out.contains(" finished=1 inject_flags=1\n"));

    assert_eq!(
        stdout(&run(TEST, &["read", "/dev/null", "128"])),
        "ret=0 errno=0\n"
    );
    assert_eq!(
        stdout(&run(TEST, &["write", "/dev/null", "3"])),
        "ret=384 errno=0\n"
    );
    assert_eq!(
        stdout(&run(TEST, &["write", "/dev/null", "3", "--partial"])),
        "ret=100 errno=0\n"
    );
    assert_eq!(
        stdout(&run(TEST, &["open", "/dev/null", "excl", "rdwr"])),
        "open=ok\n"
    );

    // The operation ran (exit 0) even though the open failed...
    let o = run(TEST, &["open", "/nonexistent"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "open=err:2\n");
    // ...but here the open is only the set-up (exit 1).
    let o = run(TEST, &["read", "/nonexistent", "128"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "open=err:2\n");

    let o = run(TEST, &["poll", "/dev/null", "10"]);
    assert!(stdout(&o).starts_with("revents=0x"), "{}", stdout(&o));
    let o = run(TEST, &["collect", "/dev/null", "1", "1"]);
    assert!(stdout(&o).ends_with("collected=0\n"), "{}", stdout(&o));
    assert_eq!(run(TEST, &["frob"]).status.code(), Some(2));
    assert_eq!(run(TEST, &["read", "/dev/null"]).status.code(), Some(2));
    assert!(run(TEST, &["--help"]).status.success());
}

#[test]
fn as_user_execs_the_command() {
    let o = run(TEST, &["as-user", "0", "0", "--", "sh", "-c", "echo hi"]);
    if is_root() {
        assert_eq!(stdout(&o), "hi\n");
    }
    assert_eq!(run(TEST, &["as-user", "0"]).status.code(), Some(2));
    assert_eq!(
        run(TEST, &["as-user", "0", "0", "--"]).status.code(),
        Some(2)
    );
}

/// Whether the tests run as root (as-user can only switch to uid 0 then).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Two records as the module served them in the sandbox (Xen 4.20, stock
/// 7.2.13 dom0, Skylake-Client vCPU), captured with `xen-mcelog-dump --hex`
/// in the tools-dump case: a corrected error (bank 6) and an SRAO (bank 7).
const RECORDED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/sandbox-corrected-srao.bin"
);

#[test]
fn dump_decodes_a_recorded_dump() {
    let o = run(DUMP, &["--decode", RECORDED]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let blocks: Vec<&str> = text
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    assert_eq!(blocks.len(), 2, "{text}");
    let ce = blocks[0];
    for want in [
        "record 1: corrected error (CE)\n",
        "  time       2026-11-25 15:32:25 UTC (1795620745)\n",
        "  cpu        0 (Xen physical CPU)  socket 0  apic 0\n",
        "  bank       6\n",
        "  status     0x9c0000000000017a\n",
        "             VAL (valid), EN (error reporting enabled), MISCV (MISC valid), ADDRV (ADDR valid)\n",
        "MCA code 0x017a: cache hierarchy error, generic eviction L2",
        "  addr       0x11050000 (machine address)\n",
        "  misc       0x86\n",
        "  mcgstatus  0x5 RIPV MCIP\n",
        "  mcgcap     0x100010a (10 banks CTL_P SER_P)\n",
        "vendor Intel (0), cpuid 0x506e3: family 0x6 model 0x5e stepping 3\n",
    ] {
        assert!(ce.contains(want), "missing {want:?} in\n{ce}");
    }
    let srao = blocks[1];
    for want in [
        "record 2: uncorrected, software recoverable, action optional (SRAO)\n",
        "  bank       7\n",
        "VAL (valid), UC (uncorrected), EN (error reporting enabled), MISCV (MISC valid), \
         ADDRV (ADDR valid), S (signalled by #MC)\n",
        "MCA code 0x00c0: memory controller error, memory scrubbing, channel 0",
        "  addr       0x11060000 (machine address)\n",
    ] {
        assert!(srao.contains(want), "missing {want:?} in\n{srao}");
    }
    assert!(!srao.contains("corrected-error count"));

    let o = run(DUMP, &["--json", RECORDED]);
    assert!(o.status.success());
    let json = stdout(&o);
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with(
        "{\"cpu\":0,\"extcpu\":0,\"bank\":6,\"status\":\"0x9c0000000000017a\",\
         \"addr\":\"0x11050000\",\"misc\":\"0x86\",\"mcgstatus\":\"0x5\","
    ));
    assert!(lines[0].contains(
        "\"injected\":false,\"class\":\"corrected\",\
         \"status_bits\":[\"VAL\",\"EN\",\"MISCV\",\"ADDRV\"],\
         \"time_utc\":\"2026-11-25T15:32:25Z\",\"severity\":\"corrected\","
    ));
    assert!(lines[1].contains("\"severity\":\"uncorrected-recoverable\""));
    assert!(lines[1].contains("\"bank\":7,\"status\":\"0xbd000000000000c0\""));
    assert!(lines[1].contains(
        "\"class\":\"SRAO\",\"status_bits\":[\"VAL\",\"UC\",\"EN\",\"MISCV\",\"ADDRV\",\"S\"]"
    ));

    // --hex reproduces the bytes; --raw returns them unchanged.
    let o = run(DUMP, &["--hex", RECORDED]);
    assert!(stdout(&o).contains("  0000: c0 00 00 00 00 00 00 bd  86 00"));
    let o = run(DUMP, &["--raw", RECORDED]);
    assert_eq!(o.stdout, std::fs::read(RECORDED).unwrap());
}

#[test]
fn dump_retire_refuses_bad_use_and_bad_configs() {
    let tmp = Scratch::new("tools");
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/retire/retire.conf");
    // The shipped configuration parses, and is off.
    let cfg = xmc_tools::retire::Config::load(std::path::Path::new(shipped)).unwrap();
    assert_eq!(cfg.action, xmc_tools::retire::Action::Off);
    assert_eq!(cfg, xmc_tools::retire::Config::default());
    // Only with --follow on the device.
    let o = run(DUMP, &["--retire", shipped, "/dev/null"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--retire needs --follow"));
    // A typo names the line; page retirement is then off and the records
    // still flow (an optional feature never stops them): /dev/null is
    // followed until --timeout.
    let bad = temp(
        &tmp,
        "retire-bad.conf",
        b"action = dry-run\nmemory-ce-treshold = 3 / 1h\n",
    );
    let follow = |conf: &str| {
        run(
            DUMP,
            &[
                "--follow",
                "--count",
                "1",
                "--timeout",
                "1",
                "--retire",
                conf,
                "/dev/null",
            ],
        )
    };
    let o = follow(bad.to_str().unwrap());
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("line 2: unknown key `memory-ce-treshold`")
            && stderr(&o).contains("page retirement is off"),
        "{}",
        stderr(&o)
    );
    let one = temp(&tmp, "retire-one.conf", b"memory-ce-threshold = 1 / 24h\n");
    let o = follow(one.to_str().unwrap());
    assert!(
        stderr(&o).contains("never act on a single error"),
        "{}",
        stderr(&o)
    );
    let o = follow("/nonexistent/retire.conf");
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("/nonexistent/retire.conf: No such file"));
    // --hptool-timeout is at least a second.
    let o = run(
        DUMP,
        &[
            "--follow",
            "--hptool-timeout",
            "0",
            "--retire",
            shipped,
            "/dev/null",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
