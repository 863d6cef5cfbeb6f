#!/usr/bin/env bash
# Checks the in-tree form (docs/install.md, "In a kernel tree"): the driver is
# dropped into drivers/xen/xen_mcelog/ of a scratch copy of the kernel source
# (hard links, seconds), drivers/xen/Kconfig and Makefile get their two
# lines, and Kconfig is run on Debian's config: with XEN_MCE_LOG=y the option
# must vanish (the conflict), with XEN_MCE_LOG off =m must stick. Then the
# module is built through the in-tree branch of Kbuild (CONFIG_XEN_MCELOG_RUST=m)
# against the prepared stock tree, and by an in-tree O= build of that
# directory (prepare + the one module: about 2 minutes).
set -euo pipefail
. "$(dirname "$0")/build/env.sh"
src=/xmc/intree-src obj=/xmc/intree-obj mod=/xmc/mod-intree
trap 'rm -rf "$XMC_ROOT$src" "$XMC_ROOT$obj" "$XMC_ROOT$mod"' EXIT
rm -rf "$XMC_ROOT$src" "$XMC_ROOT$obj" "$XMC_ROOT$mod"
cp -al "$XMC_ROOT/xmc/linux-$XMC_KPKG_VER" "$XMC_ROOT$src"
x=$XMC_ROOT$src/drivers/xen
mkdir "$x/xen_mcelog"
rsync -a --filter=". $XMC_REPO/tools/dkms/module-sources.rsync" "$XMC_REPO/" "$x/xen_mcelog/"
for f in Kconfig Makefile; do cp "$x/$f" "$x/$f.new"; rm "$x/$f"; mv "$x/$f.new" "$x/$f"; done   # break the hard links
sed -i 's|^endmenu|source "drivers/xen/xen_mcelog/Kconfig"\n\nendmenu|' "$x/Kconfig"
echo 'obj-$(CONFIG_XEN_MCELOG_RUST)		+= xen_mcelog/' >> "$x/Makefile"
mkdir -p "$XMC_ROOT$obj"
cfg=$XMC_ROOT$obj/.config
k=(make -s -C "$src" O="$obj" "${XMC_KMAKE_CC[@]}")
cp "$XMC_KDIR/usr/src/linux-headers-$XMC_KVER/.config" "$cfg"
echo CONFIG_XEN_MCELOG_RUST=m >> "$cfg"
in_root "${k[@]}" olddefconfig
grep -q '^CONFIG_XEN_MCE_LOG=y' "$cfg" && ! grep -q '^CONFIG_XEN_MCELOG_RUST=' "$cfg" ||
    die "Kconfig: with XEN_MCE_LOG=y, XEN_MCELOG_RUST must not be selectable"
in_root "$src/scripts/config" --file "$obj/.config" --disable XEN_MCE_LOG --module XEN_MCELOG_RUST
in_root "${k[@]}" olddefconfig
grep -q '^CONFIG_XEN_MCELOG_RUST=m' "$cfg" ||
    die "Kconfig: with XEN_MCE_LOG off, XEN_MCELOG_RUST=m did not stick"
log "Kconfig: conflicts with XEN_MCE_LOG, =m with it off"
stock=$(bash "$XMC_REPO/tests/build/kernels.sh" path-stock)
mkdir -p "$XMC_ROOT$mod"
rsync -a "$x/xen_mcelog/" "$XMC_ROOT$mod/"
in_root make -s -C "$stock" "${XMC_KMAKE_CC[@]}" M="$mod" CONFIG_XEN_MCELOG_RUST=m -j2 modules >&2
[ -f "$XMC_ROOT$mod/xen_mcelog.ko" ] || die "Kbuild: the CONFIG_XEN_MCELOG_RUST=m branch built no xen_mcelog.ko"
log "Kbuild: the in-tree branch (obj-\$(CONFIG_XEN_MCELOG_RUST)) builds xen_mcelog.ko"
# And as a kernel developer builds it: in the tree, with a separate object
# directory (O=), where generated files are not beside the sources.
exec 9>"$XMC_CACHE/kernel-build.lock"; flock 9
in_root nice -n 5 "${k[@]}" -j2 prepare modules_prepare
# The directory target compiles and links the module's objects (no vmlinux is
# built here, so no modpost): what matters is that the crate compiles in an
# O= tree, its generated bindings found in the object tree.
in_root nice -n 5 "${k[@]}" -j2 drivers/xen/xen_mcelog/
[ -f "$XMC_ROOT$obj/drivers/xen/xen_mcelog/xen_mcelog.o" ] || die "the in-tree O= build made no xen_mcelog.o"
[ -f "$XMC_ROOT$obj/drivers/xen/xen_mcelog/src/xmc_helper_generated.rs" ] || die "no generated bindings in the object tree"
[ ! -e "$x/xen_mcelog/src/xmc_helper_generated.rs" ] || die "the in-tree O= build wrote into the source tree"
log "Kbuild: in-tree O= build of drivers/xen/xen_mcelog/ (bindings generated in the object tree)"
