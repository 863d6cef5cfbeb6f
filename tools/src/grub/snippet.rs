// SPDX-License-Identifier: GPL-2.0-only

//! The GRUB snippet (/etc/default/grub.d/zz-xen-mcelog-badpages.cfg):
//! its text, which appends `badpage=` to `GRUB_CMDLINE_XEN` unless the
//! admin set one, and the value read back from it.

use super::BADPAGE_MAX;

/// The snippet's default place: sorts after Debian's xen.cfg.
pub const DEFAULT_SNIPPET: &str = "/etc/default/grub.d/zz-xen-mcelog-badpages.cfg";
/// The snippet's variable holding the list.
const VAR: &str = "XEN_MCELOG_BADPAGES";

/// The snippet's text for a `badpage=` value (empty: adds nothing).
pub fn snippet_text(value: &str) -> String {
    let mut s = format!(
        "# Written by xen-mcelog-dump --retire (persist = grub in /etc/xen-mcelog/retire.conf):\n\
         # the machine frames page retirement has retired, for Xen's badpage= option,\n\
         # so that Xen keeps them out of its allocator from boot on. Rewritten, and\n\
         # update-grub run, whenever that list changes: do not edit (set persist = off\n\
         # and remove this file, then run update-grub, to stop it).\n\
         # grub-mkconfig sources it after /etc/default/grub and the other\n\
         # /etc/default/grub.d/*.cfg (its name sorts last); it only appends to\n\
         # GRUB_CMDLINE_XEN (every Xen entry, recovery included). Xen takes only the\n\
         # last badpage= and at most {BADPAGE_MAX} characters of it: with a badpage= of your\n\
         # own already there, nothing is added (update-grub says so).\n\
         {VAR}=\"{value}\"\n"
    );
    if !value.is_empty() {
        s.push_str(&format!(
            "case \" ${{GRUB_CMDLINE_XEN-}} ${{GRUB_CMDLINE_XEN_DEFAULT-}} \" in\n\
             *\" badpage=\"*)\n\
             \techo \"xen-mcelog: badpage= is already on Xen's command line (GRUB_CMDLINE_XEN or \
             GRUB_CMDLINE_XEN_DEFAULT) and Xen takes only the last one: the retired frames \
             ${VAR} are not added; merge them into it\" >&2 ;;\n\
             *)\n\
             \tGRUB_CMDLINE_XEN=\"${{GRUB_CMDLINE_XEN:+$GRUB_CMDLINE_XEN }}badpage=${VAR}\" ;;\n\
             esac\n"
        ));
    }
    s
}

