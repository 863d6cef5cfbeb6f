// SPDX-License-Identifier: GPL-2.0-only

//! Machine-check injection into Xen from dom0: the `mca` hypercalls of
//! `xmc-inject` (XEN_MC_msrinject, XEN_MC_mceinject, XEN_MC_physcpuinfo)
//! through /dev/xen/privcmd, shared with the latency benchmark of `xmc-test`,
//! which stamps the clock around the #MC hypercall itself.

use std::cell::OnceCell;
use std::fs::File;

use crate::sys::{self, Locked, Mode, PRIVCMD_PATH};
use crate::xenmc::{self, BankError, Plan, MC_MSRINJ_F_INTERPOSE};
use xmc_core::mcinfo::{LOGICAL_CPU_LEN, MSR_MCG_STATUS};

/// Why an injection failed.
#[derive(Debug)]
pub enum InjectError {
    /// A hypercall returned non-zero (already reported on stdout/stderr).
    Hypercall,
    /// privcmd or a locked buffer was unusable.
    System(String),
}

/// An open /dev/xen/privcmd. `verbose` prints each hypercall as
/// `xmc-inject: <cmd> rc=<rc>` (failures are always printed).
pub struct Injector {
    pc: File,
    verbose: bool,
    /// Xen's CPUs, asked once per injector (the latency benchmark injects
    /// many times through one).
    cpus: OnceCell<Vec<u32>>,
}

impl Injector {
    /// Opens /dev/xen/privcmd, explaining the usual reasons it fails.
    pub fn open(verbose: bool) -> Result<Injector, InjectError> {
        let mode = Mode {
            rdwr: true,
            ..Mode::default()
        };
        let pc = sys::open(PRIVCMD_PATH, mode).map_err(|e| {
            let hint = match sys::errno_of(&e) {
                libc::ENOENT => " (not a Xen dom0, or xen-privcmd/xenfs not loaded)",
                libc::EACCES | libc::EPERM => " (run as root)",
                _ => "",
            };
            InjectError::System(format!("cannot open {PRIVCMD_PATH}: {e}{hint}"))
        })?;
        Ok(Injector {
            pc,
            verbose,
            cpus: OnceCell::new(),
        })
    }

    fn say(&self, line: &str) {
        if self.verbose {
            println!("xmc-inject: {line}");
        }
    }

    /// One `mca` hypercall on a locked copy of `op`; returns that copy
    /// (with whatever Xen wrote back). `quiet` hides rc=0 even when verbose.
    fn hypercall(&self, name: &str, op: &[u8], quiet: bool) -> Result<Locked, InjectError> {
        let buf = Locked::new(op)
            .map_err(|e| InjectError::System(format!("cannot lock the hypercall buffer: {e}")))?;
        let rc = sys::mca_hypercall(&self.pc, &buf);
        if rc == 0 {
            if !quiet {
                self.say(&format!("{name} rc=0"));
            }
            return Ok(buf);
        }
        println!("xmc-inject: {name} rc={rc}");
        if rc < 0 {
            let errno = i32::try_from(-rc).unwrap_or(0);
            eprintln!(
                "xmc-inject: {name} failed: {}",
                std::io::Error::from_raw_os_error(errno)
            );
        }
        Err(InjectError::Hypercall)
    }

    /// Xen's online physical CPU ids (XEN_MC_physcpuinfo, twice: the count,
    /// then the array with some slack, as a CPU may come online in between),
    /// asked on the first call only.
    pub fn xen_cpus(&self) -> Result<Vec<u32>, InjectError> {
        if let Some(c) = self.cpus.get() {
            return Ok(c.clone());
        }
        let op = self.hypercall("physcpuinfo", &xenmc::physcpuinfo(0, 0), true)?;
        let cap = xenmc::physcpuinfo_ncpus(&op.bytes()).saturating_add(4);
        let info = Locked::new(&vec![0u8; cap as usize * LOGICAL_CPU_LEN])
            .map_err(|e| InjectError::System(format!("cannot lock the physcpuinfo buffer: {e}")))?;
        let op = self.hypercall("physcpuinfo", &xenmc::physcpuinfo(cap, info.addr()), true)?;
        let n = xenmc::physcpuinfo_ncpus(&op.bytes()) as usize;
        Ok(self
            .cpus
            .get_or_init(|| xenmc::cpu_ids(&info.bytes(), n))
            .clone())
    }

