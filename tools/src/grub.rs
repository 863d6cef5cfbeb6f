// SPDX-License-Identifier: GPL-2.0-only

//! `persist = grub` (retire.conf): the machine frames page retirement has
//! retired also go on Xen's command line as `badpage=`, so that Xen keeps
//! them out of its allocator from boot on. Xen forgets offlined pages at a
//! reset; without this the service offlines them again only once it runs,
//! when dom0 and guests may already use them.
//!
//! Xen 4.20, x86 (and every architecture: the code is common):
//!
//! - docs/misc/xen-command-line.pandoc, `### badpage`:
//!   `= List of [ <integer> | <integer>-<integer> ]`, page (frame) numbers:
//!   "if your memory tester says that byte `0x12345678` is bad, you would
//!   place `badpage=0x12345`".
//! - xen/common/page_alloc.c: `opt_badpage` is a `string_param` of
//!   `char[100]`; `init_boot_pages()` (called by xen/arch/x86/setup.c for
//!   each RAM range of the memory map) reads it with `simple_strtoul(p, &p,
//!   0)` (xen/lib/strtoul.c: base 0, so hexadecimal needs its `0x`: `12345`
//!   is decimal and a leading `0` octal), `A-B` an inclusive range, `,`
//!   between items, and stops at anything else; each range is cut out of
//!   the boot allocator's regions (`bootmem_region_zap`), so the frames are
//!   never handed to the heap, dom0 or a guest. Xen prints nothing about it
//!   but its command line at boot (xen/arch/x86/setup.c: `Command line:`).
//! - xen/common/kernel.c `parse_params()`: a string parameter is copied with
//!   `strlcpy` into its buffer: a longer value is silently cut at 99
//!   characters (a number cut in the middle would name another frame), and
//!   a second `badpage=` replaces the first (the last one wins). Each option
//!   is also cut at `MAX_PARAM_SIZE` - 1 = 127 characters
//!   (xen/include/xen/param.h). So the value written here never exceeds
//!   [`BADPAGE_MAX`]; what does not fit is left out (see [`fit`]).
//! - What `xen-hptool mem-status` says of such a frame: `query_page_offline`
//!   (xen/common/page_alloc.c) reports the page's `PGC_state`; a frame cut
//!   out at boot was never freed into the heap, so its `page_info` keeps the
//!   zeroed state of the frame table (xen/arch/x86/mm.c
//!   `init_frametable_chunk`: `PGC_state_inuse`, no owner): status 0,
//!   "PAGE_ONLINED", neither offlined nor offline-pending. Offlining it then
//!   fails as "an anonymous page" (xen/common/page_alloc.c `offline_page`,
//!   tools/misc/xen-hptool.c), yet marks it offline-pending. So the
//!   service, which offlines retired pages again at start, reads the
//!   running Xen's `badpage=` ([`xen_badpages`]) and takes that refusal for
//!   such a frame as "out of service" ([`kept_out_at_boot`]).
//!
//! Debian trixie's GRUB (grub2-common, grub-common):
//!
//! - /usr/sbin/grub-mkconfig sources /etc/default/grub, then each
//!   /etc/default/grub.d/*.cfg in the shell's glob order (`set -e`);
//!   /usr/sbin/update-grub is `grub-mkconfig -o /boot/grub/grub.cfg`.
//! - /etc/grub.d/20_linux_xen gives Xen `${GRUB_CMDLINE_XEN}
//!   ${GRUB_CMDLINE_XEN_DEFAULT}` in its default and advanced entries and
//!   only `${GRUB_CMDLINE_XEN}` in its recovery entries: the snippet appends
//!   to `GRUB_CMDLINE_XEN`, so a recovery boot keeps the frames out too.
//! - xen-hypervisor-common ships /etc/default/grub.d/xen.cfg, where the
//!   admin may *assign* `GRUB_CMDLINE_XEN`. The snippet's name
//!   ([`DEFAULT_SNIPPET`], `zz-...`) sorts after it in the C order (dash)
//!   and in a locale's (bash), so it appends last and nothing the admin set
//!   is lost; it changes no other variable. If `badpage=` is already on
//!   either variable (the admin's own list), the snippet adds nothing (Xen
//!   would take only the last one) and says so on update-grub's output,
//!   which the service logs.
//!
//! The snippet is rewritten (atomically, as the state file) and update-grub
//! run only when the list changes; update-grub is bounded by a timeout, a
//! failure is logged once and counted (`xen_mcelog_retire_update_grub_
//! failures_total`) and tried again later; nothing here stops the records.
//!
//! The parts: the `badpage=` value (`badpage`), Xen's reading of its
//! command line (`cmdline`), the GRUB snippet (`snippet`) and the service's
//! upkeep of it and update-grub (`persist`), each with its tests; the
//! tests' shared fixtures are in `tests`.

mod badpage;
mod cmdline;
mod persist;
mod snippet;
#[cfg(test)]
mod tests;

pub use badpage::{fit, ranges, render, retired_frames, Fit, BADPAGE_MAX};
pub use cmdline::{covered, kept_out_at_boot, running_xen_badpages, xen_badpages};
pub use persist::{
    modified, run_bounded, Persist, DEFAULT_GRUB_CFG, DEFAULT_UPDATE_GRUB, UPDATE_GRUB_RETRY,
    UPDATE_GRUB_TIMEOUT,
};
pub use snippet::{snippet_text, snippet_value, DEFAULT_SNIPPET};
