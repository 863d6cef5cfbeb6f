#!/usr/bin/env bash
# Builds Debian's rasdaemon (the source package from Debian's archive, with
# Debian's `--enable-all` configuration) twice inside the sid build root:
# unpatched, and with tools/rasdaemon/*.patch applied. Then bundles both
# binaries, sqlite3 and their shared libraries (with the loader) into one tar
# for the sandbox dom0, which extracts it over its busybox root:
#   $XMC_CACHE/out/bin/rasdaemon-dom0.tar
#     usr/sbin/rasdaemon-orig, usr/sbin/rasdaemon-xen, usr/bin/sqlite3,
#     lib/x86_64-linux-gnu/*.so*, lib64/ld-linux-x86-64.so.2
# Nothing third-party is committed: the source is fetched with `apt-get source`.
set -euo pipefail
. "$(dirname "$0")/env.sh"
[ -d "$XMC_ROOT/usr" ] || die "no build root; run tests/build/bootstrap.sh first"
W=$XMC_WORK/rasdaemon            # /xmc/rasdaemon inside the root
OUT=$XMC_CACHE/out/bin
mkdir -p "$W" "$OUT"

src_list=$XMC_ROOT/etc/apt/sources.list.d/xmc-src.list
if [ ! -e "$src_list" ]; then
    echo "deb-src $XMC_MIRROR sid main" > "$src_list"
    in_root apt-get update -q
fi
# Build-Depends of rasdaemon 0.8.4-2, the autoreconf tools dh uses, sqlite3
# for querying the database in dom0.
in_root apt-get install -y -q --no-install-recommends dpkg-dev autoconf automake libtool \
    pkg-config libpci-dev libsqlite3-dev libgettextpo-dev libtraceevent-dev sqlite3 >/dev/null
if ! ls -d "$W"/rasdaemon-0.8.4 >/dev/null 2>&1; then
    in_root sh -c 'cd /xmc/rasdaemon && apt-get source -q rasdaemon=0.8.4-2' >/dev/null
fi

build() {   # build NAME [PATCH...]
    local name=$1; shift
    local tree=$W/build-$name
    local stamp=$tree/.xmc-stamp
    local want
    want=$(cat "$@" /dev/null | sha256sum | cut -c1-16)
    if [ -x "$tree/rasdaemon" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        log "rasdaemon-$name: up to date"; return
    fi
    rm -rf "$tree"; cp -a "$W/rasdaemon-0.8.4" "$tree"
    for p in "$@"; do patch -d "$tree" -p1 --quiet < "$p"; done
    log "rasdaemon-$name: configure --enable-all, make"
    # debian/rules: dh --with autoreconf; dh_auto_configure -- --enable-all
    # --with-sysconfdefdir=/etc/default (plus dh's standard paths).
    in_root sh -c "cd /xmc/rasdaemon/build-$name && autoreconf -fi >/dev/null 2>&1 &&
        ./configure -q --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
            --enable-all --with-sysconfdefdir=/etc/default >/dev/null &&
        make -j2 >/dev/null"
    echo "$want" > "$stamp"
}
build orig
build xen "$XMC_REPO"/tools/rasdaemon/*.patch

log "bundling for dom0"
stage=$(mktemp -d "$XMC_WORK/rasbundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{usr/sbin,usr/bin,lib64,lib/x86_64-linux-gnu,var/lib/rasdaemon,etc/default}
cp "$W/build-orig/rasdaemon" "$stage/usr/sbin/rasdaemon-orig"
cp "$W/build-xen/rasdaemon" "$stage/usr/sbin/rasdaemon-xen"
cp "$XMC_ROOT/usr/bin/sqlite3" "$stage/usr/bin/sqlite3"
for bin in /xmc/rasdaemon/build-xen/rasdaemon /xmc/rasdaemon/build-orig/rasdaemon /usr/bin/sqlite3; do
    in_root ldd "$bin" | awk '/=> \//{print $3} /^\t\/lib64/{print $1}'
done | sort -u | while read -r lib; do
    case $lib in
        /lib64/*) cp -L "$XMC_ROOT$lib" "$stage/lib64/" ;;
        *) cp -L "$XMC_ROOT$lib" "$stage/lib/x86_64-linux-gnu/" ;;
    esac
done
(cd "$stage" && tar -cf "$OUT/rasdaemon-dom0.tar" --owner=0 --group=0 .)
ls -l "$OUT/rasdaemon-dom0.tar" >&2
echo "$OUT/rasdaemon-dom0.tar"
