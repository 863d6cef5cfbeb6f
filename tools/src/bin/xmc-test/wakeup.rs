// SPDX-License-Identifier: GPL-2.0-only

//! `latency`: corrected errors injected into Xen one at a time, and how
//! long from the injection hypercall until the reader polling the device
//! wakes up with the record.

use std::fs::File;
use std::io::Read;
use std::time::{Duration, Instant};

use xmc_tools::format::split_records;
use xmc_tools::inject::Injector;
use xmc_tools::latency;
use xmc_tools::sys::{self, Mode};
use xmc_tools::xenmc::Preset;
use xmc_tools::Mce;

use crate::{geometry, ms_left, open_or_report, Fail, Res};

/// Reads everything `f` holds now (a read of 0 = empty).
fn read_now(f: &mut File, buf: &mut [u8], rec_len: usize) -> Vec<Mce> {
    let mut out = Vec::new();
    while let Ok(n) = f.read(buf) {
        if n == 0 {
            break;
        }
        out.extend(split_records(&buf[..n], rec_len).0);
    }
    out
}

/// Microseconds from `a` to `b`, negative when `b` is earlier.
fn us_between(a: Instant, b: Instant) -> i64 {
    match b.checked_duration_since(a) {
        Some(d) => d.as_micros() as i64,
        None => -(a.duration_since(b).as_micros() as i64),
    }
}

pub(crate) fn latency(dev: &str, n: usize, base: u64, gap_ms: u64) -> Res {
    let mut f = open_or_report(dev, Mode::default())?;
    let (rec_len, log_len) = geometry(&f);
    let inj = Injector::open(false).map_err(|e| {
        println!("privcmd=err:{e:?}");
        Fail::Setup
    })?;
    let cpus = inj.xen_cpus().map_err(|_| Fail::Setup)?;
    let mut buf = vec![0u8; rec_len * log_len];
    read_now(&mut f, &mut buf, rec_len);
    let (mut hyper, mut before, mut after) = (Vec::new(), Vec::new(), Vec::new());
    let mut missed = 0;
    for i in 0..n {
        let cpu = cpus.get(i % cpus.len().max(1)).copied().unwrap_or(0);
        let addr = base + (i as u64) * 0x1000;
        let plan = Preset::Corrected.plan(1, addr, None, None, true)?;
        if inj.prepare(cpu, &plan).is_err() {
            println!("prepare=err i={i}");
            return Err(Fail::Setup);
        }
        let t0 = Instant::now();
        let rc = inj.mceinject(cpu);
        let t1 = Instant::now();
        if rc.is_err() {
            println!("mceinject=err i={i}");
            return Err(Fail::Setup);
        }
        // Wait for the wake-up that delivers this event's record (Xen's
        // poller may deliver re-reports of earlier ones in between).
        let deadline = t0 + Duration::from_secs(10);
        let mut woke = None;
        while woke.is_none() && Instant::now() < deadline {
            match sys::poll_in(&f, ms_left(deadline, 10_000)) {
                Ok(rev) if rev & libc::POLLIN != 0 => {
                    let tw = Instant::now();
                    let recs = read_now(&mut f, &mut buf, rec_len);
                    if recs.iter().any(|m| m.addr == addr) {
                        woke = Some(tw);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    println!("poll=err:{}", sys::errno_of(&e));
                    return Err(Fail::Setup);
                }
            }
        }
        let h = us_between(t0, t1);
        hyper.push(h);
        match woke {
            Some(tw) => {
                let (b, a) = (us_between(t0, tw), us_between(t1, tw));
                println!("lat i={i} cpu={cpu} hypercall_us={h} before_us={b} after_us={a}");
                before.push(b);
                after.push(a);
            }
            None => {
                println!("lat i={i} cpu={cpu} hypercall_us={h} missed=1");
                missed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(gap_ms));
    }
    println!(
        "events={n} missed={missed} {} {} {}",
        latency::summary("hypercall", &mut hyper),
        latency::summary("before", &mut before),
        latency::summary("after", &mut after)
    );
    Ok(())
}
