#!/usr/bin/env bash
# tools/dkms/xen-mcelog-rust-meta on a host still running an older kernel of
# its series (docs/kernels.md): the headers of 7.2.11+deb13 are installed,
# linux-source-7.2 has moved on to 7.2.12, and apt no longer offers
# linux-source-7.2 7.2.11. The kernel hook prints exactly one line (that
# kernel, its source no longer in apt's lists, upgrade to the current kernel)
# and exits 0, so the apt run goes on; a manual run prints the same line and
# fails; nothing is written into the headers. While apt still offers the
# kernel's own source, the tool does not say so.
# Runs on the host, no build root: the tool sees a fake /usr/src (a private
# mount namespace), a fake dpkg database (DPKG_ADMINDIR), fake apt lists
# (APT_CONFIG, a local file: repository) and a temporary work directory
# (XEN_MCELOG_RUST_WORK). Run by tools/tests/check-files.sh.
# Usage: tools/tests/rust-meta-hook.sh   (as root)
set -euo pipefail
. "$(dirname "$0")/../../tests/build/env.sh"
[ "$(id -u)" = 0 ] || die "$0 needs root (a private mount namespace over /usr/src)"
for c in unshare dpkg-query apt-get apt-cache; do
    command -v "$c" > /dev/null || die "$0 needs $c"
done
tool=$XMC_REPO/tools/dkms/xen-mcelog-rust-meta
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT

K=7.2.11+deb13-amd64 KV=7.2.11-1~bpo13+1 SV=7.2.12-1~bpo13+1

# /usr/src: the kernel's headers (a Rust kernel, trixie's toolchain texts)
# and linux-source-7.2's tarball.
hdr=$t/usr-src/linux-headers-$K
mkdir -p "$hdr"
cat > "$hdr/.config" <<'EOF'
CONFIG_CC_VERSION_TEXT="x86_64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"
CONFIG_RUSTC_VERSION_TEXT="rustc 1.85.1 (4eb161250 2025-03-15) (built from a source tarball)"
CONFIG_BINDGEN_VERSION_TEXT="bindgen 0.71.1"
CONFIG_RUST=y
EOF
: > "$t/usr-src/linux-source-7.2.tar.xz"

# stanza PACKAGE VERSION ARCH [STATUS]: one package record, of dpkg's status
# file (with STATUS) or of a Packages index.
stanza() {
    printf 'Package: %s\nPriority: optional\nSection: kernel\nMaintainer: xen_mcelog tests <root@localhost>\nArchitecture: %s\nVersion: %s\n' "$1" "$3" "$2"
    if [ -n "${4:-}" ]; then echo "Status: $4"; else printf 'Filename: pool/%s_%s_%s.deb\nSize: 1\n' "$1" "$2" "$3"; fi
    printf 'Description: fake\n\n'
}
# dpkg_has [SOURCE_VERSION]: the installed packages: the headers, and
# linux-source-7.2 of that version (none without one).
dpkg_has() {
    mkdir -p "$t/dpkg/info" "$t/dpkg/updates"
    {
        stanza "linux-headers-$K" "$KV" amd64 "install ok installed"
        [ -z "${1:-}" ] || stanza linux-source-7.2 "$1" all "install ok installed"
    } > "$t/dpkg/status"
}
# apt_offers VERSION...: apt's lists offer linux-source-7.2 of these versions.
apt_offers() {
    rm -rf "$t/apt" "$t/repo"; mkdir -p "$t/apt/lists/partial" "$t/apt/cache/archives/partial" "$t/apt/parts" "$t/repo"
    local v
    for v in "$@"; do stanza linux-source-7.2 "$v" all; done > "$t/repo/Packages"
    echo "deb [trusted=yes] file:$t/repo ./" > "$t/apt/sources.list"
    cat > "$t/apt.conf" <<EOF
Dir::State::status "$t/dpkg/status";
Dir::State::lists "$t/apt/lists/";
Dir::Cache "$t/apt/cache/";
Dir::Etc::sourcelist "$t/apt/sources.list";
Dir::Etc::sourceparts "$t/apt/parts/";
Dir::Etc::parts "$t/apt/parts/";
Dir::Etc::main "/dev/null";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$t/apt/parts/";
APT::Sandbox::User "root";
EOF
    APT_CONFIG=$t/apt.conf apt-get update -qq > "$t/apt-update.log" 2>&1 ||
        { cat "$t/apt-update.log"; die "apt-get update of the fake lists failed"; }
}
# run_tool ARGS...: the tool on the fakes, as in a new apt run (a fresh work
# directory: nothing said or remembered yet); its output in $out, its status
# in $rc.
run_tool() {
    rc=0
    rm -rf "$t/work"
    out=$(DPKG_ADMINDIR=$t/dpkg APT_CONFIG=$t/apt.conf XEN_MCELOG_RUST_WORK=$t/work unshare --mount --propagation private \
        sh -c 'mount --bind "$1" /usr/src && shift && exec sh "$@"' _ "$t/usr-src" "$tool" "$@" 2>&1) || rc=$?
}

want="xen_mcelog: cannot build xen_mcelog for $K: its own source, linux-source-7.2 $KV, is no longer in apt's lists (installed: $SV); upgrade to the current kernel (apt-get install -t trixie-backports linux-image-amd64 linux-headers-amd64) and reboot into it"

# 1. linux-source-7.2 installed at 7.2.12, apt offers 7.2.12 only.
dpkg_has "$SV"; apt_offers "$SV"
run_tool --hook "$K"
[ "$rc" = 0 ] || die "the kernel hook failed ($rc) for $K: $out"
[ "$out" = "$want" ] || die "the kernel hook for $K printed:
$out
instead of:
$want"
[ ! -e "$hdr/rust" ] || die "the kernel hook wrote into the headers of $K"
log "hook, source moved on: exit 0, one line: $out"
run_tool "$K"
[ "$rc" = 1 ] && [ "$out" = "$want" ] || die "a manual run for $K: exit $rc, printed: $out"
log "manual run, source moved on: exit 1, the same line"

# 2. No linux-source-7.2 installed at all: the same advice, nothing installed named.
dpkg_has; apt_offers "$SV"
run_tool --hook "$K"
want2="xen_mcelog: cannot build xen_mcelog for $K: its own source, linux-source-7.2 $KV, is no longer in apt's lists; upgrade to the current kernel (apt-get install -t trixie-backports linux-image-amd64 linux-headers-amd64) and reboot into it"
[ "$rc" = 0 ] && [ "$out" = "$want2" ] || die "the kernel hook without linux-source-7.2: exit $rc, printed: $out"
log "hook, no source installed: exit 0, one line: $out"

# 3. apt still offers 7.2.11 (an archive that keeps older sources): no
# upgrade advice; the tool goes on to its other checks (which line depends
# on this host's toolchain: only its form is checked).
dpkg_has "$SV"; apt_offers "$SV" "$KV"
run_tool --hook "$K"
[ "$rc" = 0 ] && [ "$(wc -l <<< "$out")" = 1 ] && [[ $out == "xen_mcelog: "* ]] && [[ $out != *"no longer in apt's lists"* ]] ||
    die "the kernel hook while apt offers linux-source-7.2 $KV: exit $rc, printed: $out"
log "hook, source still offered: exit 0, no upgrade advice: $out"
log "rust-meta-hook: all 3 cases passed"
