// SPDX-License-Identifier: GPL-2.0-only

//! The man pages and bash completions generated from the clap definitions
//! (what examples/xmc-gen-docs.rs writes for the Debian package): every
//! option is in them, and the pages format without groff warnings.

use std::io::Write;
use std::process::{Command, Stdio};

use xmc_tools::cli::{command, dump, generated, inject};

/// Every long option of `cmd` and its subcommands (`--help` aside).
fn longs(cmd: &clap::Command) -> Vec<String> {
    let mut v: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| *l != "help")
        .map(|l| format!("--{l}"))
        .collect();
    for s in cmd.get_subcommands() {
        v.extend(longs(s));
    }
    v.sort();
    v.dedup();
    v
}

fn file(files: &[(String, Vec<u8>)], name: &str) -> String {
    let (_, b) = files
        .iter()
        .find(|(p, _)| p == name)
        .unwrap_or_else(|| panic!("{name} not generated"));
    String::from_utf8(b.clone()).unwrap()
}

#[test]
fn man_pages_and_completions_have_every_option() {
    let files = generated("9.9.9", "2026-12-01").unwrap();
    assert_eq!(files.len(), 4);
    for (name, cmd, subs) in [
        ("xen-mcelog-dump", command::<dump::Cli>(), &[][..]),
        (
            "xmc-inject",
            command::<inject::Cli>(),
            &["msr", "mce", "corrected", "srao", "ucna"][..],
        ),
    ] {
        let opts = longs(&cmd);
        assert!(opts.len() >= 7, "{name}: {opts:?}");
        let man = file(&files, &format!("{name}.8"));
        let upper = name.to_uppercase();
        assert!(
            man.contains(&format!(".TH {upper} 8 2026-12-01 \"xen_mcelog 9.9.9\"")),
            "{man}"
        );
        for sec in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "EXIT STATUS",
            "SEE ALSO",
        ] {
            let sh = [format!(".SH {sec}\n"), format!(".SH \"{sec}\"\n")];
            assert!(sh.iter().any(|h| man.contains(h)), "{name}.8: no {sec}");
        }
        let completion = file(&files, &format!("completions/{name}"));
        assert!(
            completion.contains(&format!("complete -F _{name} ")),
            "{completion}"
        );
        for o in &opts {
            // roff escapes the dashes.
            assert!(man.contains(&o.replace('-', "\\-")), "{name}.8 lacks {o}");
            assert!(
                completion.contains(o.as_str()),
                "{name}'s completion lacks {o}"
            );
        }
        for s in subs {
            assert!(man.contains(s) && completion.contains(s), "{name}: {s}");
        }
    }
    // The short options too.
    let man = file(&files, "xen-mcelog-dump.8");
    for s in ["\\-d", "\\-j", "\\-x", "\\-f", "\\-h"] {
        assert!(man.contains(s), "xen-mcelog-dump.8 lacks {s}");
    }
}

/// groff formats the pages without a warning (lintian's
/// manpage-has-errors-from-man), where groff is installed.
#[test]
fn man_pages_format_cleanly() {
    if !std::path::Path::new("/usr/bin/groff").exists() {
        eprintln!("no groff: not checked");
        return;
    }
    for (path, bytes) in generated("9.9.9", "2026-12-01").unwrap() {
        if !path.ends_with(".8") {
            continue;
        }
        let mut child = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{path}");
        assert_eq!(String::from_utf8_lossy(&o.stderr), "", "{path}");
    }
}