    /// Before an injected #MC that Xen broadcasts to every CPU (modern
    /// Intel), interposes MCG_STATUS = RIPV|MCIP on every other CPU as well.
    /// A CPU whose banks still hold an error (a corrected error delivered by
    /// #MC, which Xen leaves for its poller, or any error the poller has not
    /// collected yet) otherwise reads its real MCG_STATUS with RIPV=0 and Xen
    /// panics ("Fatal error happened on CPUs"). With it, such a bank is
    /// reported once more instead. Xen's #MC handler removes these entries.
    pub fn broadcast_guard(&self, target: u32) -> Result<(), InjectError> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        if !xenmc::mce_broadcast(&cpuinfo) {
            return Ok(());
        }
        let others: Vec<u32> = self
            .xen_cpus()?
            .into_iter()
            .filter(|&c| c != target)
            .collect();
        // Xen's interpose table has 50 entries for the whole host.
        if others.len() > 32 {
            eprintln!(
                "xmc-inject: warning: {} other CPUs: not guarding them (Xen's interpose table is small)",
                others.len()
            );
            return Ok(());
        }
        let list: Vec<String> = others.iter().map(u32::to_string).collect();
        self.say(&format!(
            "#MC is broadcast: MCG_STATUS(0x17a)={:#x} on CPUs [{}] too",
            xenmc::MCG_STATUS_RIPV_MCIP,
            list.join(",")
        ));
        for cpu in others {
            let op = xenmc::msrinject(
                cpu,
                MC_MSRINJ_F_INTERPOSE,
                &[(MSR_MCG_STATUS, xenmc::MCG_STATUS_RIPV_MCIP)],
            )
            .map_err(InjectError::System)?;
            self.hypercall(&format!("msrinject cpu={cpu}"), &op, true)?;
        }
        Ok(())
    }

    /// XEN_MC_msrinject of `e`'s registers on `cpu`.
    pub fn msrinject(&self, cpu: u32, flags: u32, e: &BankError) -> Result<(), InjectError> {
        let msrs = e.msrs();
        if self.verbose {
            let list: Vec<String> = msrs
                .iter()
                .map(|(r, v)| format!("{}({r:#x})={v:#x}", xenmc::msr_name(*r)))
                .collect();
            let mode = if flags & MC_MSRINJ_F_INTERPOSE != 0 {
                " interpose"
            } else {
                ""
            };
            self.say(&format!("msrinject cpu={cpu}{mode} {}", list.join(" ")));
        }
        let op = xenmc::msrinject(cpu, flags, &msrs).map_err(InjectError::System)?;
        self.hypercall("msrinject", &op, false).map(drop)
    }

    /// XEN_MC_mceinject: #MC on `cpu`. Returns once Xen's #MC handler ran
    /// (on every CPU it broadcasts to).
    pub fn mceinject(&self, cpu: u32) -> Result<(), InjectError> {
        self.say(&format!("mceinject cpu={cpu}"));
        self.hypercall("mceinject", &xenmc::mceinject(cpu), false)
            .map(drop)
    }

    /// Everything of `plan` before its #MC: the broadcast guard (if it
    /// triggers one) and the interposed bank on `cpu`.
    pub fn prepare(&self, cpu: u32, plan: &Plan) -> Result<(), InjectError> {
        if plan.trigger {
            self.broadcast_guard(cpu)?;
        }
        self.msrinject(cpu, MC_MSRINJ_F_INTERPOSE, &plan.error)
    }
}
