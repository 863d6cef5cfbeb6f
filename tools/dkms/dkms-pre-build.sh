#!/bin/sh
# DKMS PRE_BUILD step of xen_mcelog: stop before compiling, with the fix, when
# the target kernel's headers cannot build a Rust module.
#   dkms-pre-build.sh KERNEL_BUILD_DIR
kdir=$1
if [ ! -f "$kdir/rust/libkernel.rmeta" ] || [ ! -f "$kdir/scripts/target.json" ]; then
    echo "xen_mcelog: $kdir has no Rust metadata (rust/*.rmeta, scripts/target.json):" >&2
    echo "  Debian's linux-headers packages do not ship it. Run" >&2
    echo "  '/usr/lib/xen_mcelog/xen-mcelog-rust-meta <kernel version>' (it says what to" >&2
    echo "  install if it cannot), then 'dkms install xen_mcelog/<version> -k <kernel version>'." >&2
    exit 1
fi
want=$(sed -n 's/^CONFIG_RUSTC_VERSION_TEXT="\(.*\)"$/\1/p' "$kdir/.config")
have=$(rustc --version 2>/dev/null || echo "no rustc")
if [ "$want" != "$have" ]; then
    echo "xen_mcelog: this kernel was built with '$want' but this system has '$have':" >&2
    echo "  install that exact rustc (with bindgen and libclang-dev) to build the module." >&2
    exit 1
fi
exit 0
