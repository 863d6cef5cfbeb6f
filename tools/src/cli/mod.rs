// SPDX-License-Identifier: GPL-2.0-only

//! The command lines of xen-mcelog-dump ([`dump`]) and xmc-inject
//! ([`inject`]), in clap. One definition each gives the parser and `--help`
//! ([`command`], [`parse`]: the same for both tools, each stating only its
//! [`Tool`] sections), the man page (clap_mangen: [`man_page`]) and the bash
//! completion (clap_complete: [`bash_completion`]); `examples/xmc-gen-docs.rs`
//! writes the last two for debian/rules, and `tests/docs.rs` checks them.
//!
//! The prose is in the definitions (`long_about`, each option's
//! `long_help`, and the closing [`Section`]s such as EXIT STATUS), so that
//! `--help` and the man page say the same. `-h` and `--help` both print the
//! whole text, as the hand-written help did.
//!
//! A usage error is one line on stderr, `PROG: WHAT (see PROG --help)`,
//! and exit 2 ([`Usage::exit`]), as before clap.

pub mod dump;
pub mod inject;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches};
use clap_mangen::roff::{bold, roman, Roff};

/// A tool's command line: its clap definition (`Cli`, derived) and the
/// closing sections of its `--help` and man page, which clap does not hold.
/// [`command`] and [`parse`] do the rest, the same for each tool.
pub trait Tool: CommandFactory + FromArgMatches {
    /// EXIT STATUS, EXAMPLES, SEE ALSO...
    const SECTIONS: &'static [Section];
}

/// The clap command of `T`: the parser, and the source of `--help`, the
/// man page and the completion ([`wrapped`], then `T`'s sections after the
/// options).
pub fn command<T: Tool>() -> clap::Command {
    wrapped(T::command()).after_long_help(after_help(T::SECTIONS))
}

/// Parses `argv` (with the program name first) into `T`.
pub fn parse<T: Tool>(
    argv: impl IntoIterator<Item = impl Into<OsString> + Clone>,
) -> Result<T, Usage> {
    let m = command::<T>().try_get_matches_from(argv)?;
    Ok(T::from_arg_matches(&m)?)
}

/// What a command line asked for instead of a run.
#[derive(Debug, PartialEq, Eq)]
pub enum Usage {
    /// `-h`, `--help` (or xmc-inject's `help`): the text, for stdout; exit 0.
    Help(String),
    /// A usage error: what is wrong, one line; exit 2.
    Error(String),
}

impl Usage {
    /// Prints the help or the error of `prog` and gives the exit code.
    pub fn exit(self, prog: &str) -> ExitCode {
        match self {
            Usage::Help(h) => {
                let mut out = std::io::stdout().lock();
                // `--help | head`: not an error.
                let _ = out.write_all(h.as_bytes()).and_then(|()| out.flush());
                ExitCode::SUCCESS
            }
            Usage::Error(m) => {
                eprintln!("{prog}: {m} (see {prog} --help)");
                ExitCode::from(2)
            }
        }
    }
}

impl From<String> for Usage {
    fn from(m: String) -> Usage {
        Usage::Error(m)
    }
}

impl From<clap::Error> for Usage {
    fn from(e: clap::Error) -> Usage {
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Usage::Help(e.to_string()),
            _ => Usage::Error(message(&e)),
        }
    }
}

