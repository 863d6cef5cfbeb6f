// SPDX-License-Identifier: GPL-2.0-only

//! xmc-gen-docs OUTDIR VERSION DATE: writes the man pages of xen-mcelog-dump
//! and xmc-inject (OUTDIR/*.8, "xen_mcelog VERSION", dated DATE) and their
//! bash completions (OUTDIR/completions/) from the clap definitions in
//! `xmc_tools::cli`, for debian/rules.
//!
//! An example rather than a binary or a hidden option of the tools: it is
//! built only when asked for (`cargo build --example xmc-gen-docs`), never
//! installed, and clap_mangen and clap_complete stay out of the tools
//! themselves. VERSION and DATE come from the caller (debian/changelog and
//! SOURCE_DATE_EPOCH), so the pages are reproducible.

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, version, date] = args.as_slice() else {
        eprintln!("usage: xmc-gen-docs OUTDIR VERSION DATE");
        return ExitCode::from(2);
    };
    let write = || -> std::io::Result<()> {
        for (path, bytes) in xmc_tools::cli::generated(version, date)? {
            let p = Path::new(dir).join(path);
            if let Some(d) = p.parent() {
                std::fs::create_dir_all(d)?;
            }
            std::fs::write(&p, bytes)?;
        }
        Ok(())
    };
    match write() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xmc-gen-docs: {dir}: {e}");
            ExitCode::from(1)
        }
    }
}
