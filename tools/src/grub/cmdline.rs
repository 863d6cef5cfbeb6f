// SPDX-License-Identifier: GPL-2.0-only

//! Xen's command line as Xen reads it: the frames its `badpage=` keeps out
//! of the allocator (the running Xen's, through privcmd), and what a
//! refusal to offline such a frame means at start.

use super::BADPAGE_MAX;
use crate::retire::{Level, Outcome};

/// The frames Xen keeps out of its allocator for a command line, as
/// inclusive ranges, read the way Xen 4.20 reads it: the last `badpage=`
/// option (xen/common/kernel.c `parse_params`: options split at spaces,
/// each cut at 127 characters; `no-badpage` too, with an empty value; the
/// value cut at 99 by `strlcpy`), then xen/common/page_alloc.c
/// `init_boot_pages`' loop with xen/lib/strtoul.c's base-0 numbers.
pub fn xen_badpages(cmdline: &str) -> Vec<(u64, u64)> {
    let mut value: Option<&[u8]> = None;
    for opt in cmdline.split(' ').filter(|o| !o.is_empty()) {
        let opt = &opt.as_bytes()[..opt.len().min(127)];
        let (key, val) = match opt.iter().position(|&c| c == b'=') {
            Some(i) => (&opt[..i], &opt[i + 1..]),
            None => (opt, &opt[opt.len()..]),
        };
        let key = key.strip_prefix(b"no-").unwrap_or(key);
        if key == b"badpage" {
            value = Some(&val[..val.len().min(BADPAGE_MAX)]);
        }
    }
    let Some(mut p) = value else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while !p.is_empty() {
        let (s, rest) = strtoul0(p);
        p = rest;
        let mut e = s;
        if p.first() == Some(&b'-') {
            let (v, rest) = strtoul0(&p[1..]);
            p = rest;
            e = v.max(s);
        }
        // An item followed by anything but `,` or the end is not taken.
        match p.first() {
            Some(b',') => p = &p[1..],
            None => {}
            Some(_) => break,
        }
        // bootmem_region_zap(s, e + 1): nothing when e + 1 wraps.
        if e != u64::MAX {
            out.push((s, e));
        }
    }
    ranges_union(out)
}

/// xen/lib/strtoul.c `simple_strtoul(cp, &end, 0)`.
fn strtoul0(mut p: &[u8]) -> (u64, &[u8]) {
    let mut base = 10u64;
    if p.first() == Some(&b'0') {
        base = 8;
        p = &p[1..];
        if matches!(p.first(), Some(b'x' | b'X')) && p.get(1).is_some_and(u8::is_ascii_hexdigit) {
            p = &p[1..];
            base = 16;
        }
    }
    let mut v = 0u64;
    while let Some(d) = p.first().and_then(|&c| (c as char).to_digit(16)) {
        if u64::from(d) >= base {
            break;
        }
        v = v.wrapping_mul(base).wrapping_add(u64::from(d));
        p = &p[1..];
    }
    (v, p)
}

