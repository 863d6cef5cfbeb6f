// SPDX-License-Identifier: GPL-2.0-only

//! xmc-inject's command line: a subcommand per hypercall or preset. Numbers
//! are decimal or 0x-prefixed hex ([`parse_num`]); what may be injected is
//! decided later (`xenmc::BankError::check`, `Preset::plan`).

use std::ffi::OsString;

use clap::{ArgAction, Args, Parser, Subcommand};

use super::{Section, Tool, Usage};
use crate::args::{parse_num, to_u32};

pub const SYNOPSIS: &str = "\
xmc-inject msr --cpu N [--interpose] [--force] BANK STATUS [ADDR [MISC]] [--mcg MCG_STATUS]
       xmc-inject mce --cpu N
       xmc-inject corrected --cpu N --bank B --addr A [--misc M] [--status S] [--mce] [--force]
       xmc-inject srao --cpu N --bank B --addr A [--misc M] [--status S] [--force]
       xmc-inject ucna --cpu N --bank B --addr A [--misc M] [--status S] [--force]";

const DESCRIPTION: &str = "\
Injects machine checks into Xen through /dev/xen/privcmd (root, PV dom0): \
the mca hypercall's XEN_MC_msrinject and XEN_MC_mceinject, as Xen's own \
xen-mceinj does, so that Xen reports them to dom0 as it would a real error. \
Only on test machines: an injected uncorrected error is handled by Xen like \
a real one. Numbers are decimal or 0x-prefixed hex. CPU numbers are Xen \
physical CPUs.

Before a preset's #MC on a broadcast host, MCG_STATUS=0x5 is interposed on \
every other Xen CPU too, so that errors still waiting in their banks (Xen \
leaves corrected #MC banks for its poller) are reported again rather than \
panicking Xen. Expect such duplicates: a corrected --mce error is also \
reported by the poller a few seconds later.

Refused: PCC or AR statuses (they panic Xen or dom0), and addresses below \
0x10000000 (256 MiB) unless --force: Xen 4.20 panics on DOMID_IO pages such \
as 0x1000 and everything below 1 MiB. MMIO holes (e.g. the PCI hole below 4 \
GiB) are DOMID_IO pages too and are not detected: use an address in RAM.

Each hypercall prints `xmc-inject: <cmd> rc=<rc>`.";

pub const SECTIONS: &[Section] = &[
    Section {
        title: "EXIT STATUS",
        items: &[
            ("0", "every hypercall returned 0"),
            ("1", "a hypercall failed"),
            ("2", "usage error or refused request (nothing was injected)"),
            (
                "3",
                "/dev/xen/privcmd unusable (not a PV dom0, xen-privcmd not \
                 loaded, not root)",
            ),
        ],
    },
    Section {
        title: "EXAMPLES",
        items: &[
            (
                "",
                "A fire drill for machine-check monitoring (mcelog, log \
                 shippers):",
            ),
            ("modprobe xen-privcmd", "the hypercall device"),
            (
                "xmc-inject corrected --cpu 0 --bank 1 --addr 0x10000000",
                "Xen's poller reports it in 2-30 s",
            ),
            (
                "xen-mcelog-dump --decode --follow --count 1",
                "the record as dom0 gets it",
            ),
        ],
    },
    Section {
        title: "SEE ALSO",
        items: &[("", "xen-mcelog-dump(8), xen-mceinj(8)")],
    },
];

/// The command line as clap parses it.
#[derive(Parser, Debug)]
#[command(
    name = "xmc-inject",
    about = "inject machine checks into Xen from dom0, for testing",
    long_about = DESCRIPTION,
    override_usage = SYNOPSIS,
    disable_help_flag = true,
    args_override_self = true,
    next_line_help = true,
    subcommand_required = true,
    arg_required_else_help = false,
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
    /// This text.
    #[arg(short = 'h', long, global = true, action = ArgAction::HelpLong, long_help = "this text.")]
    pub help: Option<bool>,
}

/// What to inject.
#[derive(Subcommand, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// XEN_MC_msrinject: write a bank's MSRs; raises nothing.
    #[command(long_about = "XEN_MC_msrinject: write MCi_STATUS (and ADDR, \
MISC, MCG_STATUS when given) of BANK on CPU N; --interpose puts the values in \
Xen's interpose table (required for Intel banks). Raises nothing.")]
    Msr(Msr),
    /// XEN_MC_mceinject: #MC on CPU N.
    #[command(long_about = "XEN_MC_mceinject: #MC on CPU N (on every CPU where \
Xen broadcasts #MC: modern Intel). Interpose a valid bank status and \
MCG_STATUS=0x5 first: if no CPU sees a valid bank, or a CPU with a valid bank \
has RIPV=0 in MCG_STATUS, Xen panics.")]
    Mce {
        /// The Xen physical CPU.
        #[arg(long, value_name = "N", value_parser = cpu)]
        cpu: u32,
    },
    /// Interpose a corrected error; with --mce also raise #MC.
    #[command(long_about = "interpose a corrected error (default status \
0x9c0000000000017a, misc 0x86); Xen's poller reports it in 2-30 s. With --mce \
also MCG_STATUS=0x5 and a #MC for a record within about a second.")]
    Corrected(PresetArgs),
    /// Interpose an SRAO error and raise #MC.
    #[command(long_about = "interpose an SRAO error (status 0xbd000000000000c0, \
misc 0x86, MCG_STATUS 0x5) and raise #MC (Intel; Xen drops it on AMD).")]
    Srao(PresetArgs),
    /// Interpose a UCNA error.
    #[command(long_about = "interpose a UCNA error (status 0xbc20000080000136, \
