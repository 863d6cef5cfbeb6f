// SPDX-License-Identifier: GPL-2.0-only

//! Xen's version as Xen reports it, and the table of Xen's machine-check
//! defects against every release of Xen's repository.

use xmc_core::mcinfo::LogicalCpu;
use xmc_core::record::{VENDOR_AMD, VENDOR_INTEL};
use xmc_core::xen_version::*;

fn reported(major: u32, minor: u32, extra: &str) -> Reported {
    Reported::new(major << 16 | minor, extra.as_bytes())
}

fn parse(major: u32, minor: u32, extra: &str) -> Option<XenVersion> {
    reported(major, minor, extra).parse()
}

fn v(major: u16, minor: u16, patch: u16, released: bool, vendor: bool) -> XenVersion {
    XenVersion {
        major,
        minor,
        patch,
        released,
        vendor,
    }
}

#[test]
fn parses_xens_extraversions() {
    // Releases, the stable branch between releases, release candidates and
    // master (xen/Makefile's XEN_EXTRAVERSION of the release tags, of the
    // "update Xen version to X.Y.Z-pre" commits, of 4.21.0-rc1 and of
    // master).
    assert_eq!(parse(4, 20, ".4"), Some(v(4, 20, 4, true, false)));
    assert_eq!(parse(4, 20, ".0"), Some(v(4, 20, 0, true, false)));
    assert_eq!(parse(4, 20, ".5-pre"), Some(v(4, 20, 5, false, false)));
    assert_eq!(parse(4, 21, ".0-rc1"), Some(v(4, 21, 0, false, false)));
    assert_eq!(parse(4, 21, ".0-rc"), Some(v(4, 21, 0, false, false)));
    assert_eq!(parse(4, 23, "-unstable"), Some(v(4, 23, 0, false, false)));
    assert_eq!(parse(4, 19, ".12"), Some(v(4, 19, 12, true, false)));
}

#[test]
fn debians_xen_4_20_4() {
    // Debian 13's xen-hypervisor-4.20-amd64 4.20.4+63-g7abfd2bce2-0+deb13u1
    // is built from the stable branch after 4.20.4: its hypervisor image
    // holds the extraversion ".5-pre" and no vendor suffix.
    let x = reported(4, 20, ".5-pre");
    assert_eq!(x.parse(), Some(v(4, 20, 5, false, false)));
    assert_eq!(x.to_string(), "4.20.5-pre");
    let v = x.parse().unwrap();
    assert_eq!(MCA_ALLBANKS.verdict(&v), Verdict::NotAffected);
    assert_eq!(VENDOR_NUMBERS.verdict(&v), Verdict::NotAffected);
    // 4.20.4 lacks 28d61bb203; what came after it is not known here.
    assert_eq!(INTEL_FAMILIES.verdict(&v), Verdict::Unknown);
    let family_19 = Some(BootCpu {
        vendor: VENDOR_INTEL,
        family: 19,
    });
    assert_eq!(warnings(x, family_19).count(), 0);
}

#[test]
fn vendor_suffixes() {
    // XEN_VENDORVERSION after the number or after -pre.
    assert_eq!(parse(4, 17, ".5-15"), Some(v(4, 17, 5, true, true)));
    assert_eq!(parse(4, 17, ".3_04-150500"), Some(v(4, 17, 3, true, true)));
    assert_eq!(parse(4, 20, ".5-pre-x"), Some(v(4, 20, 5, false, true)));
    assert_eq!(parse(4, 22, "-unstable+x"), Some(v(4, 22, 0, false, true)));
    // A vendor's 4.20.1 may carry the fix: unknown, not affected either.
    let vendor = parse(4, 20, ".1-15").unwrap();
    assert_eq!(MCA_ALLBANKS.verdict(&vendor), Verdict::Unknown);
    // A vendor's 4.20.2 has it (nobody takes a fix out).
    let vendor = parse(4, 20, ".2-15").unwrap();
    assert_eq!(MCA_ALLBANKS.verdict(&vendor), Verdict::NotAffected);
    assert_eq!(warnings(reported(4, 20, ".1-15"), None).count(), 0);
}

