// SPDX-License-Identifier: GPL-2.0-only

//! What to do about the common failures. (The command line, its `--help`
//! and usage errors: `xmc_tools::cli::dump`.)

use std::io;
use std::path::Path;

use xmc_tools::sys;

use crate::{DEBUGFS_RAW, DEBUGFS_XEN};

/// What to do about the common failures.
pub(crate) fn hint(path: &str, e: &io::Error) -> String {
    let errno = sys::errno_of(e);
    if errno == libc::EACCES || errno == libc::EPERM {
        return "\n  reading machine-check records needs root (the device is mode 0600 root, \
                debugfs is root-only): run it as root, e.g. with sudo"
            .into();
    }
    if errno != libc::ENOENT {
        return String::new();
    }
    let module_loaded = Path::new("/sys/module/xen_mcelog").exists();
    if path == DEBUGFS_RAW || path == DEBUGFS_XEN {
        if !Path::new("/sys/kernel/debug/xen_mcelog").exists()
            && std::fs::read_dir("/sys/kernel/debug")
                .map(|mut d| d.next().is_none())
                .unwrap_or(true)
        {
            return "\n  debugfs is not mounted (or not readable): mount -t debugfs debugfs \
                    /sys/kernel/debug"
                .into();
        }
        if !module_loaded {
            return "\n  the xen_mcelog module is not loaded: load it with `modprobe xen_mcelog` \
                    (as root)"
                .into();
        }
        return String::new();
    }
    if !path.starts_with("/dev/") {
        return String::new();
    }
    if module_loaded {
        "\n  the xen_mcelog module is loaded but the node is missing: check udev \
         (or mknod it from /sys/class/misc/xen_mcelog/dev)"
            .into()
    } else {
        "\n  the xen_mcelog module is not loaded: load it with `modprobe xen_mcelog` (as root; \
         Xen PV dom0 only, booted with initcall_blacklist=xen_late_init_mcelog)"
            .into()
    }
}