/// clap's error as one line, in the words the tools used before clap
/// where scripts or tests may look for them (`--cpu is required`,
/// `missing STATUS`, `missing subcommand`, `unknown subcommand NAME`).
fn message(e: &clap::Error) -> String {
    let strings = |k| match e.get(k) {
        Some(ContextValue::Strings(v)) => v.clone(),
        Some(ContextValue::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    match e.kind() {
        ErrorKind::MissingRequiredArgument => {
            let what: Vec<String> = strings(ContextKind::InvalidArg)
                .iter()
                .map(|a| match a.split_once(' ') {
                    // An option, `--cpu <N>`.
                    Some((opt, _)) if opt.starts_with('-') => format!("{opt} is required"),
                    // A positional, `<STATUS>`.
                    _ => format!("missing {}", a.trim_matches(|c| c == '<' || c == '>')),
                })
                .collect();
            if what.is_empty() {
                first_line(e)
            } else {
                what.join(", ")
            }
        }
        ErrorKind::MissingSubcommand => "missing subcommand".into(),
        ErrorKind::InvalidSubcommand => match strings(ContextKind::InvalidSubcommand).first() {
            Some(s) => format!("unknown subcommand {s}"),
            None => first_line(e),
        },
        _ => first_line(e),
    }
}

/// The first line of clap's message, without its `error: `.
fn first_line(e: &clap::Error) -> String {
    let s = e.to_string();
    let l = s.lines().next().unwrap_or_default();
    l.strip_prefix("error: ").unwrap_or(l).to_string()
}

/// Breaks `text` into lines of at most `width` columns, at spaces (a
/// longer word stays whole); its own line breaks stay.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let mut col = 0;
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            let n = word.chars().count();
            if col > 0 && col + 1 + n > width {
                out.push('\n');
                col = 0;
            } else if col > 0 {
                out.push(' ');
                col += 1;
            }
            out.push_str(word);
            col += n;
        }
    }
    out
}

/// `cmd` with its long texts wrapped for an 80-column terminal: clap
/// without its wrap_help feature (terminal_size, and more for the static
/// binaries) prints them as they are. The man page fills them again.
pub fn wrapped(mut cmd: clap::Command) -> clap::Command {
    if let Some(a) = cmd.get_long_about().map(|a| wrap(&a.to_string(), 79)) {
        cmd = cmd.long_about(a);
    }
    // Options' texts start on their own line, indented by 10.
    cmd = cmd.mut_args(
        |a| match a.get_long_help().map(|h| wrap(&h.to_string(), 69)) {
            Some(h) => a.long_help(h),
            None => a,
        },
    );
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for s in subs {
        cmd = cmd.mut_subcommand(s, wrapped);
    }
    cmd
}

/// A closing section of the help and the man page (EXIT STATUS,
/// EXAMPLES...): items of a term and its text, or (an empty term) a
/// paragraph.
pub struct Section {
    /// The heading, in capitals as in a man page.
    pub title: &'static str,
    /// (term, text); lines of the text are joined in the man page.
    pub items: &'static [(&'static str, &'static str)],
}

/// The sections as `--help` shows them after the options.
pub fn after_help(sections: &[Section]) -> String {
    let mut s = String::new();
    for sec in sections {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(sec.title);
        s.push_str(":\n");
        for (term, text) in sec.items {
            let (indent, width) = if term.is_empty() {
                ("  ", 77)
            } else {
                s.push_str(&format!("  {term}\n"));
                ("          ", 69)
            };
            for l in wrap(text, width).lines() {
                s.push_str(indent);
                s.push_str(l);
                s.push('\n');
            }
        }
    }
    s
}

/// The man page of `cmd` (section 8): clap_mangen's title, NAME,
/// DESCRIPTION and OPTIONS (each option's long help), the SYNOPSIS from
/// `synopsis` (the command's `override_usage`: the forms `--help` shows),
/// then the [`Section`]s (clap_mangen would put them all under one "EXTRA").
pub fn man_page(
    cmd: clap::Command,
    synopsis: &str,
    sections: &[Section],
    version: &str,
    date: &str,
) -> std::io::Result<Vec<u8>> {
    let name = cmd.get_name().to_string();
    let man = clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .section("8")
        .date(date)
        .source(format!("xen_mcelog {version}"))
        .manual("System Administration");
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    let mut r = Roff::default();
    r.control("SH", ["SYNOPSIS"]);
    // A form per line; an indented line continues the one before.
    for (i, l) in synopsis.lines().enumerate() {
        let l = l.trim();
        match l.strip_prefix(name.as_str()) {
            Some(rest) => {
                if i > 0 {
                    r.control("br", []);
                }
                r.text([bold(name.as_str()), roman(rest)])
            }
            None => r.text([roman(l)]),
        };
    }
    r.to_writer(&mut w)?;
    man.render_description_section(&mut w)?;
    man.render_options_section(&mut w)?;
    let mut r = Roff::default();
    subcommands(&mut r, &cmd);
    for sec in sections {
        r.control("SH", [sec.title]);
        for (term, text) in sec.items {
            if term.is_empty() {
                r.control("PP", []);
            } else {
                r.control("TP", []);
                r.text([bold(*term)]);
            }
            r.text([roman(*text)]);
        }
    }
    r.to_writer(&mut w)?;
    // Each part rendered on its own starts with roff's definition of the
    // apostrophe string: once is enough.
    let text = String::from_utf8(w).expect("roff is UTF-8");
    let (head, rest) = text.split_at(text.find(APOSTROPHE).map_or(0, |i| i + APOSTROPHE.len()));
    Ok([head, &rest.replace(APOSTROPHE, "")].concat().into_bytes())
}