misc 0x86); Xen's poller reports it in 2-30 s.")]
    Ucna(PresetArgs),
}

/// `msr`'s arguments.
#[derive(Args, Debug, PartialEq, Eq)]
pub struct Msr {
    /// The Xen physical CPU.
    #[arg(long, value_name = "N", value_parser = cpu)]
    pub cpu: u32,
    /// Put the values in Xen's interpose table (required for Intel banks).
    #[arg(long)]
    pub interpose: bool,
    /// Allow an address below 0x10000000 (256 MiB).
    #[arg(long)]
    pub force: bool,
    /// The bank.
    #[arg(value_name = "BANK", value_parser = parse_num)]
    pub bank: u64,
    /// MCi_STATUS.
    #[arg(value_name = "STATUS", value_parser = parse_num)]
    pub status: u64,
    /// MCi_ADDR.
    #[arg(value_name = "ADDR", value_parser = parse_num)]
    pub addr: Option<u64>,
    /// MCi_MISC.
    #[arg(value_name = "MISC", value_parser = parse_num)]
    pub misc: Option<u64>,
    /// MCG_STATUS.
    #[arg(long, value_name = "MCG_STATUS", value_parser = parse_num)]
    pub mcg: Option<u64>,
}

/// The presets' arguments.
#[derive(Args, Debug, PartialEq, Eq)]
pub struct PresetArgs {
    /// The Xen physical CPU.
    #[arg(long, value_name = "N", value_parser = cpu)]
    pub cpu: u32,
    /// The bank.
    #[arg(long, value_name = "B", value_parser = parse_num)]
    pub bank: u64,
    /// MCi_ADDR, a machine address in RAM.
    #[arg(long, value_name = "A", value_parser = parse_num)]
    pub addr: u64,
    /// MCi_MISC instead of the preset's.
    #[arg(long, value_name = "M", value_parser = parse_num)]
    pub misc: Option<u64>,
    /// MCi_STATUS instead of the preset's.
    #[arg(long, value_name = "S", value_parser = parse_num)]
    pub status: Option<u64>,
    /// Also raise #MC (corrected only).
    #[arg(long)]
    pub mce: bool,
    /// Allow an address below 0x10000000 (256 MiB).
    #[arg(long)]
    pub force: bool,
}

fn cpu(s: &str) -> Result<u32, String> {
    to_u32(parse_num(s)?, "cpu")
}

impl Tool for Cli {
    const SECTIONS: &'static [Section] = SECTIONS;
}

impl Cmd {
    /// Parses `argv` (with the program name first).
    pub fn parse<I, T>(argv: I) -> Result<Cmd, Usage>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Ok(super::parse::<Cli>(argv)?.cmd)
    }

    /// The subcommand's name (a preset's, for `xenmc::Preset::from_name`).
    pub fn name(&self) -> &'static str {
        match self {
            Cmd::Msr(_) => "msr",
            Cmd::Mce { .. } => "mce",
            Cmd::Corrected(_) => "corrected",
            Cmd::Srao(_) => "srao",
            Cmd::Ucna(_) => "ucna",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cmd, Usage> {
        Cmd::parse(std::iter::once("xmc-inject").chain(args.iter().copied()))
    }

    fn refused(args: &[&str], why: &str) {
        match parse(args) {
            Err(Usage::Error(m)) => assert!(m.contains(why), "{args:?}: {m}"),
            other => panic!("{args:?} accepted: {other:?}"),
        }
    }

    #[test]
    fn subcommands() {
        assert_eq!(
            parse(&[
                "msr",
                "--cpu",
                "3",
                "--interpose",
                "1",
                "0x9c",
                "0x10000000",
                "--mcg=0x5"
            ])
            .unwrap(),
            Cmd::Msr(Msr {
                cpu: 3,
                interpose: true,
                force: false,
                bank: 1,
                status: 0x9c,
                addr: Some(0x1000_0000),
                misc: None,
                mcg: Some(5),
            })
        );
        assert_eq!(
            parse(&["mce", "--cpu", "0x1"]).unwrap(),
            Cmd::Mce { cpu: 1 }
        );
        let c = parse(&[
            "ucna",
            "--cpu",
            "0",
            "--bank",
            "1",
            "--addr",
            "0x10000000",
            "--mce",
        ])
        .unwrap();
        assert_eq!(c.name(), "ucna");
        assert!(matches!(
            c,
            Cmd::Ucna(PresetArgs {
                mce: true,
                bank: 1,
                ..
            })
        ));
    }

    #[test]
    fn errors_in_the_old_words() {
        refused(&[], "missing subcommand");
        refused(&["fatal", "--cpu", "0"], "unknown subcommand fatal");
        refused(
            &["corrected", "--bank", "1", "--addr", "0x10000000"],
            "--cpu is required",
        );
        refused(&["msr", "--cpu", "0", "1"], "missing STATUS");
        refused(
            &["msr", "--cpu", "0", "1", "2", "3", "4", "5"],
            "unexpected argument '5'",
        );
        refused(&["mce", "--cpu", "0", "1"], "unexpected argument '1'");
        refused(
            &["mce", "--cpu", "0x100000000"],
            "cpu 0x100000000 is out of range",
        );
        refused(&["mce", "--cpu", "x"], "invalid number 'x'");
        refused(&["msr", "--force=1"], "unexpected value '1'");
        for h in [&["--help"][..], &["-h"], &["help"], &["msr", "--help"]] {
            assert!(matches!(parse(h), Err(Usage::Help(_))), "{h:?}");
        }
    }
}
