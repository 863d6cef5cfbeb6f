#!/usr/bin/env bash
# make deb: the two Debian packages a dom0 admin installs, into
# $XMC_CACHE/out/deb/, then trixie's lintian on both (any error or warning
# fails; the overrides shipped in tools/deb/*.lintian-overrides say why).
#   xen-mcelog-dkms_<v>-1_all.deb     module sources + dkms.conf, the Rust
#                                     metadata tool and its kernel/APT hooks,
#                                     modprobe.d and udev files
#   xen-mcelog-tools_<v>-1_amd64.deb  xen-mcelog-dump, xmc-inject (static),
#                                     the systemd units, mcelog-xen.conf
# Built with dpkg-deb alone (no debhelper on the build host needed).
set -euo pipefail
. "$(dirname "$0")/../../tests/env.sh"
up=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$XMC_REPO/tools/dkms/dkms.conf")
[ -n "$up" ] || die "no PACKAGE_VERSION in tools/dkms/dkms.conf"
ver=$up-1
out=$XMC_CACHE/out/deb
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$XMC_REPO" log -1 --format=%ct 2>/dev/null || date +%s)}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
D=$XMC_REPO/tools/deb

# common PKGDIR NAME: docs, changelog, lintian overrides.
common() {
    local p=$1 name=$2
    install -D -m 0644 "$D/copyright" "$p/usr/share/doc/$name/copyright"
    printf '%s (%s) unstable; urgency=medium\n\n  * Built from xen_mcelog %s (git %s).\n\n -- %s  %s\n' \
        xen-mcelog "$ver" "$up" "$(git -C "$XMC_REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        "xen_mcelog developers <xen-mcelog@lists.invalid>" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" |
        gzip -9n > "$p/usr/share/doc/$name/changelog.Debian.gz"
    if [ -f "$D/$name.lintian-overrides" ]; then
        install -D -m 0644 "$D/$name.lintian-overrides" "$p/usr/share/lintian/overrides/$name"
    fi
}

# man SRC PKGDIR: a gzipped man page.
man() {
    mkdir -p "$2/usr/share/man/man8"
    sed "s/@UPSTREAM@/$up/" "$D/man/$1" | gzip -9n > "$2/usr/share/man/man8/$1.gz"
}

# finish PKGDIR CONTROL PREFIX: control file, maintainer scripts, conffiles,
# md5sums, then dpkg-deb.
finish() {
    local p=$1 ctl=$2 pre=$3 deb=$4
    mkdir -p "$p/DEBIAN"
    local size; size=$(du -sk --exclude=DEBIAN "$p" | cut -f1)
    sed "s/@VERSION@/$ver/; s/@SIZE@/$size/" "$D/$ctl" > "$p/DEBIAN/control"
    for s in postinst prerm postrm; do
        [ -f "$D/$pre.$s" ] && sed "s/@UPSTREAM@/$up/g" "$D/$pre.$s" > "$p/DEBIAN/$s" && chmod 0755 "$p/DEBIAN/$s"
    done
    (cd "$p" && find etc -type f 2>/dev/null | sort | sed 's|^|/|') > "$p/DEBIAN/conffiles"
    [ -s "$p/DEBIAN/conffiles" ] || rm "$p/DEBIAN/conffiles"
    (cd "$p" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) > "$p/DEBIAN/md5sums"
    find "$p" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    dpkg-deb --root-owner-group -Zxz --build "$p" "$out/$deb" >/dev/null
    log "built $out/$deb"
}