#[test]
fn odd_answers_are_not_parsed() {
    for extra in [
        "", "<denied>", "4", "-pre", ".", ".-pre", ".x", "-rc1", "unstable", ".99999",
    ] {
        assert_eq!(parse(4, 20, extra), None, "{extra:?}");
        assert_eq!(warnings(reported(4, 20, extra), None).count(), 0);
    }
    // XENVER_version 0: no version at all.
    assert_eq!(parse(0, 0, ".1"), None);
    // Bytes after the first NUL are not part of it.
    let x = Reported::new(4 << 16 | 20, b".1\0junk");
    assert_eq!(x.parse(), Some(v(4, 20, 1, true, false)));
    assert_eq!(x.to_string(), "4.20.1");
    // Sixteen bytes without a NUL (Xen always ends the string, but the
    // buffer is what it is); more are cut.
    let x = Reported::new(4 << 16 | 20, b".1-0123456789abcdef");
    assert_eq!(x.extra, *b".1-0123456789abc");
    assert_eq!(x.parse(), Some(v(4, 20, 1, true, true)));
    // Unprintable bytes are not printed as they are.
    let x = Reported::new(4 << 16 | 20, b".1\x1b[31m\xff");
    assert_eq!(x.to_string(), "4.20.1?[31m?");
}

/// What Xen's sources say, for every release tag from 4.12.0 to 4.22.0 of
/// Xen's repository: `y` when the release has the defect. Made with, per
/// tag T, on xen/arch/x86/cpu/mcheck/mce.c of T:
/// - mca_allbanks: `mcabanks_set(i, mca_allbanks);` next to
///   `xchg(&mca_allbanks, all)` in `mca_cap_init` (the fixed line is
///   `mcabanks_set(i, all);`; 4.12 allocates the mask once and fills it);
/// - intel_families: `case X86_VENDOR_INTEL:` followed by
///   `switch ( c->x86 )` (families 6 and 15) in `mcheck_init`;
/// - vendor_numbers: no `xen2linux_vendor`.
const RELEASES: &str = "\
4.12.0 n y y;4.12.1 n y y;4.12.2 n y y;4.12.3 n y y;4.12.4 n y y;\
4.13.0 y y y;4.13.1 y y y;4.13.2 y y y;4.13.3 y y y;4.13.4 y y y;4.13.5 y y y;\
4.14.0 y y y;4.14.1 y y y;4.14.2 y y y;4.14.3 y y y;4.14.4 y y y;4.14.5 y y y;4.14.6 y y y;\
4.15.0 y y y;4.15.1 y y y;4.15.2 y y y;4.15.3 y y y;4.15.4 y y y;4.15.5 y y y;4.15.6 y y y;\
4.15.7 y y y;\
4.16.0 y y y;4.16.1 y y y;4.16.2 y y y;4.16.3 y y y;4.16.4 y y y;4.16.5 y y y;4.16.6 y y y;\
4.16.7 y y y;\
4.17.0 y y y;4.17.1 y y y;4.17.2 y y y;4.17.3 y y y;4.17.4 y y y;4.17.5 y y y;4.17.6 y y y;\
4.17.7 y y y;\
4.18.0 y y y;4.18.1 y y y;4.18.2 y y y;4.18.3 y y y;4.18.4 y y y;4.18.5 y y y;4.18.6 y y y;\
4.19.0 y y y;4.19.1 y y y;4.19.2 y y y;4.19.3 y y y;4.19.4 n y y;4.19.5 n y n;4.19.6 n y n;\
4.20.0 y y y;4.20.1 y y y;4.20.2 n y y;4.20.3 n y n;4.20.4 n y n;\
4.21.0 n y y;4.21.1 n y n;4.21.2 n y n;\
4.22.0 n n n";

#[test]
fn the_table_agrees_with_every_release() {
    let mut n = 0;
    for rec in RELEASES.split(';') {
        let f: Vec<&str> = rec.split(' ').collect();
        let (ver, facts) = (f[0], &f[1..]);
        let mut p = ver.split('.');
        let (major, minor) = (p.next().unwrap(), p.next().unwrap());
        let x = reported(
            major.parse().unwrap(),
            minor.parse().unwrap(),
            &format!(".{}", p.next().unwrap()),
        );
        let xv = x.parse().unwrap();
        for (d, fact) in DEFECTS.iter().zip(facts) {
            let got = d.verdict(&xv);
            let checked = CHECKED
                .iter()
                .any(|r| (r.major, r.minor) == (xv.major, xv.minor));
            let want = match *fact {
                "y" if checked => Verdict::Affected,
                // Branches before 4.13 were not checked: never a warning.
                "y" => Verdict::Unknown,
                _ => Verdict::NotAffected,
            };
            assert_eq!(got, want, "{} on Xen {ver}", d.name);
            n += 1;
        }
    }
    assert_eq!(n, 3 * 65);
}

