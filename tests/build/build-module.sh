#!/usr/bin/env bash
# Build xen_mcelog.ko against one of the cached kernel trees, inside the build
# root (the kernel's exact toolchain; stock = XMC_KERNEL's Debian kernel):
#   build-module.sh stock|test|debug|kasan [make args, e.g. CLIPPY=1]
# Sources are mirrored (rsync, mtimes kept, so rebuilds are incremental) into
# a per-tree directory so the two trees never clobber each other's objects.
# Prints the path of the built .ko on the last line.
set -euo pipefail
. "$(dirname "$0")/env.sh"
tree=$1; shift
obj=$(bash "$XMC_REPO/tests/build/kernels.sh" "path-$tree")
[ -e "$XMC_ROOT$obj/.xmc-done" ] || die "the $tree kernel tree is not built: run tests/build/kernels.sh $tree"
# stock trees: one per kernel of tests/kernels.conf (XMC_KERNEL)
if [ "$tree" = stock ]; then mod=/xmc/mod-stock-$XMC_KERNEL; else mod=/xmc/mod-$tree; fi
mkdir -p "$XMC_ROOT$mod"
# Kbuild's copy of the kernel's bindgen_skip_c_flags (why a copy: Kbuild)
# must hold every flag of this kernel's rust/Makefile list.
skip_flags() {   # skip_flags MAKEFILE VAR: the words of VAR's := assignment
    awk -v var="$2" '
        $0 ~ "^" var "[ \t]*:=" { on = 1; sub("^" var "[ \t]*:=", "") }
        on { c = sub(/\\[ \t]*$/, ""); print; if (!c) exit }' "$1" | tr -s ' \t' '\n' | sed '/^$/d' | sort -u
}
src=$XMC_ROOT$(readlink "$XMC_ROOT$obj/source" 2> /dev/null || echo "$obj")
if [ -f "$src/rust/Makefile" ]; then
    kernel_skips=$(skip_flags "$src/rust/Makefile" bindgen_skip_c_flags)
    [ -n "$kernel_skips" ] || die "$src/rust/Makefile has no bindgen_skip_c_flags list any more: see Kbuild"
    missing=$(comm -13 <(skip_flags "$XMC_REPO/Kbuild" xmc_bindgen_skip_c_flags) <(echo "$kernel_skips"))
    [ -z "$missing" ] || die "Kbuild's xmc_bindgen_skip_c_flags lacks what $tree's rust/Makefile skips: $(echo "$missing" | tr '\n' ' ') (add them: Kbuild says why it is a copy)"
fi
rsync -a --delete --filter=". $XMC_REPO/tools/dkms/module-sources.rsync" \
    "$XMC_REPO/" "$XMC_ROOT$mod/"
if [ "$tree" = kasan ]; then   # built with Clang: the module too
    in_root make -C "$obj" ARCH=x86 LLVM=$XMC_LLVM M="$mod" -j2 "$@" modules >&2
else
    in_root make -C "$obj" "${XMC_KMAKE_CC[@]}" M="$mod" -j2 "$@" modules >&2
fi
echo "$XMC_ROOT$mod/xen_mcelog.ko"