/// Inclusive ranges, sorted and merged (overlapping or adjacent).
fn ranges_union(mut r: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    r.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (s, e) in r {
        match out.last_mut() {
            Some((_, le)) if s <= le.saturating_add(1) => *le = (*le).max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Whether `mfn` is in one of `ranges`.
pub fn covered(ranges: &[(u64, u64)], mfn: u64) -> bool {
    ranges.iter().any(|&(s, e)| s <= mfn && mfn <= e)
}

/// What an offline request for a retired page at start means when Xen's
/// `badpage=` ([`xen_badpages`]) names the frame: Xen never freed it into
/// its heap, so it reports the page online (status 0), and offlining it
/// fails as "an anonymous page" (no owner, not free; Xen marks it
/// offline-pending then). That refusal means the page is out of service,
/// as Xen was told at boot: `Offlined` (logged), not `Refused`, which would
/// drop it from the snippet. Any other outcome stands: a frame Xen placed
/// its own image or a boot module on before its allocator started
/// (xen/arch/x86/setup.c relocates them from the memory map without
/// reading `badpage=`) reached the heap later and is offlined as usual.
pub fn kept_out_at_boot(
    mfn: u64,
    out: Outcome,
    boot: &[(u64, u64)],
    log: &mut dyn FnMut(Level, String),
) -> Outcome {
    match out {
        Outcome::Refused(w) if w.contains("anonymous page") && covered(boot, mfn) => {
            log(
                Level::Notice,
                format!(
                    "page {mfn:#x}: kept out of Xen's allocator since boot (badpage= on Xen's \
                     command line): nobody had it, Xen now marks it offline-pending"
                ),
            );
            Outcome::Offlined
        }
        o => o,
    }
}

/// The running Xen's `badpage=` frames (through /dev/xen/privcmd).
pub fn running_xen_badpages() -> Result<Vec<(u64, u64)>, String> {
    let f = crate::sys::open(
        crate::sys::PRIVCMD_PATH,
        crate::sys::Mode {
            rdwr: true,
            ..Default::default()
        },
    )
    .map_err(|e| format!("{}: {e}", crate::sys::PRIVCMD_PATH))?;
    let line = crate::sys::xen_commandline(&f).map_err(|e| format!("XENVER_commandline: {e}"))?;
    Ok(xen_badpages(&line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xen_reads_badpage_as_page_alloc_c_does() {
        assert_eq!(xen_badpages("console=com1"), vec![]);
        assert_eq!(
            xen_badpages("badpage=0x3f45,0x8a321"),
            vec![(0x3f45, 0x3f45), (0x8a321, 0x8a321)]
        );
        // Base 0: decimal without 0x, octal with a leading 0.
        assert_eq!(xen_badpages("badpage=100,010"), vec![(8, 8), (100, 100)]);
        // A range; an end below its start is the start.
        assert_eq!(
            xen_badpages("badpage=0x10-0x12,0x20-0x1"),
            vec![(0x10, 0x12), (0x20, 0x20)]
        );
        // The last badpage= wins; no-badpage empties it.
        assert_eq!(xen_badpages("badpage=0x1 x=y badpage=0x2"), vec![(2, 2)]);
        assert_eq!(xen_badpages("badpage=0x1 no-badpage"), vec![]);
        // Anything else stops the list, the item before it not taken.
        assert_eq!(xen_badpages("badpage=0x1,0x2;0x3"), vec![(1, 1)]);
        // Past 99 characters Xen cuts the value: the cut number names
        // another frame (0x1234567 instead of 0x12345678).
        let long = (0..9)
            .map(|i| format!("{:#x}", 0x100_0000 + i * 0x10))
            .collect::<Vec<_>>()
            .join(",")
            + ",0x12345678";
        assert_eq!(long.len(), 100);
        let got = xen_badpages(&format!("badpage={long}"));
        assert!(
            covered(&got, 0x123_4567) && !covered(&got, 0x1234_5678),
            "{got:?}"
        );
    }

    #[test]
    fn an_anonymous_refusal_of_a_badpage_frame_means_kept_out() {
        let boot = xen_badpages("badpage=0x3a5b1,0x3a5c0-0x3a5c2");
        let anon = || {
            Outcome::Refused(
                "Memory mfn 3a5c1 offline failed the memory is an anonymous page!".into(),
            )
        };
        let mut logs = Vec::new();
        let mut log = |l: Level, s: String| logs.push(format!("<{}>{s}", l as u8));
        assert_eq!(
            kept_out_at_boot(0x3a5c1, anon(), &boot, &mut log),
            Outcome::Offlined
        );
        // Not on Xen's command line, or another refusal, or offlined: as is.
        assert_eq!(kept_out_at_boot(0x3a5c3, anon(), &boot, &mut log), anon());
        let xp = Outcome::Refused("Xen's own page".into());
        assert_eq!(kept_out_at_boot(0x3a5b1, xp.clone(), &boot, &mut log), xp);
        assert_eq!(
            kept_out_at_boot(0x3a5b1, Outcome::Pending(Some(3)), &boot, &mut log),
            Outcome::Pending(Some(3))
        );
        assert_eq!(logs.len(), 1);
        assert!(logs[0].starts_with("<5>page 0x3a5c1: kept out of Xen's allocator since boot"));
    }
}
