// SPDX-License-Identifier: GPL-2.0-only

//! The fixture the parts' tests share: frames with the times they were
//! retired.

pub(super) fn at(frames: &[u64]) -> Vec<(u64, u64)> {
    frames
        .iter()
        .enumerate()
        .map(|(i, &m)| (m, i as u64))
        .collect()
}
