// SPDX-License-Identifier: GPL-2.0-only

//! xmc-inject: injects machine checks into Xen from dom0 through
//! /dev/xen/privcmd and the `mca` hypercall (XEN_MC_msrinject,
//! XEN_MC_mceinject). A replacement for xen-mceinj in the sandbox and a fire
//! drill for users' monitoring. Run as root in a PV dom0.
//!
//! Exit codes: 0 every hypercall returned 0; 1 a hypercall failed;
//! 2 usage error or refused (unsafe) request; 3 privcmd unusable.

use std::process::ExitCode;

use xmc_tools::args::{to_u32, Args};
use xmc_tools::inject::{InjectError, Injector};
use xmc_tools::xenmc::{BankError, Preset, MC_MSRINJ_F_INTERPOSE};

const USAGE: &str = "\
usage: xmc-inject msr --cpu N [--interpose] [--force] BANK STATUS [ADDR [MISC]] [--mcg MCG_STATUS]
       xmc-inject mce --cpu N
       xmc-inject corrected --cpu N --bank B --addr A [--misc M] [--status S] [--mce] [--force]
       xmc-inject srao --cpu N --bank B --addr A [--misc M] [--status S] [--force]
       xmc-inject ucna --cpu N --bank B --addr A [--misc M] [--status S] [--force]

Injects machine checks into Xen through /dev/xen/privcmd (root, PV dom0).
Numbers are decimal or 0x-prefixed hex. CPU numbers are Xen physical CPUs.

  msr        XEN_MC_msrinject: write MCi_STATUS (and ADDR, MISC, MCG_STATUS
             when given) of BANK on CPU N; --interpose puts the values in
             Xen's interpose table (required for Intel banks). Raises nothing.
  mce        XEN_MC_mceinject: #MC on CPU N (on every CPU where Xen
             broadcasts #MC: modern Intel). Interpose a valid bank status and
             MCG_STATUS=0x5 first: if no CPU sees a valid bank, or a CPU with
             a valid bank has RIPV=0 in MCG_STATUS, Xen panics.
  corrected  interpose a corrected error (default status 0x9c0000000000017a,
             misc 0x86); Xen's poller reports it in 2-30 s. With --mce also
             MCG_STATUS=0x5 and a #MC for a record within about a second.
  srao       interpose an SRAO error (status 0xbd000000000000c0, misc 0x86,
             MCG_STATUS 0x5) and raise #MC (Intel; Xen drops it on AMD).
  ucna       interpose a UCNA error (status 0xbc20000080000136, misc 0x86);
             Xen's poller reports it in 2-30 s.

Before a preset's #MC on a broadcast host, MCG_STATUS=0x5 is interposed on
every other Xen CPU too, so that errors still waiting in their banks (Xen
leaves corrected #MC banks for its poller) are reported again rather than
panicking Xen. Expect such duplicates: a corrected --mce error is also
reported by the poller a few seconds later.

Refused: PCC or AR statuses (they panic Xen or dom0), and addresses below
0x10000000 (256 MiB) unless --force: Xen 4.20 panics on DOMID_IO pages such
as 0x1000 and everything below 1 MiB. MMIO holes (e.g. the PCI hole below
4 GiB) are DOMID_IO pages too and are not detected: use an address in RAM.

Use it as a fire drill for machine-check monitoring (mcelog, log shippers):
  modprobe xen-privcmd
  xmc-inject corrected --cpu 0 --bank 1 --addr 0x10000000
  xen-mcelog-dump --decode --follow --count 1

Each hypercall prints `xmc-inject: <cmd> rc=<rc>`.
Exit status: 0 every hypercall returned 0; 1 a hypercall failed; 2 usage
error or refused request (nothing was injected); 3 /dev/xen/privcmd unusable
(not a PV dom0, xen-privcmd not loaded, not root).";

/// Failure with its exit code.
enum Fail {
    Usage(String),
    Hypercall,
    System(String),
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Usage(s)
    }
}

impl From<InjectError> for Fail {
    fn from(e: InjectError) -> Fail {
        match e {
            InjectError::Hypercall => Fail::Hypercall,
            InjectError::System(m) => Fail::System(m),
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match run(&argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Hypercall) => ExitCode::from(1),
        Err(Fail::Usage(m)) => {
            eprintln!("xmc-inject: {m} (see xmc-inject --help)");
            ExitCode::from(2)
        }
        Err(Fail::System(m)) => {
            eprintln!("xmc-inject: {m}");
            ExitCode::from(3)
        }
    }
}

fn run(argv: &[String]) -> Result<(), Fail> {
    let Some((cmd, rest)) = argv.split_first() else {
        return Err(Fail::Usage("missing subcommand".into()));
    };
    match cmd.as_str() {
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(())
        }
        "msr" => {
            let a = Args::parse(rest, &["--cpu", "--mcg"], &["--interpose", "--force"])?;
            let cpu = to_u32(a.req_num("--cpu")?, "cpu")?;
            if a.pos.len() > 4 {
                return Err(Fail::Usage(format!("unexpected argument {}", a.pos[4])));
            }
            let opt = |i| a.pos.get(i).map(|_| a.pos_num(i, "")).transpose();
            let e = BankError {
                bank: a.pos_num(0, "BANK")?,
                status: a.pos_num(1, "STATUS")?,
                addr: opt(2)?,
                misc: opt(3)?,
                mcg: a.num("--mcg")?,
            };
            e.check(a.flag("--force"))?;
            let flags = if a.flag("--interpose") {
                MC_MSRINJ_F_INTERPOSE
            } else {
                0
            };
            Ok(Injector::open(true)?.msrinject(cpu, flags, &e)?)
        }
        "mce" => {
            let a = Args::parse(rest, &["--cpu"], &[])?;
            if let Some(p) = a.pos.first() {
                return Err(Fail::Usage(format!("unexpected argument {p}")));
            }
            let cpu = to_u32(a.req_num("--cpu")?, "cpu")?;
            Ok(Injector::open(true)?.mceinject(cpu)?)
        }
        name => {
            let preset = Preset::from_name(name).ok_or(format!("unknown subcommand {name}"))?;
            let a = Args::parse(
                rest,
                &["--cpu", "--bank", "--addr", "--misc", "--status"],
                &["--mce", "--force"],
            )?;
            if let Some(p) = a.pos.first() {
                return Err(Fail::Usage(format!("unexpected argument {p}")));
            }
            let cpu = to_u32(a.req_num("--cpu")?, "cpu")?;
            let plan = preset.plan(
                a.req_num("--bank")?,
                a.req_num("--addr")?,
                a.num("--misc")?,
                a.num("--status")?,
                a.flag("--mce"),
            )?;
            plan.error.check(a.flag("--force"))?;
            let inj = Injector::open(true)?;
            inj.prepare(cpu, &plan)?;
            if plan.trigger {
                Ok(inj.mceinject(cpu).inspect_err(|_| {
                    eprintln!(
                        "xmc-inject: the interposed bank stays; Xen's poller may still report it"
                    )
                })?)
            } else {
                println!("xmc-inject: interposed only: Xen's poller reports it within 2-30 s");
                Ok(())
            }
        }
    }
}