/// COMMANDS: each subcommand (not `help`) with its long about and its
/// arguments (clap_mangen would point to a page of its own for each).
fn subcommands(r: &mut Roff, cmd: &clap::Command) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    if subs.is_empty() {
        return;
    }
    r.control("SH", ["COMMANDS"]);
    for s in subs {
        r.control("TP", []);
        r.text([bold(s.get_name())]);
        if let Some(a) = s.get_long_about().or_else(|| s.get_about()) {
            r.text([roman(a.to_string())]);
        }
        r.control("RS", []);
        for a in s.get_arguments().filter(|a| a.get_id() != "help") {
            let value = match a.get_value_names() {
                Some(v) if a.get_action().takes_values() => v.join(" "),
                _ => String::new(),
            };
            let term = match a.get_long() {
                Some(l) if value.is_empty() => format!("--{l}"),
                Some(l) => format!("--{l} {value}"),
                None => value,
            };
            r.control("TP", []);
            r.text([bold(term)]);
            if let Some(h) = a.get_long_help().or_else(|| a.get_help()) {
                r.text([roman(h.to_string())]);
            }
        }
        r.control("RE", []);
    }
}

/// The preamble roff puts before each rendered part.
const APOSTROPHE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// The files generated from the definitions, by path under the output
/// directory: the two man pages and the two bash completions (named after
/// the commands, as bash-completion looks them up).
pub fn generated(version: &str, date: &str) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    Ok(vec![
        (
            "xen-mcelog-dump.8".into(),
            man_page(
                command::<dump::Cli>(),
                dump::SYNOPSIS,
                dump::SECTIONS,
                version,
                date,
            )?,
        ),
        (
            "xmc-inject.8".into(),
            man_page(
                command::<inject::Cli>(),
                inject::SYNOPSIS,
                inject::SECTIONS,
                version,
                date,
            )?,
        ),
        (
            "completions/xen-mcelog-dump".into(),
            bash_completion(command::<dump::Cli>()),
        ),
        (
            "completions/xmc-inject".into(),
            bash_completion(command::<inject::Cli>()),
        ),
    ])
}

/// The bash completion of `cmd` (clap_complete).
pub fn bash_completion(mut cmd: clap::Command) -> Vec<u8> {
    let name = cmd.get_name().to_string();
    let mut w = Vec::new();
    clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, name, &mut w);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_keeps_lines() {
        assert_eq!(wrap("aa bb  cc\ndd", 5), "aa bb\ncc\ndd");
        assert_eq!(wrap("abcdefgh ij", 4), "abcdefgh\nij");
        assert_eq!(wrap("", 4), "");
    }

    #[test]
    fn after_help_lays_out_terms_and_paragraphs() {
        let s = after_help(&[
            Section {
                title: "EXIT STATUS",
                items: &[("0", "fine\nreally"), ("2", "usage")],
            },
            Section {
                title: "SEE ALSO",
                items: &[("", "mcelog(8)")],
            },
        ]);
        assert_eq!(
            s,
            "EXIT STATUS:\n  0\n          fine\n          really\n  2\n          usage\n\n\
             SEE ALSO:\n  mcelog(8)\n"
        );
    }
}
