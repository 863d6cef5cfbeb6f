#!/usr/bin/env bash
# Adds the stock kernel's Rust metadata to Debian's linux-headers package, so
# that out-of-tree Rust modules (this one, through DKMS or `make -C
# /lib/modules/$(uname -r)/build M=$PWD`) build against the installed headers.
#
#   tests/rust-headers.sh [--root DIR] [--check]
#
# Debian's linux-headers-<version> ships no rust/*.rmeta, no proc-macro .so and
# no scripts/target.json. They are regenerated in the sid build root from
# linux-source with the kernel's exact toolchain (tests/kernels.sh stock: the
# same tree the module is built against; measured to give the same crate
# hashes as Debian's Module.symvers), then copied:
#   rust/lib*.rmeta, rust/lib*.so  -> DIR/usr/src/linux-headers-<version>/rust/
#   scripts/target.json            -> linux-kbuild's scripts/ (what the headers'
#                                     scripts symlink points to)
# DIR is / by default (the dom0 you run this on) and the build root for the
# tests (make dkms-check). A list of the files added is left in
# rust/.xen_mcelog-overlay (remove them with `xargs rm < that file`).
#
# Refuses when the build root's rustc is not the one the kernel was built
# with (CONFIG_RUSTC_VERSION_TEXT): the crate hashes, and so every Rust symbol
# the module imports, depend on the exact rustc build. On a real dom0 the
# module is later compiled by that dom0's rustc (DKMS): it must be the same
# version too, which is checked and reported. --check only reports whether DIR
# already has an up-to-date overlay (exit 0) or not (exit 1).
set -euo pipefail
. "$(dirname "$0")/env.sh"

root=/ check_only=0
while [ $# -gt 0 ]; do
    case $1 in
        --root) root=$2; shift 2 ;;
        --check) check_only=1; shift ;;
        -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see $0 --help)" ;;
    esac
done
root=${root%/}
hdr=$root/usr/src/linux-headers-$XMC_KVER
[ -d "$hdr" ] || die "no $hdr: install Debian's linux-headers-$XMC_KVER first (apt-get install
    linux-headers-$XMC_KVER). This build root prepares Rust metadata for $XMC_KVER only
    (tests/env.sh XMC_KVER); other kernel versions need their own build root."
[ -f "$hdr/.config" ] || die "$hdr has no .config: not a Debian linux-headers tree"

want=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$hdr/.config")
[ -n "$want" ] || die "$hdr/.config has no CONFIG_RUSTC_VERSION_TEXT: the kernel was built without Rust (CONFIG_RUST)"

# Where the headers' scripts/ really lives (linux-kbuild-<version>/scripts).
link=$(readlink "$hdr/scripts" || true)
case $link in
    "") scripts=$hdr/scripts ;;
    /*) scripts=$root$link ;;
    *) scripts=$hdr/$link ;;
esac
[ -d "$scripts" ] || die "$hdr/scripts points to $scripts, which does not exist: is linux-kbuild installed?"
manifest=$hdr/rust/.xen_mcelog-overlay

if [ $check_only = 1 ]; then
    [ -f "$manifest" ] && grep -qxF "# rustc: $want" "$manifest" && [ -f "$scripts/target.json" ] &&
        [ -f "$hdr/rust/libkernel.rmeta" ] && exit 0
    exit 1
fi

[ -x "$XMC_ROOT/usr/bin/rustc" ] || die "no build root at $XMC_ROOT: run tests/bootstrap.sh (make bootstrap) first"
have=$(in_root rustc --version)
[ "$want" = "$have" ] || die "refusing: the build root's rustc is
    '$have'
but linux-headers-$XMC_KVER says the kernel was built with
    '$want'.
Metadata from a different rustc would not match the kernel's symbol hashes
(the module would fail to link or load). Install that exact rustc in the
build root ($XMC_ROOT) and re-run."
# The prepared tree is keyed by the build root's headers config; the target
# must be the same kernel build.
cmp -s "$XMC_KDIR/usr/src/linux-headers-$XMC_KVER/.config" "$hdr/.config" ||
    die "refusing: $hdr/.config differs from Debian's linux-headers-$XMC_KVER $XMC_KPKG_VER (tests/kernels.conf):
    not the same kernel build (update both to the same Debian package version)."

bash "$XMC_REPO/tests/kernels.sh" stock
obj=$XMC_ROOT$(bash "$XMC_REPO/tests/kernels.sh" path-stock)
[ -f "$obj/rust/libkernel.rmeta" ] && [ -f "$obj/scripts/target.json" ] ||
    die "$obj has no rust/libkernel.rmeta or scripts/target.json: the stock tree's prepare did not build rust/"

mkdir -p "$hdr/rust"
files=()
for f in "$obj"/rust/lib*.rmeta "$obj"/rust/lib*.so; do
    install -m 0644 "$f" "$hdr/rust/"
    files+=("${hdr#"$root"}/rust/$(basename "$f")")
done
install -m 0644 "$obj/scripts/target.json" "$scripts/target.json"
files+=("${scripts#"$root"}/target.json")
{
    echo "# Rust metadata for $XMC_KVER added by xen_mcelog's tests/rust-headers.sh"
    echo "# rustc: $want"
    printf '%s\n' "${files[@]}"
} > "$manifest"
log "added ${#files[@]} files to $hdr (list: $manifest)"

# The module itself is compiled by the rustc of the system that builds it:
# on a dom0 (root /) that is the host's, which must match as well.
if [ "$root" = "" ]; then
    if ! command -v rustc >/dev/null; then
        log "note: no rustc on this system: install rustc $want (and bindgen, libclang-dev) before building the module here"
    elif [ "$(rustc --version)" != "$want" ]; then
        log "warning: this system's rustc is '$(rustc --version)', not '$want': a DKMS build here would fail (incompatible crate metadata)"
    fi
fi
