// SPDX-License-Identifier: GPL-2.0-only

//! xmc-inject: injects machine checks into Xen from dom0 through
//! /dev/xen/privcmd and the `mca` hypercall (XEN_MC_msrinject,
//! XEN_MC_mceinject). A replacement for xen-mceinj in the sandbox and a fire
//! drill for users' monitoring. Run as root in a PV dom0.
//!
//! Exit codes: 0 every hypercall returned 0; 1 a hypercall failed;
//! 2 usage error or refused (unsafe) request; 3 privcmd unusable.
//!
//! The command line and its manual: `xmc_tools::cli::inject` (clap).

use std::process::ExitCode;

use xmc_tools::cli::inject::{Cmd, Msr, PresetArgs};
use xmc_tools::cli::Usage;
use xmc_tools::inject::{InjectError, Injector};
use xmc_tools::xenmc::{BankError, Preset, MC_MSRINJ_F_INTERPOSE};

/// Failure with its exit code.
enum Fail {
    Usage(Usage),
    Hypercall,
    System(String),
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Usage(Usage::Error(s))
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
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail::Hypercall) => ExitCode::from(1),
        Err(Fail::Usage(u)) => u.exit("xmc-inject"),
        Err(Fail::System(m)) => {
            eprintln!("xmc-inject: {m}");
            ExitCode::from(3)
        }
    }
}

fn run() -> Result<(), Fail> {
    let cmd = Cmd::parse(std::env::args_os()).map_err(Fail::Usage)?;
    let name = cmd.name();
    match cmd {
        Cmd::Msr(Msr {
            cpu,
            interpose,
            force,
            bank,
            status,
            addr,
            misc,
            mcg,
        }) => {
            let e = BankError {
                bank,
                status,
                addr,
                misc,
                mcg,
            };
            e.check(force)?;
            let flags = if interpose { MC_MSRINJ_F_INTERPOSE } else { 0 };
            Ok(Injector::open(true)?.msrinject(cpu, flags, &e)?)
        }
        Cmd::Mce { cpu } => Ok(Injector::open(true)?.mceinject(cpu)?),
        Cmd::Corrected(p) | Cmd::Srao(p) | Cmd::Ucna(p) => {
            let preset = Preset::from_name(name).expect("a preset's subcommand");
            preset_run(preset, p)
        }
    }
}

/// A preset: the bank values planned, checked, interposed, and #MC raised
/// when the preset says so.
fn preset_run(preset: Preset, p: PresetArgs) -> Result<(), Fail> {
    let plan = preset.plan(p.bank, p.addr, p.misc, p.status, p.mce)?;
    plan.error.check(p.force)?;
    let inj = Injector::open(true)?;
    inj.prepare(p.cpu, &plan)?;
    if plan.trigger {
        Ok(inj.mceinject(p.cpu).inspect_err(|_| {
            eprintln!("xmc-inject: the interposed bank stays; Xen's poller may still report it")
        })?)
    } else {
        println!("xmc-inject: interposed only: Xen's poller reports it within 2-30 s");
        Ok(())
    }
}
