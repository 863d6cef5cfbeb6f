// SPDX-License-Identifier: GPL-2.0

//! The records in the log known delivered to a consumer of the tracepoint
//! ([`Delivered`]): a bounded set of runs of sequence numbers, which the
//! drain may take out of a full log while no file has the device open
//! (see the drain's module documentation, "Delivered by tracing").

/// Runs of delivered records [`Delivered`] remembers. A run ends where a
/// record not traced to a consumer comes between two delivered ones; the
/// drain never drops past such a record, so the runs behind it matter only
/// once a reader took it. Beyond this many, the newest run is forgotten
/// (its records are then kept for a reader: never a loss).
pub const DELIVERED_RUNS: usize = 8;

/// A run of sequence numbers, `start..end`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Run {
    start: u64,
    end: u64,
}

/// The records in the log known delivered to a consumer of the tracepoint:
/// runs of sequence numbers, sorted, neither overlapping nor touching, at
/// most [`DELIVERED_RUNS`]. A sequence number not in a run is not known
/// delivered (records the drain did not trace to a consumer, and every
/// record another producer stored): the default is to keep a record, so a
/// concurrent producer (`write(2)`) can never have its records dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    runs: [Run; DELIVERED_RUNS],
    len: usize,
}

impl Delivered {
    fn runs(&self) -> &[Run] {
        self.runs.get(..self.len).unwrap_or(&[])
    }

    /// Whether record `seq` is known delivered.
    pub fn contains(&self, seq: u64) -> bool {
        self.runs().iter().any(|r| r.start <= seq && seq < r.end)
    }

    /// The records `start..end` are delivered (merged with the runs they
    /// overlap or touch). False when the runs were too many and the newest
    /// was forgotten: its records count as not delivered until they are
    /// traced again (the caller marks the log as holding untraced records).
    #[must_use]
    pub fn add(&mut self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        let mut new = Run { start, end };
        let mut out = [Run::default(); DELIVERED_RUNS + 1];
        let mut n = 0usize;
        let mut push = |r: Run, n: &mut usize| {
            if let Some(slot) = out.get_mut(*n) {
                *slot = r;
                *n += 1;
            }
        };
        let mut placed = false;
        for &r in self.runs() {
            if r.end < new.start {
                push(r, &mut n);
            } else if new.end < r.start {
                if !placed {
                    push(new, &mut n);
                    placed = true;
                }
                push(r, &mut n);
            } else {
                new = Run {
                    start: new.start.min(r.start),
                    end: new.end.max(r.end),
                };
            }
        }
        if !placed {
            push(new, &mut n);
        }
        // One too many: forget the newest run (kept for a reader instead).
        let keep = n.min(DELIVERED_RUNS);
        for (dst, src) in self.runs.iter_mut().zip(out.iter().take(keep)) {
            *dst = *src;
        }
        self.len = keep;
        keep == n
    }

    /// Forgets the records below `seq` (taken out of the log).
    pub fn forget_below(&mut self, seq: u64) {
        let mut keep = 0usize;
        for i in 0..self.len {
            let Some(&r) = self.runs.get(i) else { break };
            if r.end <= seq {
                continue;
            }
            if let Some(dst) = self.runs.get_mut(keep) {
                *dst = Run {
                    start: r.start.max(seq),
                    end: r.end,
                };
            }
            keep += 1;
        }
        self.len = keep;
    }

    /// How many runs it holds (debug views, tests).
    pub fn run_count(&self) -> usize {
        self.len
    }
}
