// SPDX-License-Identifier: GPL-2.0-only

//! The `badpage=` value: which frames (the retired pages, earliest
//! retired first), written as Xen reads them (sorted hexadecimal, ranges
//! merged), and fitted into the 99 characters Xen keeps.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::retire::{PageState, State};

/// The longest `badpage=` value Xen keeps (`char opt_badpage[100]`).
pub const BADPAGE_MAX: usize = 99;

/// The retired frames (offlined or offline-pending) with the time each was
/// retired, earliest first (then by frame).
pub fn retired_frames(st: &State) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = st
        .pages
        .iter()
        .filter(|(_, p)| matches!(p.state, PageState::Offlined | PageState::Pending))
        .map(|(m, p)| (p.changed, *m))
        .collect();
    v.sort_unstable();
    v.into_iter().map(|(t, m)| (m, t)).collect()
}

/// Characters of `0x...` for `x`.
fn hex_len(x: u64) -> usize {
    let digits = (64 - x.leading_zeros() as usize).div_ceil(4).max(1);
    2 + digits
}

/// Characters of one item: `0xS` or `0xS-0xE`.
fn item_len(s: u64, e: u64) -> usize {
    hex_len(s) + if e > s { 1 + hex_len(e) } else { 0 }
}

/// Xen's `badpage=` value for inclusive `ranges` (sorted, disjoint,
/// not adjacent): `0x3a5b1,0x3a5c0-0x3a5c2`.
pub fn render(ranges: &[(u64, u64)]) -> String {
    let mut s = String::new();
    for (i, &(a, b)) in ranges.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{a:#x}");
        if b > a {
            let _ = write!(s, "-{b:#x}");
        }
    }
    s
}

/// Frames -> inclusive ranges, sorted, adjacent and repeated frames merged.
pub fn ranges(frames: impl IntoIterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut f: Vec<u64> = frames.into_iter().collect();
    f.sort_unstable();
    f.dedup();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for m in f {
        match out.last_mut() {
            Some((_, e)) if e.checked_add(1) == Some(m) => *e = m,
            _ => out.push((m, m)),
        }
    }
    out
}

/// What goes on Xen's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fit {
    /// The `badpage=` value (at most [`BADPAGE_MAX`] characters; empty
    /// when no frame).
    pub value: String,
    /// How many frames it names.
    pub frames: usize,
    /// The frames that did not fit, in frame order.
    pub left_out: Vec<u64>,
}

