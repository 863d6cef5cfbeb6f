// SPDX-License-Identifier: GPL-2.0-only

//! `write`: test records written into the device (software injection), a
//! partial one with `--partial`.

use std::io::Write;

use xmc_tools::sys::{self, Mode};
use xmc_tools::xenmc::DEFAULT_MISC;
use xmc_tools::{Mce, RECORD_LEN};

use crate::{open_or_report, Res};

/// The `i`-th record `write` sends.
fn test_record(i: usize, base: u64, bank: u8, status: u64) -> Mce {
    Mce {
        status,
        addr: base.wrapping_add(i as u64),
        misc: DEFAULT_MISC,
        bank,
        finished: 1,
        ..Mce::default()
    }
}

pub(crate) fn write(
    dev: &str,
    count: usize,
    base: u64,
    bank: u8,
    status: u64,
    partial: bool,
) -> Res {
    let mut f = open_or_report(
        dev,
        Mode {
            wronly: true,
            ..Mode::default()
        },
    )?;
    let mut buf: Vec<u8> = (0..count.max(1))
        .flat_map(|i| test_record(i, base, bank, status).to_bytes())
        .collect();
    buf.truncate(if partial { 100 } else { count * RECORD_LEN });
    match f.write(&buf) {
        Ok(n) => println!("ret={n} errno=0"),
        Err(e) => println!("ret=-1 errno={}", sys::errno_of(&e)),
    }
    Ok(())
}
