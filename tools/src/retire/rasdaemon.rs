// SPDX-License-Identifier: GPL-2.0-only

//! The other page offliner a dom0 may run: rasdaemon's `PAGE_CE_ACTION`,
//! which on a Xen dom0 would offline dom0's own pages for a machine
//! address (warned about at start).

use std::fs;

/// Where Debian's rasdaemon takes its settings.
pub const RASDAEMON_DEFAULTS: &str = "/etc/default/rasdaemon";

/// The `PAGE_CE_ACTION` of rasdaemon's defaults file's text, when it is one
/// that offlines dom0's own pages (`soft`, `hard`, `soft-then-hard`; Debian
/// ships `soft`). rasdaemon passes the address of an EDAC memory error to
/// the kernel's soft_offline_page; in a Xen dom0 that address is a machine
/// address, and the kernel takes it for one of dom0's pseudo-physical
/// frames: a healthy dom0 page would go, the failing one stay in use.
pub fn rasdaemon_page_action(text: &str) -> Option<String> {
    let v = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("PAGE_CE_ACTION="))
        .next_back()?
        .trim()
        .trim_matches('"')
        .to_string();
    (!matches!(v.as_str(), "" | "off" | "account")).then_some(v)
}

/// What is configured on this dom0 that would offline dom0's own pages
/// for a machine address (logged at start, when retirement is on).
pub fn dom0_offline_warnings() -> Vec<String> {
    let mut w = Vec::new();
    if let Some(a) = fs::read_to_string(RASDAEMON_DEFAULTS)
        .ok()
        .as_deref()
        .and_then(rasdaemon_page_action)
    {
        w.push(format!(
            "{RASDAEMON_DEFAULTS} has PAGE_CE_ACTION=\"{a}\": on a Xen dom0 rasdaemon would \
             soft-offline dom0's own page at the number of a machine page (a healthy page goes, \
             the failing one stays); set PAGE_CE_ACTION=\"off\" and let Xen retire pages"
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rasdaemon_offlining_dom0_pages_is_noticed() {
        assert_eq!(
            rasdaemon_page_action("# PAGE_CE_ACTION=\"off\"\nPAGE_CE_ACTION=\"soft\"\n"),
            Some("soft".into())
        );
        assert_eq!(
            rasdaemon_page_action("PAGE_CE_ACTION=\"soft\"\nPAGE_CE_ACTION=off\n"),
            None
        );
        assert_eq!(rasdaemon_page_action("PAGE_CE_THRESHOLD=\"50\"\n"), None);
    }
}
