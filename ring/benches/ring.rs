// SPDX-License-Identifier: GPL-2.0-only
//! criterion benchmarks: single-thread push+pop pair, and 1p/1c and 2p/2c transfer, for
//! our ring, crossbeam's `ArrayQueue` and a `Mutex<VecDeque>` (128-byte records, capacity
//! 1024). `ring/bench.sh` produces the README table (instructions, latency, throughput).

#[path = "queues.rs"]
mod queues;

use criterion::{criterion_group, criterion_main, Criterion};
use queues::{pairs, transfer, Crossbeam, Locked, Ours, Queue, CAP};
use std::time::Duration;

fn pair<Q: Queue>(c: &mut Criterion) {
    let q = Q::new(CAP);
    c.bench_function(&format!("push+pop pair/{}", Q::NAME), |b| {
        b.iter_custom(|iters| {
            let t = std::time::Instant::now();
            std::hint::black_box(pairs(&q, iters));
            t.elapsed()
        })
    });
}

fn xfer<Q: Queue>(c: &mut Criterion, p: u64) {
    c.bench_function(&format!("transfer {p}p/{p}c per record/{}", Q::NAME), |b| {
        b.iter_custom(|iters| {
            let q = Q::new(CAP);
            transfer(&q, p, p, iters.div_ceil(p))
        })
    });
}

fn benches(c: &mut Criterion) {
    pair::<Ours>(c);
    pair::<Crossbeam>(c);
    pair::<Locked>(c);
    for p in [1, 2] {
        xfer::<Ours>(c, p);
        xfer::<Crossbeam>(c, p);
        xfer::<Locked>(c, p);
    }
}

criterion_group! {
    name = group;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(group);
