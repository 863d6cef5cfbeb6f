// SPDX-License-Identifier: GPL-2.0-only

//! `load-sweep`: every allocation of a module load made to fail in turn
//! (fail-nth), and no failed load ever showing /dev/xen_mcelog.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use xmc_tools::sys;

use crate::{Fail, Res};

/// The load-order sweep: every allocation of a module load made to fail in
/// turn; a load that fails must never have created /dev/xen_mcelog (an open
/// in that window would hold a file into a module being freed).
pub(crate) fn load_sweep(ko: &str, max: u64) -> Res {
    let ko = File::open(ko).map_err(|e| {
        println!("open=err:{}", sys::errno_of(&e));
        Fail::Setup
    })?;
    let mut nth = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/thread-self/fail-nth")
        .map_err(|e| {
            println!("fail_nth=err:{}", sys::errno_of(&e));
            Fail::Setup
        })?;
    let mut watch = sys::CreateWatch::new(c"/dev").map_err(|e| {
        println!("inotify=err:{}", sys::errno_of(&e));
        Fail::Setup
    })?;
    // The kernel log, from now on, record by record (the ring buffer would
    // not hold a whole sweep's messages): failed loads say which step failed.
    let mut kmsg = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .map_err(|e| {
            println!("kmsg=err:{}", sys::errno_of(&e));
            Fail::Setup
        })?;
    {
        use std::io::Seek;
        kmsg.seek(io::SeekFrom::End(0)).map_err(|_| Fail::Setup)?;
    }
    let mut steps = std::collections::BTreeMap::<String, u64>::new();
    let mut drain_kmsg = |steps: &mut std::collections::BTreeMap<String, u64>| {
        let mut b = [0u8; 8192];
        loop {
            match kmsg.read(&mut b) {
                Ok(0) => break,
                Ok(k) => {
                    let rec = String::from_utf8_lossy(&b[..k]);
                    if let Some(i) = rec.find("xen_mcelog: not loading: ") {
                        let what = rec[i + 25..]
                            .split(" (")
                            .next()
                            .unwrap_or("")
                            .trim()
                            .to_string();
                        *steps.entry(what.replace(' ', "_")).or_default() += 1;
                    }
                }
                // EPIPE: records were overwritten before we read them.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                Err(_) => break,
            }
        }
    };
    let set = |f: &mut File, n: u64| -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        f.write_all_at(n.to_string().as_bytes(), 0)
    };
    let (mut failed, mut loaded, mut injected_ok, mut node_in_failed) = (0u64, 0u64, 0u64, 0u64);
    let mut errnos = std::collections::BTreeMap::<i32, u64>::new();
    let mut n = 0;
    while n < max {
        n += 1;
        watch.created().map_err(|_| Fail::Setup)?;
        set(&mut nth, n).map_err(|_| Fail::Setup)?;
        let r = sys::finit_module(&ko);
        let mut left = String::new();
        {
            use std::os::unix::fs::FileExt;
            let mut b = [0u8; 16];
            let k = nth.read_at(&mut b, 0).map_err(|_| Fail::Setup)?;
            left.push_str(String::from_utf8_lossy(&b[..k]).trim());
        }
        set(&mut nth, 0).map_err(|_| Fail::Setup)?;
        let injected = left == "0";
        drain_kmsg(&mut steps);
        let ours = watch
            .created()
            .map_err(|_| Fail::Setup)?
            .iter()
            .filter(|c| c.as_str() == "xen_mcelog")
            .count();
        match r {
            Ok(()) => {
                loaded += 1;
                if injected {
                    injected_ok += 1;
                }
                let mut tries = 0;
                while let Err(e) = sys::delete_module(c"xen_mcelog") {
                    tries += 1;
                    if tries > 50 {
                        println!("rmmod=err:{} n={n}", sys::errno_of(&e));
                        return Err(Fail::Setup);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                if !injected {
                    break;
                }
            }
            Err(e) => {
                failed += 1;
                *errnos.entry(sys::errno_of(&e)).or_default() += 1;
                if ours != 0 {
                    node_in_failed += 1;
                    println!("node_in_failed_load n={n} errno={}", sys::errno_of(&e));
                }
            }
        }
    }
    let errs: Vec<String> = errnos.iter().map(|(e, c)| format!("{e}:{c}")).collect();
    for (what, c) in &steps {
        println!("failed_step {what}={c}");
    }
    println!(
        "sweep_n={n} loads_failed={failed} loads_ok={loaded} injected_ok={injected_ok} \
         node_in_failed={node_in_failed} errnos={}",
        errs.join(",")
    );
    Ok(())
}
