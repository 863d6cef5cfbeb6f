// SPDX-License-Identifier: GPL-2.0-only

//! The drain's software cost per record (`cargo bench -p xmc-core --bench
//! drain`): Xen's full pool (10 urgent + 20 non-urgent entries) drained
//! through `drain::drain` into the ring the module uses, as the kernel does
//! it (convert, attach the Xen side, `try_push_all`, then ack), with the
//! hypercalls replaced by a copy of the 768-byte `mc_info` (what Xen's
//! copy_to_guest does) and a queue pop. The sandbox's drain-rate benchmark
//! measures the same path with real hypercalls under TCG; the gap between
//! the two is the hypercalls.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::VecDeque;

use common::{ce_entry, CpuEntry};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use xmc_core::drain::{self, Env, Fetched, Queue};
use xmc_core::mcinfo::*;
use xmc_core::record::*;
use xmc_ring::{Pod, Ring, Slot};

/// The module's ring element (the kernel crate implements `Pod` for
/// `XenRecord` itself; here a local wrapper has to).
#[derive(Clone, Copy, Default)]
#[repr(transparent)]
struct Rec(XenRecord);
// SAFETY: XenRecord is plain old data: integers only, no padding (its size
// is asserted in record/xen.rs), any bit pattern valid.
unsafe impl Pod for Rec {}

/// Entry `salt` of the pool: `banks` corrected banks at distinct addresses.
fn entry(apicid: u32, banks: usize, salt: u64) -> [u8; MC_INFO_LEN] {
    let addrs: Vec<u64> = (0..banks as u64)
        .map(|i| 0x4000_0000 + salt * 0x1000 + i)
        .collect();
    ce_entry(apicid, &addrs)
}

struct BenchEnv<'a> {
    queues: [VecDeque<(u64, [u8; MC_INFO_LEN])>; 2],
    ring: &'a Ring<Rec, Vec<Slot<Rec>>>,
    cpus: Vec<LogicalCpu>,
}

impl Env for BenchEnv<'_> {
    fn fetch(&mut self, q: Queue, buf: &mut [u8; MC_INFO_LEN]) -> Fetched {
        match self.queues[q.index()].front() {
            Some((id, info)) => {
                *buf = *info;
                Fetched::Entry(*id)
            }
            None => Fetched::Empty,
        }
    }
    fn ack(&mut self, q: Queue, _id: u64) -> Result<(), i32> {
        self.queues[q.index()].pop_front();
        Ok(())
    }
    fn cpus(&self) -> &[LogicalCpu] {
        &self.cpus
    }
    fn refresh_cpus(&mut self) -> bool {
        false
    }
    fn now(&self) -> u64 {
        1_764_000_000
    }
    fn store_all(&mut self, q: Queue, c: &Conversion, recs: &[Mce]) -> Option<drain::Stored> {
        let mut out = [Rec::default(); MAX_BANKS_PER_INFO];
        for (i, (slot, m)) in out.iter_mut().zip(recs).enumerate() {
            *slot = Rec(XenRecord {
                mce: *m,
                xen: xen_info(c, i, m, q == Queue::Urgent),
            });
        }
        self.ring
            .try_push_all(&out[..recs.len()])
            .ok()
            .map(|first| drain::Stored {
                first,
                traced: false,
            })
    }
    fn entry_stored(&mut self, _q: Queue, _c: &Conversion) {}
    fn overflow(&mut self, _why: drain::Overflow) {}
}

fn bench(c: &mut Criterion) {
    let cpus = vec![
        CpuEntry::intel(0, 0).parsed(),
        CpuEntry::intel(1, 2).parsed(),
    ];
    let mut g = c.benchmark_group("drain");
    for banks in [1usize, 4] {
        let pool: [VecDeque<_>; 2] = [
            (0..10)
                .map(|i| (i, entry((i as u32 % 2) * 2, banks, i)))
                .collect(),
            (10..30)
                .map(|i| (i, entry((i as u32 % 2) * 2, banks, i)))
                .collect(),
        ];
        g.throughput(Throughput::Elements(30 * banks as u64));
        g.bench_function(format!("full pool, {banks} bank(s) per entry"), |b| {
            let ring = Ring::new((0..1024).map(|_| Slot::new()).collect::<Vec<_>>())
                .unwrap_or_else(|_| panic!("ring"));
            let mut buf = Box::new([0u8; MC_INFO_LEN]);
            let mut out = Box::new([Mce::default(); MAX_BANKS_PER_INFO]);
            let mut conv = Box::<Conversion>::default();
            b.iter_batched(
                || pool.clone(),
                |queues| {
                    let mut env = BenchEnv {
                        queues,
                        ring: &ring,
                        cpus: cpus.clone(),
                    };
                    let mut st = drain::State::default();
                    let o = drain::drain(&mut env, &mut buf, &mut out, &mut conv, &mut st);
                    assert_eq!(o, drain::Outcome::Drained);
                    while ring.try_pop().is_some() {}
                    st.stats.stored
                },
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