/// The `badpage=` value for `frames` (frame, time retired; in priority
/// order, [`retired_frames`]'s earliest first): sorted, ranges merged, at
/// most `max` characters. Frames are taken in priority order as long as the
/// value still fits (a frame next to one taken may still fit when a new one
/// does not), so a page retired later never pushes out one persisted
/// before, and the list stays the same when it is full. The frames left
/// out are still offlined again by the service after a reboot, as without
/// `persist`.
pub fn fit(frames: &[(u64, u64)], max: usize) -> Fit {
    // Inclusive ranges by start; the sum of item lengths; commas = n - 1.
    let mut taken: BTreeMap<u64, u64> = BTreeMap::new();
    let mut items_len = 0usize;
    let mut left_out = Vec::new();
    let mut n = 0usize;
    for &(f, _) in frames {
        if taken.range(..=f).next_back().is_some_and(|(_, &e)| e >= f) {
            continue;
        }
        let left = f
            .checked_sub(1)
            .and_then(|p| taken.range(..=p).next_back().filter(|(_, &e)| e == p))
            .map(|(&s, &e)| (s, e));
        let right = f
            .checked_add(1)
            .and_then(|q| taken.get(&q).map(|&e| (q, e)));
        let (s, e) = (left.map_or(f, |l| l.0), right.map_or(f, |r| r.1));
        let old =
            left.map_or(0, |(a, b)| item_len(a, b)) + right.map_or(0, |(a, b)| item_len(a, b));
        let new_items = items_len - old + item_len(s, e);
        let new_n = n + 1 - usize::from(left.is_some()) - usize::from(right.is_some());
        if new_items + new_n.saturating_sub(1) > max {
            left_out.push(f);
            continue;
        }
        if let Some((a, _)) = left {
            taken.remove(&a);
        }
        if let Some((a, _)) = right {
            taken.remove(&a);
        }
        taken.insert(s, e);
        items_len = new_items;
        n = new_n;
    }
    left_out.sort_unstable();
    let r: Vec<(u64, u64)> = taken.into_iter().collect();
    Fit {
        value: render(&r),
        frames: r.iter().map(|&(a, b)| (b - a + 1) as usize).sum(),
        left_out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grub::tests::at;
    use crate::grub::xen_badpages;
    use crate::retire::Page;

    #[test]
    fn the_value_is_sorted_hex_with_ranges_merged() {
        assert_eq!(fit(&[], BADPAGE_MAX).value, "");
        assert_eq!(fit(&at(&[0x3a5b1]), BADPAGE_MAX).value, "0x3a5b1");
        let f = fit(
            &at(&[0x3a5c2, 0x12, 0x3a5c0, 0x3a5c1, 0x13, 0x3a5b1, 0x3a5c1]),
            99,
        );
        assert_eq!(f.value, "0x12-0x13,0x3a5b1,0x3a5c0-0x3a5c2");
        assert_eq!((f.frames, f.left_out.len()), (6, 0));
        // Frame 0 and the largest frame are written as Xen reads them.
        assert_eq!(
            fit(&at(&[0, 1, 0xf_ffff_ffff]), 99).value,
            "0x0-0x1,0xfffffffff"
        );
        // Xen reads back exactly these frames.
        for set in [
            vec![0x3a5b1],
            vec![5, 6, 7, 9, 0x100, 0xfffff],
            vec![0x138c34, 0x138c35],
        ] {
            let f = fit(&at(&set), BADPAGE_MAX);
            let back = xen_badpages(&format!("console=com1 badpage={} noreboot", f.value));
            assert_eq!(back, ranges(set.iter().copied()), "{}", f.value);
        }
    }

    #[test]
    fn too_many_frames_keep_the_earliest_retired_within_99_characters() {
        // 7-digit frames: "0x1000000" is 9 characters, 10 of them with their
        // commas 99.
        let frames: Vec<u64> = (0..12u64).map(|i| 0x100_0000 + i * 0x10).collect();
        let f = fit(&at(&frames), BADPAGE_MAX);
        assert_eq!(f.value.len(), BADPAGE_MAX);
        assert_eq!(f.frames, 10);
        assert_eq!(f.left_out, frames[10..].to_vec());
        // Retired first, kept: a 12-character frame after 0x10 and seven
        // 9-character ones (87 characters) fits, the next does not, yet a
        // frame retired later next to 0x10 still does (0x10-0x11: 5 more).
        let mut list = vec![0x10];
        list.extend((0..7u64).map(|i| 0x100_0000 + i * 0x10));
        list.extend([0x10_0000_0000, 0x20_0000_0000, 0x11]);
        let g = fit(&at(&list), BADPAGE_MAX);
        assert_eq!(g.left_out, vec![0x20_0000_0000]);
        assert!(g.value.starts_with("0x10-0x11,0x1000000,"), "{}", g.value);
        assert_eq!(g.value.len(), 92);
        // What fits is what Xen keeps: not cut by its 99-character buffer.
        for v in [&f.value, &g.value] {
            let back = xen_badpages(&format!("badpage={v}"));
            assert_eq!(render(&back), *v);
        }
    }

    fn state(pages: &[(u64, PageState, u64)]) -> State {
        let mut st = State::default();
        for &(m, s, t) in pages {
            let mut p = Page {
                count: 0,
                since: t,
                errors: 3,
                state: s,
                attempts: 0,
                changed: t,
                owner: 0x7FF4,
            };
            p.state = s;
            st.pages.insert(m, p);
        }
        st
    }

    #[test]
    fn only_offlined_and_pending_pages_in_retirement_order() {
        let st = state(&[
            (0x30, PageState::Offlined, 300),
            (0x10, PageState::Pending, 200),
            (0x20, PageState::Refused, 100),
            (0x40, PageState::Counting, 100),
            (0x50, PageState::Deferred, 100),
            (0x60, PageState::Offlined, 100),
        ]);
        assert_eq!(
            retired_frames(&st),
            vec![(0x60, 100), (0x10, 200), (0x30, 300)]
        );
    }
}