# --- xen-mcelog-dkms ---------------------------------------------------------
P=$work/dkms
bash "$XMC_REPO/tools/dkms/dkms.sh" stage "$P" >/dev/null
find "$P/usr/src" -type d -exec chmod 0755 {} + ; find "$P/usr/src" -type f -exec chmod 0644 {} +
chmod 0755 "$P/usr/src/xen_mcelog-$up/dkms-pre-build.sh"
install -D -m 0755 "$XMC_REPO/tools/dkms/xen-mcelog-rust-meta" "$P/usr/lib/xen_mcelog/xen-mcelog-rust-meta"
install -D -m 0755 "$XMC_REPO/tools/dkms/kernel-hook" "$P/etc/kernel/header_postinst.d/50-xen-mcelog-rust-meta"
install -D -m 0755 "$XMC_REPO/tools/dkms/kernel-hook" "$P/etc/kernel/postinst.d/50-xen-mcelog-rust-meta"
install -D -m 0755 "$XMC_REPO/tools/dkms/kernel-hook" "$P/etc/kernel/postrm.d/50-xen-mcelog-rust-meta"
install -D -m 0644 "$XMC_REPO/tools/dkms/90xen-mcelog.apt.conf" "$P/etc/apt/apt.conf.d/90xen-mcelog"
install -D -m 0644 "$XMC_REPO/tools/modprobe.d/xen_mcelog.conf" "$P/etc/modprobe.d/xen_mcelog.conf"
install -D -m 0644 "$XMC_REPO/tools/udev/60-xen_mcelog.rules" "$P/usr/lib/udev/rules.d/60-xen_mcelog.rules"
install -D -m 0644 "$XMC_REPO/tools/systemd/systemd-pstore-after-xen-mcelog.conf" \
    "$P/usr/lib/systemd/system/systemd-pstore.service.d/xen-mcelog.conf"
man xen-mcelog-rust-meta.8 "$P"
common "$P" xen-mcelog-dkms
finish "$P" dkms.control dkms "xen-mcelog-dkms_${ver}_all.deb"

# --- xen-mcelog-tools --------------------------------------------------------
bash "$XMC_REPO/tests/dom0-tools.sh" >/dev/null
P=$work/tools
for b in xen-mcelog-dump xmc-inject; do
    install -D -m 0755 "$XMC_CACHE/out/bin/$b" "$P/usr/sbin/$b"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$P/usr/sbin/$b"
    man "$b.8" "$P"
done
for u in xen-mcelog-json.service mcelog-xen.service; do
    mkdir -p "$P/usr/lib/systemd/system"
    sed 's|/usr/local/sbin/|/usr/sbin/|g; s|^# Install as /etc/systemd/system/.*|# Installed by xen-mcelog-tools.|' \
        "$XMC_REPO/tools/systemd/$u" > "$P/usr/lib/systemd/system/$u"
    chmod 0644 "$P/usr/lib/systemd/system/$u"
done
install -D -m 0644 "$XMC_REPO/tools/mcelog/mcelog-xen.conf" "$P/etc/mcelog/mcelog-xen.conf"
install -D -m 0644 "$XMC_REPO/tools/retire/retire.conf" "$P/etc/xen-mcelog/retire.conf"
install -D -m 0644 "$XMC_REPO/tools/udev/61-xen-mcelog-tools.rules" "$P/usr/lib/udev/rules.d/61-xen-mcelog-tools.rules"
install -D -m 0644 "$XMC_REPO/tools/systemd/xen-mcelog.target" "$P/usr/lib/systemd/system/xen-mcelog.target"
for r in alerts rules thresholds; do
    install -D -m 0644 "$XMC_REPO/tools/prometheus/xen-mcelog-$r.yml" "$P/usr/share/xen-mcelog/prometheus/xen-mcelog-$r.yml"
done
common "$P" xen-mcelog-tools
finish "$P" tools.control tools "xen-mcelog-tools_${ver}_amd64.deb"

# --- lintian (trixie's, in the trixie build root) ------------------------------
LR=$XMC_CACHE/trixie-root
if [ "${XMC_LINTIAN:-1}" = 1 ]; then
    [ -x "$LR/usr/bin/lintian" ] || XMC_ROOT=$LR in_root apt-get install -y -q --no-install-recommends lintian >/dev/null
    mkdir -p "$LR/tmp/xmc-deb"; rm -f "$LR"/tmp/xmc-deb/*.deb
    cp "$out"/xen-mcelog-*_"$ver"_*.deb "$LR/tmp/xmc-deb/"
    if ! XMC_ROOT=$LR in_root lintian --fail-on error,warning --info "/tmp/xmc-deb/xen-mcelog-dkms_${ver}_all.deb" \
            "/tmp/xmc-deb/xen-mcelog-tools_${ver}_amd64.deb"; then
        die "lintian found errors or warnings (above)"
    fi
    log "lintian (trixie): no error, no warning"
fi
ls -l "$out"/xen-mcelog-*_"$ver"_*.deb
