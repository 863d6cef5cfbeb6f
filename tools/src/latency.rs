// SPDX-License-Identifier: GPL-2.0-only

//! Summaries of the latency benchmark (`xmc-test latency`): nearest-rank
//! percentiles of microsecond samples, printed as `key=value` pairs.

/// The nearest-rank `p`-th percentile (0 < p <= 100) of `sorted`
/// (ascending); `None` when empty.
pub fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = (n * p.clamp(1, 100) as usize).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// `NAME_min_us=.. NAME_median_us=.. NAME_p99_us=.. NAME_max_us=..` of the
/// samples (sorted in place); `NAME_none=1` without samples.
pub fn summary(name: &str, samples: &mut [i64]) -> String {
    samples.sort_unstable();
    let (Some(min), Some(max)) = (samples.first(), samples.last()) else {
        return format!("{name}_none=1");
    };
    let q = |p| percentile(samples, p).unwrap_or(0);
    format!(
        "{name}_min_us={min} {name}_median_us={} {name}_p99_us={} {name}_max_us={max}",
        q(50),
        q(99)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), Some(50));
        assert_eq!(percentile(&v, 99), Some(99));
        assert_eq!(percentile(&v, 100), Some(100));
        let w: Vec<i64> = (1..=120).collect();
        assert_eq!(percentile(&w, 99), Some(119));
        assert_eq!(percentile(&w, 50), Some(60));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[], 50), None);
    }

    #[test]
    fn summary_line() {
        let mut v = vec![30, 10, 20];
        assert_eq!(
            summary("wake", &mut v),
            "wake_min_us=10 wake_median_us=20 wake_p99_us=30 wake_max_us=30"
        );
        assert_eq!(summary("x", &mut []), "x_none=1");
    }
}
