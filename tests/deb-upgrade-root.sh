#!/usr/bin/env bash
# make check-deb-upgrade: tests/deb-dkms-upgrade.sh (xen-mcelog-dkms's upgrade
# path with Debian's real dkms) in a trixie root made for it: debootstrap
# trixie, dkms, gcc and trixie's own kernel headers (no Rust needed: the test
# swaps in a small C module), and the built package's dependencies (apt
# installs the package once, then purges it). Cached in
# $XMC_CACHE/deb-upgrade-root-<key> (keyed by this script and
# debian/control); each run works on a fresh copy, so a failed run leaves no
# trace in the next.
set -euo pipefail
. "$(dirname "$0")/build/env.sh"
deb=$(ls "$XMC_CACHE"/out/deb/xen-mcelog-dkms_*_all.deb 2>/dev/null | tail -1)
[ -f "$deb" ] || die "no xen-mcelog-dkms package: make deb first"
key=$( (echo "$XMC_MIRROR"; sha256sum "$0" "$XMC_REPO/debian/control" | cut -d' ' -f1) | sha256sum | cut -c1-12)
R=$XMC_CACHE/deb-upgrade-root-$key
inr() {
    unshare --mount --propagation private -- /bin/sh -c '
        root=$1; shift
        mount -t proc proc "$root/proc" || exit 125
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' inr "$1" "${@:2}"
}
if [ ! -f "$R/.xmc-ready" ]; then
    rm -rf "$XMC_CACHE"/deb-upgrade-root-*
    command -v debootstrap > /dev/null || apt-get install -y -q debootstrap > /dev/null
    log "deb upgrade test: trixie root with dkms and trixie's kernel headers (a few minutes)"
    debootstrap --variant=minbase trixie "$R" "$XMC_MIRROR" > "$XMC_CACHE/deb-upgrade-root.log" 2>&1 ||
        { tail -20 "$XMC_CACHE/deb-upgrade-root.log"; die "debootstrap failed"; }
    echo 'APT::Install-Recommends "false";' > "$R/etc/apt/apt.conf.d/99no-recommends"
    cp "$deb" "$R/tmp/xmc-dkms.deb"
    inr "$R" sh -ec 'apt-get update -q && apt-get install -y -q dkms gcc make kmod linux-headers-amd64 &&
        apt-get install -y -q /tmp/xmc-dkms.deb && dpkg --purge xen-mcelog-dkms && rm -f /tmp/xmc-dkms.deb &&
        apt-get clean' >> "$XMC_CACHE/deb-upgrade-root.log" 2>&1 ||
        { tail -30 "$XMC_CACHE/deb-upgrade-root.log"; die "preparing the root failed"; }
    touch "$R/.xmc-ready"
fi
W=$XMC_CACHE/deb-upgrade-run; rm -rf "$W"; cp -a "$R" "$W"
trap 'rm -rf "$W"' EXIT
bash "$XMC_REPO/tests/deb-dkms-upgrade.sh" "$W" "$deb"
