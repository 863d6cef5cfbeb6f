#!/usr/bin/env bash
# DKMS packaging of xen_mcelog.
#   tools/dkms/dkms.sh stage ROOT    copy the module's sources and dkms.conf to
#                                    ROOT/usr/src/xen_mcelog-<version>/
#   tools/dkms/dkms.sh install       on this dom0: the Rust metadata tool and
#                                    its kernel/APT hooks, the sources into
#                                    /usr/src, the metadata of $KVER (default
#                                    uname -r), then dkms add, build, install
#   tools/dkms/dkms.sh check         the proof, in the sid build root: the
#                                    metadata tool (as installed on a dom0)
#                                    gives the root's linux-headers of the
#                                    stock kernel its Rust metadata, dkms from
#                                    Debian, dkms
#                                    add + build against those headers; the
#                                    .ko is copied to $XMC_CACHE/out/dkms/ and
#                                    its path printed last. Skips the build
#                                    when neither sources nor headers changed.
set -euo pipefail
. "$(dirname "$0")/../../tests/build/env.sh"
name=xen_mcelog
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$XMC_REPO/tools/dkms/dkms.conf")
[ -n "$ver" ] || die "no PACKAGE_VERSION in tools/dkms/dkms.conf"

# The files Kbuild needs (module-sources.rsync, the set every copy of the tree uses),
# and Kconfig for a build in a kernel tree.
stage() {
    local dst=$1/usr/src/$name-$ver
    rm -rf "$dst"; mkdir -p "$dst"
    rsync -a --filter=". $XMC_REPO/tools/dkms/module-sources.rsync" "$XMC_REPO/" "$dst/"
    install -m 0644 "$XMC_REPO/tools/dkms/dkms.conf" "$dst/dkms.conf"
    install -m 0755 "$XMC_REPO/tools/dkms/dkms-pre-build.sh" "$dst/dkms-pre-build.sh"
    echo "$dst"
}

# The metadata tool and the hooks that run it for new kernels.
install_hooks() {
    local r=$1
    install -D -m 0755 "$XMC_REPO/tools/dkms/xen-mcelog-rust-meta" "$r/usr/lib/xen_mcelog/xen-mcelog-rust-meta"
    install -D -m 0755 "$XMC_REPO/tools/dkms/kernel-hook" "$r/etc/kernel/header_postinst.d/50-xen-mcelog-rust-meta"
    install -D -m 0755 "$XMC_REPO/tools/dkms/kernel-hook" "$r/etc/kernel/postinst.d/50-xen-mcelog-rust-meta"
    install -D -m 0755 "$XMC_REPO/tools/dkms/kernel-hook" "$r/etc/kernel/postrm.d/50-xen-mcelog-rust-meta"
    install -D -m 0644 "$XMC_REPO/tools/dkms/90xen-mcelog.apt.conf" "$r/etc/apt/apt.conf.d/90xen-mcelog"
}

case ${1:-} in
stage)
    stage "${2:?usage: dkms.sh stage ROOT}" ;;
install)
    # On this dom0 (or, with DESTDIR, staged): the metadata tool, the kernel
    # and APT hooks, the sources; then the Rust metadata of the target kernel
    # (KVER, default the running one) and dkms add/build/install for it.
    command -v dkms >/dev/null || die "dkms is not installed (apt-get install dkms)"
    kver=${KVER:-$(uname -r)}
    install_hooks ""
    stage "" >/dev/null
    /usr/lib/xen_mcelog/xen-mcelog-rust-meta "$kver" ||
        die "no Rust metadata for $kver (the line above says what to install); then re-run make dkms-install"
    dkms remove "$name/$ver" --all >/dev/null 2>&1 || true
    dkms add "$name/$ver"
    dkms build "$name/$ver" -k "$kver"
    dkms install "$name/$ver" -k "$kver"
    log "installed for $kver; new kernels get it through the kernel hook and dkms"
    ;;
check)
    # The kernel's own headers package, installed in the build root as on a
    # dom0 (dkms builds against /lib/modules/<release>/build).
    in_root dpkg -s "linux-headers-$XMC_KVER" >/dev/null 2>&1 ||
        in_root apt-get install -y -q "linux-headers-$XMC_KVER=$XMC_KPKG_VER" >&2
    # The Rust metadata, made exactly as on a dom0: the installed tool, run in
    # the root, from the kernel's own linux-source package (cached: the tool
    # does nothing when the headers already carry current metadata).
    src=linux-source-$(echo "$XMC_KVER" | sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p')
    [ "$(in_root dpkg-query -W -f '${Version}' "$src" 2>/dev/null || true)" = "$XMC_KPKG_VER" ] ||
        in_root apt-get install -y -q --no-install-recommends "$src=$XMC_KPKG_VER" >&2
    install_hooks "$XMC_ROOT"
    in_root /usr/lib/xen_mcelog/xen-mcelog-rust-meta "$XMC_KVER" >&2 ||
        die "xen-mcelog-rust-meta $XMC_KVER failed in $XMC_ROOT (see above)"
    in_root dpkg -s dkms >/dev/null 2>&1 ||
        in_root apt-get install -y -q --no-install-recommends dkms >&2
    out=$XMC_CACHE/out/dkms
    mkdir -p "$out"
    # Cache key: the overlay's files and the sources dkms builds, by content.
    key=$( (cd "$XMC_ROOT/usr/src/linux-headers-$XMC_KVER/rust" && sha256sum lib*.rmeta lib*.so
            cd "$XMC_REPO" && find Kbuild src ring chardev tools/dkms/dkms.conf tools/dkms/dkms-pre-build.sh -type f \
                -not -path '*/target/*' -not -path '*/fuzz/*' -not -path '*/tests/*' | sort | xargs sha256sum
           ) | sha256sum | cut -c1-16)
    if [ -f "$out/xen_mcelog.ko" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key" ]; then
        log "dkms build cached ($key): $out/xen_mcelog.ko"
        echo "$out/xen_mcelog.ko"; exit 0
    fi
    stage "$XMC_ROOT" >/dev/null
    in_root dkms remove "$name/$ver" --all >/dev/null 2>&1 || true
    in_root dkms add "$name/$ver" >&2
    t0=$(date +%s)
    if ! in_root dkms build "$name/$ver" -k "$XMC_KVER" >&2; then
        tail -40 "$XMC_ROOT/var/lib/dkms/$name/$ver/$XMC_KVER/x86_64/log/make.log" >&2 2>/dev/null || true
        die "dkms build against linux-headers-$XMC_KVER failed"
    fi
    log "dkms build against linux-headers-$XMC_KVER: $(( $(date +%s) - t0 )) s"
    mod=$XMC_ROOT/var/lib/dkms/$name/$ver/$XMC_KVER/x86_64/module
    if [ -f "$mod/$name.ko" ]; then cp "$mod/$name.ko" "$out/$name.ko"
    elif [ -f "$mod/$name.ko.xz" ]; then xz -dc "$mod/$name.ko.xz" > "$out/$name.ko"
    else die "dkms build left no $name.ko in $mod"; fi
    vm=$(in_root modinfo -F vermagic "/var/lib/dkms/$name/$ver/$XMC_KVER/x86_64/module/$(basename "$(ls "$mod"/$name.ko*)")")
    log "vermagic: $vm"
    case $vm in "$XMC_KVER "*) ;; *) die "vermagic '$vm' is not the stock kernel's ($XMC_KVER)";; esac
    echo "$key" > "$out/key"
    echo "$out/$name.ko"
    ;;
*)
    die "usage: $0 stage ROOT | install | check" ;;
esac
