// SPDX-License-Identifier: GPL-2.0-only
//! Benchmark driver behind `ring/bench.sh` (no criterion: it prints markdown rows).
//!
//! * `report insns QUEUE N`: `N` single-thread push+pop pairs, to be run under
//!   `valgrind --tool=callgrind --toggle-collect='*pairs*'`;
//! * `report latency [N]`: producer push latency percentiles with a consumer popping on the
//!   other core, for the three queues;
//! * `report throughput [RUNS] [RECORDS]`: 1p/1c and 2p/2c transfer, min/median/max ns per
//!   record over RUNS runs.
//!
//! QUEUE is `ours`, `crossbeam` or `mutex`.

#[path = "queues.rs"]
mod queues;

use queues::{clock, pairs, push_latency, transfer, Crossbeam, Locked, Ours, Queue, CAP};

fn insns(queue: &str, n: u64) {
    let acc = match queue {
        "ours" => pairs(&Ours::new(CAP), n),
        "crossbeam" => pairs(&Crossbeam::new(CAP), n),
        "mutex" => pairs(&Locked::new(CAP), n),
        _ => panic!("unknown queue {queue}"),
    };
    std::hint::black_box(acc);
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn latency_row<Q: Queue>(n: usize, tpn: f64, gap: u64) -> [f64; 4] {
    let q = Q::new(CAP);
    let mut lat = push_latency(&q, n, gap);
    lat.sort_unstable();
    let ns = |t: u64| t as f64 / tpn;
    let r = [
        ns(pct(&lat, 0.5)),
        ns(pct(&lat, 0.99)),
        ns(pct(&lat, 0.999)),
        ns(*lat.last().unwrap()),
    ];
    println!(
        "| {} | {:.0} | {:.0} | {:.0} | {:.0} |",
        Q::NAME,
        r[0],
        r[1],
        r[2],
        r[3]
    );
    r
}

fn latency(n: usize) {
    let tpn = clock::ticks_per_ns();
    // One push every ~500 ns: the consumer keeps the queue nearly empty and keeps polling
    // the same cache lines as the producer (the driver's situation: records trickle in).
    let gap = (500.0 * tpn) as u64;
    println!("| queue | p50 ns | p99 ns | p99.9 ns | max ns |");
    println!("|---|---:|---:|---:|---:|");
    let o = latency_row::<Ours>(n, tpn, gap);
    let c = latency_row::<Crossbeam>(n, tpn, gap);
    let m = latency_row::<Locked>(n, tpn, gap);
    println!();
    println!(
        "p99.9 ratios: ArrayQueue / ours = {:.2}, Mutex<VecDeque> / ours = {:.1}",
        c[2] / o[2],
        m[2] / o[2]
    );
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn throughput_row<Q: Queue>(runs: usize, records: u64) -> [(f64, f64, f64); 2] {
    let mut out = [(0.0, 0.0, 0.0); 2];
    for (k, (p, c)) in [(1u64, 1u64), (2, 2)].into_iter().enumerate() {
        let v: Vec<f64> = (0..runs)
            .map(|_| {
                let q = Q::new(CAP);
                let d = transfer(&q, p, c, records / p);
                d.as_nanos() as f64 / records as f64
            })
            .collect();
        out[k] = stats(v);
    }
    println!(
        "| {} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} |",
        Q::NAME,
        out[0].0,
        out[0].1,
        out[0].2,
        out[1].0,
        out[1].1,
        out[1].2
    );
    out
}

fn throughput(runs: usize, records: u64) {
    println!("| queue | 1p/1c ns/record min / median / max | 2p/2c ns/record min / median / max |");
    println!("|---|---:|---:|");
    let o = throughput_row::<Ours>(runs, records);
    let c = throughput_row::<Crossbeam>(runs, records);
    let m = throughput_row::<Locked>(runs, records);
    println!();
    println!(
        "median ratios (higher = ours faster): ArrayQueue / ours = {:.2} (1p/1c), {:.2} (2p/2c); \
         Mutex<VecDeque> / ours = {:.2} (1p/1c), {:.2} (2p/2c)",
        c[0].1 / o[0].1,
        c[1].1 / o[1].1,
        m[0].1 / o[0].1,
        m[1].1 / o[1].1
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: u64| args.get(i).map_or(d, |s| s.parse().expect("number"));
    match args.first().map(String::as_str) {
        Some("insns") => insns(&args[1], arg(2, 100_000)),
        Some("latency") => latency(arg(1, 1_000_000) as usize),
        Some("throughput") => throughput(arg(1, 7) as usize, arg(2, 2_000_000)),
        // `cargo bench` runs every bench target with `--bench`: do a quick smoke run.
        _ => {
            latency(100_000);
            throughput(3, 500_000);
        }
    }
}
