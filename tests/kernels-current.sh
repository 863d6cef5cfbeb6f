#!/usr/bin/env bash
# Is tests/kernels.conf current? Lists the Rust-enabled Debian amd64 kernels
# that Debian's archive holds today in trixie-backports, forky, sid and
# experimental, and fails naming each one tests/kernels.conf lacks
# (make kernels-current; make matrix runs it first).
#
# The rule (docs/kernels.md):
#   kernel     a linux-headers-<release>-amd64 package of the suite's
#              main/binary-amd64 index: the amd64 flavour, the one a Xen dom0
#              runs (cloud-amd64 and rt-amd64 are not looked at). A
#              linux-image without its linux-headers in the suite can get no
#              module at all (Kbuild and DKMS need the headers): only counted.
#   Rust       the headers' own .config says CONFIG_RUST=y and
#              CONFIG_XEN_PV_DOM0=y (xen_mcelog needs a PV dom0: the mca
#              hypercall is PV-only). No control field tells: linux-headers
#              Depends on gcc-N-for-host, never on rustc, and linux-binary's
#              Built-Using names only linux. So each kernel's linux-headers
#              .deb (about 2 MB) is downloaded once, checked against the SHA256
#              of the signed index, and only its .config kept, under
#              $XMC_CACHE/kernels-current, named by that SHA256.
#   buildable  linux-source-<major.minor> of exactly the kernel's version is
#              in the same suite: the Rust metadata no headers package ships
#              is regenerated from that source and nothing else
#              (tools/dkms/xen-mcelog-rust-meta on a dom0, tests/build/bootstrap.sh
#              here). A kernel whose own source is gone cannot get it.
#   counts     in each suite, for each series (major.minor), the newest
#              buildable kernel, when it is Rust-enabled: the one a host
#              following that series gets today. Older buildable kernels of
#              the series are "superseded" (kernels.conf may list them, need
#              not).
#   listed     a `kernel` line of tests/kernels.conf with the same release
#              and package version (one version in two suites is one kernel).
# Fails when a kernel that counts is not listed, and when a kernels.conf
# kernel is no longer in its suite (a fresh machine could not download it).
# The InRelease files are checked with gpgv against debian-archive-keyring;
# each Packages.xz is fetched by the hash that InRelease gives.
# Usage: tests/kernels-current.sh   (XMC_CURRENT_SUITES="..." for other suites)
# Prints a Markdown table, also written to $XMC_CACHE/out/KERNELS-CURRENT.md.
set -euo pipefail
. "$(dirname "$0")/build/env.sh"
SUITES=${XMC_CURRENT_SUITES:-"trixie-backports forky sid experimental"}
KEYRING=${XMC_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
DIR=$XMC_CACHE/kernels-current
OUT=$XMC_CACHE/out
for c in curl gpgv dpkg-deb tar python3 sha256sum; do
    command -v "$c" > /dev/null || die "$0 needs $c (apt-get install curl gpgv dpkg tar python3 coreutils)"
done
[ -f "$KEYRING" ] || die "no $KEYRING to check the archive's signatures with (apt-get install debian-archive-keyring)"
mkdir -p "$DIR" "$OUT"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

fetch() { curl -fsSL --retry 3 --connect-timeout 30 -o "$2" "$1"; }

# --- 1. each suite's signed Release, and its amd64 index by hash -------------
indexes=() keep=() dates=
for s in $SUITES; do
    fetch "$XMC_MIRROR/dists/$s/InRelease" "$tmp/InRelease-$s" || die "cannot download $XMC_MIRROR/dists/$s/InRelease"
    gpgv --keyring "$KEYRING" --output "$tmp/Release-$s" "$tmp/InRelease-$s" 2> "$tmp/gpgv-$s.log" ||
        { cat "$tmp/gpgv-$s.log" >&2; die "$s: the InRelease signature does not check out against $KEYRING"; }
    sha=$(awk '/^SHA256:/ { f = 1; next } /^[^ ]/ { f = 0 } f && $3 == "main/binary-amd64/Packages.xz" { print $1 }' "$tmp/Release-$s")
    [ -n "$sha" ] || die "$s: its Release names no main/binary-amd64/Packages.xz"
    f=$DIR/Packages-$sha.xz
    if [ ! -f "$f" ]; then
        log "$s: downloading main/binary-amd64/Packages.xz"
        fetch "$XMC_MIRROR/dists/$s/main/binary-amd64/by-hash/SHA256/$sha" "$f.part" ||
            fetch "$XMC_MIRROR/dists/$s/main/binary-amd64/Packages.xz" "$f.part" ||
            die "cannot download $s's main/binary-amd64/Packages.xz"
        [ "$(sha256sum < "$f.part" | cut -d' ' -f1)" = "$sha" ] ||
            { rm -f "$f.part"; die "$s: Packages.xz does not have the SHA256 its Release names (the mirror is mid-sync? run again)"; }
        mv "$f.part" "$f"
    fi
    indexes+=("$s=$f") keep+=("$f")
    dates+="${dates:+; }$s: $(sed -n 's/^Date: //p' "$tmp/Release-$s")"
done
for f in "$DIR"/Packages-*.xz; do                   # indexes no suite names any more
    [ -e "$f" ] || continue
    [[ " ${keep[*]} " == *" $f "* ]] || rm -f "$f"
done

# The whole decision, in one place: `scan` lists the kernels of the indexes,
# `table` rules on them once their .config files are here.
decide() { python3 "$XMC_REPO/tests/kernels_current.py" "$@"; }

# --- 2. the kernels, and each one's .config ------------------------------------
decide scan "${indexes[@]}" > "$tmp/scan"
while IFS=$'\t' read -r kind suite rel ver file sha _; do
    [ "$kind" = K ] || continue
    cfg=$DIR/config-$sha
    [ ! -s "$cfg" ] || continue
    log "$suite: reading the .config of linux-headers-$rel $ver"
    fetch "$XMC_MIRROR/$file" "$tmp/h.deb" || die "cannot download $XMC_MIRROR/$file"
    [ "$(sha256sum < "$tmp/h.deb" | cut -d' ' -f1)" = "$sha" ] || die "$file does not have the SHA256 of $suite's index"
    dpkg-deb --fsys-tarfile "$tmp/h.deb" | tar -xO "./usr/src/linux-headers-$rel/.config" > "$cfg.part" ||
        die "linux-headers-$rel $ver has no ./usr/src/linux-headers-$rel/.config"
    mv "$cfg.part" "$cfg"; rm -f "$tmp/h.deb"
done < "$tmp/scan"

# --- 3. against tests/kernels.conf ---------------------------------------------------
for id in $(kernel_ids); do
    line=$id
    for n in 1 2 3 4 5 6 7 8; do line+="|$(conf_field kernel "$id" $n)"; done
    echo "$line"
done > "$tmp/conf"
rc=0
decide table "$tmp/scan" "$tmp/conf" "$DIR" "$OUT/KERNELS-CURRENT.md" \
    "Debian amd64 kernels in $XMC_MIRROR on $(date -u '+%Y-%m-%d %H:%M UTC') (Release dates: $dates)" || rc=$?
[ $rc = 0 ] || die "tests/kernels.conf is not current (above; also in $OUT/KERNELS-CURRENT.md)"
