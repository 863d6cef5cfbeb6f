#!/usr/bin/env bash
# make deb: the two Debian packages, built from debian/ exactly as an admin
# builds them on a Debian 13 dom0 (README, "Installing on your Debian dom0"):
#   apt-get build-dep ./ && dpkg-buildpackage -us -uc -b
# in a clean trixie root (debootstrap --variant=buildd; apt sources trixie and
# trixie-backports only), then trixie's lintian on both (any error or warning
# fails; debian/*.lintian-overrides say why for what they allow).
#   $XMC_CACHE/out/deb/xen-mcelog-dkms_<v>_all.deb
#   $XMC_CACHE/out/deb/xen-mcelog-tools_<v>_amd64.deb
# The root is $XMC_CACHE/deb-root-<key>, made here when missing (a fresh
# machine needs only root and the network to the Debian archive), keyed by
# the suite, the mirror, this script and debian/control (its Build-Depends
# are installed into it once). Each build starts from a fresh copy of the
# source tree in the root's /build (the same path every time: the packages
# are reproducible, see XMC_DEB_TWICE).
#   XMC_DEB_TWICE=1  build twice and require byte-identical .debs
set -euo pipefail
. "$(dirname "$0")/env.sh"
SUITE=trixie
key=$( (echo "$SUITE $XMC_MIRROR"; sha256sum "$0" "$XMC_REPO/debian/control" | cut -d' ' -f1) |
    sha256sum | cut -c1-12)
R=$XMC_CACHE/deb-root-$key
out=$XMC_CACHE/out/deb
mkdir -p "$XMC_CACHE" "$out"
exec 8>"$XMC_CACHE/deb-root.lock"; flock 8

# deb_root CMD...: CMD in the root, in a mount namespace of its own with
# /proc and a private devpts (the tools' tests open pseudo-terminals), as a
# build daemon's chroot has them.
deb_root() {
    nice -n 10 unshare --mount --propagation private -- /bin/sh -c '
        root=$1; shift
        mount -t proc proc "$root/proc" || exit 125
        mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts" || exit 125
        mount --bind "$root/dev/pts/ptmx" "$root/dev/ptmx" || exit 125
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' deb_root "$R" "$@"
}

if [ ! -f "$R/.xmc-ready" ]; then
    rm -rf "$XMC_CACHE"/deb-root-*
    command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >&2
    log "deb build root: debootstrap $SUITE (buildd variant) into $R"
    debootstrap --variant=buildd "$SUITE" "$R.tmp" "$XMC_MIRROR" > "$XMC_CACHE/deb-root.log" 2>&1 ||
        { tail -20 "$XMC_CACHE/deb-root.log"; die "debootstrap $SUITE failed (log: $XMC_CACHE/deb-root.log)"; }
    printf 'deb %s %s main\ndeb %s %s-backports main\n' "$XMC_MIRROR" "$SUITE" "$XMC_MIRROR" "$SUITE" \
        > "$R.tmp/etc/apt/sources.list"
    rm -f "$R.tmp"/etc/apt/sources.list.d/*
    echo 'APT::Install-Recommends "false";' > "$R.tmp/etc/apt/apt.conf.d/99no-recommends"
    mv "$R.tmp" "$R"
    deb_root apt-get update -q >> "$XMC_CACHE/deb-root.log" 2>&1 || die "apt-get update in $R failed"
    mkdir -p "$R/build/xen-mcelog/debian"
    cp "$XMC_REPO/debian/control" "$R/build/xen-mcelog/debian/"
    deb_root sh -c 'cd /build/xen-mcelog && apt-get build-dep -y -q ./ && apt-get install -y -q lintian' \
        >> "$XMC_CACHE/deb-root.log" 2>&1 ||
        { tail -20 "$XMC_CACHE/deb-root.log"; die "installing the build dependencies failed"; }
    deb_root apt-get clean
    touch "$R/.xmc-ready"
fi

# build: the working tree (tracked and new files, as git sees them) into
# /build/xen-mcelog, apt-get build-dep ./ (nothing to do once the root has
# them), dpkg-buildpackage. Prints the .deb names.
build() {
    rm -rf "$R/build"; mkdir -p "$R/build/xen-mcelog"
    (cd "$XMC_REPO" && git ls-files -z -co --exclude-standard | tar --null -cf - -T -) |
        tar -xf - -C "$R/build/xen-mcelog"
    deb_root sh -c 'cd /build/xen-mcelog && apt-get build-dep -y -q ./ >/dev/null &&
        dpkg-buildpackage -us -uc -b' > "$XMC_CACHE/deb-build.log" 2>&1 ||
        { tail -30 "$XMC_CACHE/deb-build.log"; die "dpkg-buildpackage failed (log: $XMC_CACHE/deb-build.log)"; }
}
t0=$(date +%s)
build
ver=$(dpkg-deb -f "$R"/build/xen-mcelog-dkms_*_all.deb Version)
debs=("xen-mcelog-dkms_${ver}_all.deb" "xen-mcelog-tools_${ver}_amd64.deb")
log "dpkg-buildpackage in the $SUITE root: $(( $(date +%s) - t0 )) s"
if [ "${XMC_DEB_TWICE:-0}" = 1 ]; then
    first=$(mktemp -d); trap 'rm -rf "$first"' EXIT
    for d in "${debs[@]}" "xen-mcelog-tools-dbgsym_${ver}_amd64.deb"; do cp "$R/build/$d" "$first/"; done
    build
    for d in "${debs[@]}" "xen-mcelog-tools-dbgsym_${ver}_amd64.deb"; do
        cmp "$first/$d" "$R/build/$d" || die "$d differs between two builds"
    done
    log "reproducible: two builds gave byte-identical packages"
fi
if ! deb_root sh -c "cd /build && lintian --fail-on error,warning --info ${debs[*]}"; then
    die "lintian found errors or warnings (above)"
fi
log "lintian ($SUITE): no error, no warning"
rm -f "$out"/xen-mcelog-*.deb
for d in "${debs[@]}"; do cp "$R/build/$d" "$out/"; done
ls -l "${debs[@]/#/$out/}"
