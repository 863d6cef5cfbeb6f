#!/usr/bin/env bash
# The upgrade path of xen-mcelog-dkms's maintainer scripts (debian/dh-data/
# autoscripts/{prerm,postinst}-dkms) with Debian's real dkms, without a Rust
# kernel: a trixie root with dkms and the headers of trixie's own kernel
# (no CONFIG_RUST), and copies of the built xen-mcelog-dkms package whose
# module source is swapped for a small C module named xen_mcelog that
# reports its version (MODULE_VERSION). The maintainer scripts are the
# package's own, with only the version changed.
#   tests/deb-dkms-upgrade.sh ROOT XEN_MCELOG_DKMS_DEB
# ROOT: a Debian root with dkms, gcc and linux-headers-<k> installed.
# Cases (TAP on stdout):
#   A installed and built for K: modinfo says A
#   A -> B (builds): B replaces A for K, A is gone from DKMS, dpkg exits 0
#   B -> C (does not compile): dpkg exits 0, the output names C's failure
#     and B's module, K keeps B's module, B stays in DKMS with its sources
#   C -> D (builds): D replaces B, B and C's leftovers are gone
#   removing the package removes every version and the module
set -euo pipefail
R=$1 deb=$2
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
. "$(dirname "$0")/lib/tap.sh"
# check_expr DESC EXPR: one TAP result, EXPR evaluated in this shell.
check_expr() { check "$1" eval "$2"; }
inroot() {
    unshare --mount --propagation private -- /bin/sh -c '
        root=$1; shift
        mount -t proc proc "$root/proc" || exit 125
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' inroot "$R" "$@"
}
K=$(ls "$R/lib/modules" | head -1)
[ -e "$R/lib/modules/$K/build/Makefile" ] || { echo "no headers for $K in $R"; exit 1; }
up=$(dpkg-deb -f "$deb" Version); up=${up%-*}

# mkpkg VERSION GOOD: the package at upstream VERSION; GOOD=0 gives a module
# that does not compile.
mkpkg() {
    local v=$1 good=$2 d=$W/pkg-$1
    rm -rf "$d"; dpkg-deb -R "$deb" "$d"
    rm -rf "$d/usr/src/xen_mcelog-$up"; mkdir -p "$d/usr/src/xen_mcelog-$v"
    cat > "$d/usr/src/xen_mcelog-$v/xen_mcelog.c" <<EOF
#include <linux/module.h>
MODULE_LICENSE("GPL");
MODULE_VERSION("$v");
$( [ "$good" = 1 ] || echo 'this does not compile;' )
static int __init x_init(void) { return 0; }
static void __exit x_exit(void) { }
module_init(x_init);
module_exit(x_exit);
EOF
    echo 'obj-m := xen_mcelog.o' > "$d/usr/src/xen_mcelog-$v/Kbuild"
    cat > "$d/usr/src/xen_mcelog-$v/dkms.conf" <<EOF
PACKAGE_NAME="xen_mcelog"
PACKAGE_VERSION="$v"
BUILT_MODULE_NAME[0]="xen_mcelog"
DEST_MODULE_LOCATION[0]="/updates/dkms"
AUTOINSTALL="yes"
EOF
    # Only dkms: the Rust toolchain the real package needs plays no part here.
    sed -i "s/^Version: .*/Version: $v-1/; s/^Depends: .*/Depends: dkms/" "$d/DEBIAN/control"
    sed -i "s/^DKMS_VERSION=$up\$/DKMS_VERSION=$v/" "$d/DEBIAN/prerm" "$d/DEBIAN/postinst"
    (cd "$d" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) > "$d/DEBIAN/md5sums"
    dpkg-deb --root-owner-group -b "$d" "$R/tmp/xmc-$v.deb" >/dev/null
}
mkpkg 1.0 1; mkpkg 2.0 1; mkpkg 3.0 0; mkpkg 4.0 1
# As modprobe finds it (modules.dep, which dkms updates).
ver() { inroot modinfo -k "$K" -F version xen_mcelog 2>/dev/null || echo none; }
registered() { inroot dkms status -m xen_mcelog 2>/dev/null | sed -n 's|^xen_mcelog/\([^,:]*\).*|\1|p' | sort -u | tr '\n' ' '; }

echo "1..12"
inroot dpkg -i /tmp/xmc-1.0.deb > "$W/a.log" 2>&1
# A kernel that is not Rust: the package's own hook builds nothing; build A
# by hand as the hook would for a Rust kernel.
inroot dkms install xen_mcelog/1.0 -k "$K" >> "$W/a.log" 2>&1
check_expr "A (1.0) installed for $K" '[ "$(ver)" = 1.0 ]'

rc=0; inroot dpkg -i /tmp/xmc-2.0.deb > "$W/b.log" 2>&1 || rc=$?
check_expr "A -> B (builds): dpkg exits 0" '[ $rc = 0 ]'
check_expr "B (2.0) replaced A for $K" '[ "$(ver)" = 2.0 ] && grep -q "replaced xen_mcelog 1.0 by 2.0 for $K" "$W/b.log"'
check_expr "A is gone from DKMS and /usr/src" '[ "$(registered)" = "2.0 " ] && [ ! -e "$R/usr/src/xen_mcelog-1.0" ]'

rc=0; inroot dpkg -i /tmp/xmc-3.0.deb > "$W/c.log" 2>&1 || rc=$?
check_expr "B -> C (does not compile): dpkg exits 0" '[ $rc = 0 ]'
check_expr "the output says C failed and $K keeps B" 'grep -q "xen_mcelog 3.0 failed to build for $K (dkms names its make.log above); $K keeps xen_mcelog 2.0" "$W/c.log"'
check_expr "$K keeps B's module" '[ "$(ver)" = 2.0 ]'
check_expr "B stays in DKMS with its sources beside C" '[ "$(registered)" = "2.0 3.0 " ] && [ -f "$R/usr/src/xen_mcelog-2.0/dkms.conf" ] &&
    inroot dkms status -m xen_mcelog -v 2.0 -k "$K" | grep -q ": installed"'

rc=0; inroot dpkg -i /tmp/xmc-4.0.deb > "$W/d.log" 2>&1 || rc=$?
check_expr "C -> D (builds): dpkg exits 0" '[ $rc = 0 ]'
check_expr "D replaced B; B and C are gone" '[ "$(ver)" = 4.0 ] && [ "$(registered)" = "4.0 " ] &&
    [ ! -e "$R/usr/src/xen_mcelog-2.0" ] && [ ! -e "$R/usr/src/xen_mcelog-3.0" ] && [ ! -e "$R/var/lib/xen-mcelog-dkms" ]'

rc=0; inroot dpkg --purge xen-mcelog-dkms > "$W/e.log" 2>&1 || rc=$?
check_expr "purge exits 0" '[ $rc = 0 ]'
check_expr "purge leaves no module and nothing in DKMS" '[ "$(ver)" = none ] && [ -z "$(registered)" ]'
tap_plan
if [ "$TAP_FAILED" -gt 0 ] || [ -n "${VERBOSE:-}" ]; then
    for l in a b c d e; do echo "# --- $l.log"; sed 's/^/# /' "$W/$l.log"; done
fi
[ "$TAP_FAILED" = 0 ]