/// The `badpage=` value a snippet written by [`snippet_text`] holds.
pub fn snippet_value(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(VAR)?.strip_prefix("=\""))
        .and_then(|v| v.strip_suffix('"'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::grub::xen_badpages;
    use crate::scratch::Scratch;

    /// grub-mkconfig's sourcing (/usr/sbin/grub-mkconfig, Debian trixie's
    /// grub2-common 2.12: /etc/default/grub, then /etc/default/grub.d/*.cfg
    /// in glob order, under `set -e`), run by `shell` on a temp directory.
    fn grub_mkconfig_vars(shell: &str, etc: &Path) -> Option<String> {
        let script = "set -e\nsysconfdir=\"$1\"\n\
            if test -f ${sysconfdir}/default/grub ; then\n  . ${sysconfdir}/default/grub\nfi\n\
            for x in ${sysconfdir}/default/grub.d/*.cfg ; do\n  if [ -e \"${x}\" ]; then\n    . \"${x}\"\n  fi\ndone\n\
            printf 'XEN=[%s]\\nXEN_DEFAULT=[%s]\\nLINUX=[%s]\\nDEFAULT=[%s]\\n' \"$GRUB_CMDLINE_XEN\" \
            \"$GRUB_CMDLINE_XEN_DEFAULT\" \"$GRUB_CMDLINE_LINUX\" \"$GRUB_CMDLINE_LINUX_DEFAULT\"\n";
        let out = Command::new(shell)
            .args(["-c", script, "sh", etc.to_str().unwrap()])
            .env("LC_ALL", "en_US.UTF-8")
            .output()
            .ok()?;
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }

    #[test]
    fn sourced_by_grub_mkconfig_the_snippet_only_appends() {
        let dir = Scratch::new("grub-shell");
        let d = dir.join("default");
        fs::create_dir_all(d.join("grub.d")).unwrap();
        fs::write(
            d.join("grub"),
            "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n\
             GRUB_CMDLINE_XEN_DEFAULT=\"dom0_mem=4G,max:4G\"\n",
        )
        .unwrap();
        // Debian's xen.cfg with the admin's assignment uncommented.
        fs::write(
            d.join("grub.d/xen.cfg"),
            "echo \"Including Xen overrides from /etc/default/grub.d/xen.cfg\" >&2\n\
             GRUB_CMDLINE_XEN=\"console=com1 com1=115200,8n1\"\n",
        )
        .unwrap();
        let snip = d
            .join("grub.d")
            .join(Path::new(DEFAULT_SNIPPET).file_name().unwrap());
        fs::write(&snip, snippet_text("0x3a5b1,0x3a5c0-0x3a5c2")).unwrap();
        let mut shells = 0;
        for sh in ["/bin/sh", "/bin/dash", "/bin/bash"] {
            let Some(out) = grub_mkconfig_vars(sh, &dir) else {
                continue;
            };
            shells += 1;
            assert!(
                out.contains(
                    "XEN=[console=com1 com1=115200,8n1 badpage=0x3a5b1,0x3a5c0-0x3a5c2]\n"
                ),
                "{sh}: {out}"
            );
            assert!(
                out.contains("XEN_DEFAULT=[dom0_mem=4G,max:4G]\nLINUX=[]\nDEFAULT=[quiet]\n"),
                "{sh}: {out}"
            );
            // The default entry's Xen line, as 20_linux_xen writes it, is read
            // by Xen as these frames.
            let xen =
                "console=com1 com1=115200,8n1 badpage=0x3a5b1,0x3a5c0-0x3a5c2 dom0_mem=4G,max:4G";
            assert_eq!(
                xen_badpages(xen),
                vec![(0x3a5b1, 0x3a5b1), (0x3a5c0, 0x3a5c2)]
            );
        }
        assert!(shells > 0, "no shell to test with");
        // Without xen.cfg's assignment: appended to nothing, no leading space.
        fs::remove_file(d.join("grub.d/xen.cfg")).unwrap();
        if let Some(out) = grub_mkconfig_vars("/bin/sh", &dir) {
            assert!(
                out.contains("XEN=[badpage=0x3a5b1,0x3a5c0-0x3a5c2]\n"),
                "{out}"
            );
        }
        // The admin's own badpage=: left as it is, said on stderr.
        fs::write(
            d.join("grub"),
            "GRUB_CMDLINE_XEN_DEFAULT=\"dom0_mem=4G badpage=0x77\"\n",
        )
        .unwrap();
        if let Some(out) = grub_mkconfig_vars("/bin/sh", &dir) {
            assert!(
                out.contains("XEN=[]\nXEN_DEFAULT=[dom0_mem=4G badpage=0x77]\n"),
                "{out}"
            );
            assert!(
                out.contains("xen-mcelog: badpage= is already on Xen's command line"),
                "{out}"
            );
            assert!(
                out.contains("the retired frames 0x3a5b1,0x3a5c0-0x3a5c2 are not added"),
                "{out}"
            );
        }
        // An empty list adds nothing.
        fs::write(&snip, snippet_text("")).unwrap();
        fs::write(d.join("grub"), "GRUB_CMDLINE_XEN=\"x=1\"\n").unwrap();
        if let Some(out) = grub_mkconfig_vars("/bin/sh", &dir) {
            assert!(out.contains("XEN=[x=1]\n"), "{out}");
        }
    }

    #[test]
    fn the_snippet_sorts_after_debians_xen_cfg() {
        let name = Path::new(DEFAULT_SNIPPET)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        // The C order (dash's glob); a locale's ignores punctuation first,
        // and z sorts after x there too.
        assert!(name > "xen.cfg");
        assert!(name.starts_with("zz-"));
    }
}
