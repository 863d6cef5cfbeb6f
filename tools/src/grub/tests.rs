// SPDX-License-Identifier: GPL-2.0-only

//! The fixtures the parts' tests share: a scratch directory, and frames
//! with the times they were retired.

use std::fs;
use std::path::PathBuf;

pub(super) fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("xmc-grub-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

pub(super) fn at(frames: &[u64]) -> Vec<(u64, u64)> {
    frames
        .iter()
        .enumerate()
        .map(|(i, &m)| (m, i as u64))
        .collect()
}