#[test]
fn every_release_of_checked_is_a_release_listed() {
    for r in CHECKED {
        assert!(RELEASES.contains(&format!("{r} ")), "{r}");
        let next = format!("{}.{}.{} ", r.major, r.minor, r.patch + 1);
        assert!(
            !RELEASES.contains(&next),
            "{next}: CHECKED is not the newest"
        );
    }
}

#[test]
fn boundaries_of_each_row() {
    let cases: &[(&Defect, u32, &str, Verdict)] = &[
        // mca_allbanks: brought by 560cf418c845 (4.13.0-rc1), fixed in
        // 4.19.4, 4.20.2, 4.21.0.
        (&MCA_ALLBANKS, 12, ".4", Verdict::NotAffected),
        (&MCA_ALLBANKS, 13, ".0-rc1", Verdict::Unknown),
        (&MCA_ALLBANKS, 13, ".0", Verdict::Affected),
        (&MCA_ALLBANKS, 13, "-unstable", Verdict::Unknown),
        (&MCA_ALLBANKS, 18, ".6", Verdict::Affected),
        (&MCA_ALLBANKS, 18, ".7-pre", Verdict::Unknown),
        (&MCA_ALLBANKS, 18, ".7", Verdict::Unknown),
        (&MCA_ALLBANKS, 18, ".6-pre", Verdict::Affected),
        (&MCA_ALLBANKS, 19, ".3", Verdict::Affected),
        (&MCA_ALLBANKS, 19, ".4-pre", Verdict::Unknown),
        (&MCA_ALLBANKS, 19, ".4", Verdict::NotAffected),
        (&MCA_ALLBANKS, 19, ".5-pre", Verdict::NotAffected),
        (&MCA_ALLBANKS, 20, ".0-rc3", Verdict::Affected),
        (&MCA_ALLBANKS, 20, "-unstable", Verdict::Affected),
        (&MCA_ALLBANKS, 20, ".1", Verdict::Affected),
        (&MCA_ALLBANKS, 20, ".1-pre", Verdict::Affected),
        (&MCA_ALLBANKS, 20, ".2-pre", Verdict::Unknown),
        (&MCA_ALLBANKS, 20, ".2", Verdict::NotAffected),
        (&MCA_ALLBANKS, 20, ".3-pre", Verdict::NotAffected),
        (&MCA_ALLBANKS, 21, "-unstable", Verdict::Unknown),
        (&MCA_ALLBANKS, 21, ".0-rc1", Verdict::Unknown),
        (&MCA_ALLBANKS, 21, ".0", Verdict::NotAffected),
        (&MCA_ALLBANKS, 22, "-unstable", Verdict::NotAffected),
        // intel_families: every release before 28d61bb203 (4.22.0).
        (&INTEL_FAMILIES, 12, ".4", Verdict::Unknown),
        (&INTEL_FAMILIES, 13, ".0", Verdict::Affected),
        (&INTEL_FAMILIES, 19, ".6", Verdict::Affected),
        (&INTEL_FAMILIES, 19, ".7-pre", Verdict::Unknown),
        (&INTEL_FAMILIES, 20, ".4", Verdict::Affected),
        (&INTEL_FAMILIES, 20, ".4-pre", Verdict::Affected),
        (&INTEL_FAMILIES, 20, ".5", Verdict::Unknown),
        (&INTEL_FAMILIES, 21, ".2", Verdict::Affected),
        (&INTEL_FAMILIES, 21, ".3-pre", Verdict::Unknown),
        (&INTEL_FAMILIES, 22, "-unstable", Verdict::Unknown),
        (&INTEL_FAMILIES, 22, ".0-rc4", Verdict::Unknown),
        (&INTEL_FAMILIES, 22, ".0", Verdict::NotAffected),
        (&INTEL_FAMILIES, 22, ".1-pre", Verdict::NotAffected),
        (&INTEL_FAMILIES, 23, "-unstable", Verdict::NotAffected),
        // vendor_numbers: 4.9.0 on, fixed in 4.19.5, 4.20.3, 4.21.1, 4.22.0.
        (&VENDOR_NUMBERS, 8, ".5", Verdict::NotAffected),
        (&VENDOR_NUMBERS, 19, ".4", Verdict::Affected),
        (&VENDOR_NUMBERS, 19, ".5", Verdict::NotAffected),
        (&VENDOR_NUMBERS, 20, ".2", Verdict::Affected),
        (&VENDOR_NUMBERS, 20, ".3-pre", Verdict::Unknown),
        (&VENDOR_NUMBERS, 20, ".3", Verdict::NotAffected),
        (&VENDOR_NUMBERS, 21, ".0", Verdict::Affected),
        (&VENDOR_NUMBERS, 21, ".1", Verdict::NotAffected),
        (&VENDOR_NUMBERS, 22, ".0", Verdict::NotAffected),
    ];
    for &(d, minor, extra, want) in cases {
        let xv = parse(4, minor, extra).unwrap();
        assert_eq!(d.verdict(&xv), want, "{} on Xen 4.{minor}{extra}", d.name);
    }
    // A later major version descends from master: every fix is in it.
    let five = parse(5, 0, ".0").unwrap();
    for d in DEFECTS {
        assert_eq!(d.verdict(&five), Verdict::NotAffected, "{}", d.name);
    }
}

fn intel(family: u32) -> Option<BootCpu> {
    Some(BootCpu {
        vendor: VENDOR_INTEL,
        family,
    })
}

#[test]
fn warnings_name_the_fixing_releases() {
    let w: Vec<String> = warnings(reported(4, 20, ".1"), intel(6))
        .map(|w| w.to_string())
        .collect();
    assert_eq!(
        w,
        [
            "Xen 4.20.1: logs no machine-check bank: a #MC resets the host (\"No CPU \
          found valid MCE\"), and the AMD poller, the Intel poller without CMCI and \
          the boot-time scan report nothing; only Intel's CMCI still reports (Xen \
          commit 532988dccc, fixed in Xen 4.19.4, 4.20.2 and 4.21.0)"
        ]
    );
    let w: Vec<String> = warnings(reported(4, 20, ".4"), intel(19))
        .map(|w| w.to_string())
        .collect();
    assert_eq!(
        w,
        [
            "Xen 4.20.4 on this Intel CPU (family 19): sets up no machine-check \
          architecture, knowing Intel families 6 and 15 only: nothing is reported, \
          and a machine check puts the CPU into shutdown (CR4.MCE is clear) (Xen \
          commit 28d61bb203, fixed in Xen 4.22.0)"
        ]
    );
    // Both on 4.19.3 with an Intel family 18; the vendor numbering, which the
    // module works around, never.
    let names: Vec<&str> = warnings(reported(4, 19, ".3"), intel(18))
        .map(|w| w.defect.name)
        .collect();
    assert_eq!(names, ["mca_allbanks", "intel_families"]);
    assert_eq!(
        VENDOR_NUMBERS.fixed_in().to_string(),
        "4.19.5, 4.20.3, 4.21.1 and 4.22.0"
    );
}

#[test]
fn intel_families_concern_only_other_intel_families() {
    let x = reported(4, 20, ".4");
    let on = |cpu| warnings(x, cpu).count();
    assert_eq!(on(intel(6)), 0);
    assert_eq!(on(intel(15)), 0);
    assert_eq!(on(intel(18)), 1);
    assert_eq!(on(intel(5)), 1);
    let amd = Some(BootCpu {
        vendor: VENDOR_AMD,
        family: 0x19,
    });
    assert_eq!(on(amd), 0);
    // No CPU known: no warning about CPUs.
    assert_eq!(on(None), 0);
    // Fixed Xen: none.
    assert_eq!(warnings(reported(4, 22, ".0"), intel(19)).count(), 0);
}

#[test]
fn boot_cpu_is_xens_cpu_0() {
    let cpu = |cpunr, vendorid: &[u8; 12], family| {
        let mut id = [0u8; 16];
        id[..12].copy_from_slice(vendorid);
        LogicalCpu {
            cpunr,
            family,
            vendorid: id,
            ..LogicalCpu::default()
        }
    };
    let cpus = [cpu(1, b"AuthenticAMD", 0x19), cpu(0, b"GenuineIntel", 19)];
    assert_eq!(BootCpu::of(&cpus), intel(19));
    assert_eq!(
        BootCpu::of(&cpus[..1]),
        Some(BootCpu {
            vendor: VENDOR_AMD,
            family: 0x19
        })
    );
    assert_eq!(BootCpu::of(&[]), None);
}
