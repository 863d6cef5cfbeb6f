#!/usr/bin/env bash
# make check-system: build (or reuse) the Debian 13 dom0 image
# (tests/system/build-image.sh) and boot it as PV dom0 under its own Xen 4.20
# in QEMU, on a throw-away qcow2 overlay, with the image's kernel and
# initramfs and the dom0 command line of GRUB's "with Xen hypervisor" entry
# (checked inside: update-grub there must write exactly it). systemd brings
# the system up; xmc-system-check.service reports TAP on the console.
set -euo pipefail
. "$(dirname "$0")/../build/env.sh"
S=$XMC_CACHE/system
img=$(bash "$XMC_REPO/tests/system/build-image.sh" | tail -1)
[ -f "$img" ] || die "no system image"
B=$S/boot; rm -rf "$B"; mkdir -p "$B/mnt"
mount -o loop,ro "$img" "$B/mnt"
trap 'umount -l "$B/mnt" 2>/dev/null || true' EXIT
k=$(ls "$B/mnt/boot/" | sed -n 's/^vmlinuz-\(.*\)$/\1/p' | sort -V | tail -1)
cp "$B/mnt/boot/vmlinuz-$k" "$B/mnt/boot/initrd.img-$k" "$B/"
# dom0's arguments as GRUB's 20_linux_xen builds them: /etc/default/grub, then
# /etc/default/grub.d/*.cfg in order (grub-mkconfig sources them), the
# _XEN_REPLACE variables replacing GRUB_CMDLINE_LINUX(_DEFAULT) where set.
# Debian's xen.cfg calls grub-mkconfig_lib's grub_warn and gettext.
dargs=$( (grub_warn() { :; }; gettext() { printf '%s' "$1"; }; set +u
    # shellcheck source=/dev/null # the image's GRUB defaults, read as update-grub reads them
    . "$B/mnt/etc/default/grub"
    # shellcheck source=/dev/null # (the same)
    for f in "$B"/mnt/etc/default/grub.d/*.cfg; do . "$f"; done
    echo "${GRUB_CMDLINE_LINUX_XEN_REPLACE:-$GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_XEN_REPLACE_DEFAULT:-$GRUB_CMDLINE_LINUX_DEFAULT}") 2>/dev/null)
umount "$B/mnt"; trap - EXIT
# dom0's command line: what GRUB's Xen entry carries (root by UUID, the
# admin's arguments and the README's initcall_blacklist=xen_late_init_mcelog).
# update-grub cannot see the image's disk from the build chroot (20_linux_xen
# skips a root on a loop-mounted file), so the check inside the booted system
# runs update-grub on the real virtio disk and compares the entry it writes
# with this line.
uuid=$(blkid -s UUID -o value "$img")
[ -n "$uuid" ] || die "no file system UUID in $img"
args="root=UUID=$uuid ro $dargs"
log "dom0 boots $k with: $args"
# The fleet (docs/tools.md, "Metrics and alerts"): a real Prometheus and Alertmanager on this
# host with the shipped rules (tools/tests/prom-stack.sh), across the three
# boots. Prometheus scrapes dom0's prometheus-node-exporter (its textfile
# collector: the whole set takes seconds under TCG) through a forward from a
# loopback port to dom0's 9100; the check inside dom0 asks Prometheus and the
# webhook receiver at 10.0.2.2, which QEMU's user network maps to this host's
# loopback. dom0 gets no default route: nothing leaves the machine.
. "$XMC_REPO/tools/tests/prom-stack.sh"
stack_install || die "the fleet: Prometheus and Alertmanager missing"
read -r NEF PROM AM HOOK < <(stack_ports 4)
F=$S/fleet; rm -rf "$F"; mkdir -p "$F"
# What Prometheus saw of dom0 over the three boots (the scrapes fail between them).
prom_value() { python3 "$STACK_PY" value "http://127.0.0.1:$PROM" "$1"; }
fleet_summary() { log "the fleet: $(prom_value 'sum(count_over_time(up{job="node"}[3h]))') scrapes, $(prom_value 'sum(sum_over_time(up{job="node"}[3h]))') answered, slowest $(prom_value 'max(max_over_time(scrape_duration_seconds{job="node"}[3h]))') s; alerts received: $(curl -sf "http://127.0.0.1:$HOOK/" | awk '{ print $2 }' | sort -u | paste -sd' ')"; }
trap 'fleet_summary || true; stack_stop' EXIT
STACK_SCRAPE=5s STACK_EVAL=2s stack_start "$F" "$PROM" "$AM" "$HOOK" "  - job_name: node
    scrape_timeout: 4s
    params: {'collect[]': [textfile]}
    static_configs: [{targets: ['127.0.0.1:$NEF'], labels: {instance: xmc-dom0}}]" ||
    die "the fleet: Prometheus' configuration (promtool check config: $F/check-config)"
log "the fleet: Prometheus 127.0.0.1:$PROM, Alertmanager :$AM, webhook :$HOOK; dom0's node_exporter at :$NEF (logs: $F)"
args="$args xmc.fleet=$PROM:$HOOK"   # (no comma: QEMU splits -initrd at commas)
ov=$S/run.qcow2; rm -f "$ov"
qemu-img create -q -f qcow2 -b "$img" -F raw "$ov"
export XMC_KERNEL=bpo73   # the harness's Xen: trixie's 4.20 (the image's own)
# The firmware's ERST store, kept across the boots like NVRAM: boot 2 ends in
# a fatal machine check that Xen saves there.
erst=$S/erst.store; rm -f "$erst"; : > "$erst"
H=(python3 "$XMC_REPO/tests/sandbox/harness.py" --initrd "image=$B/initrd.img-$k"
   --erst "$erst"
   --image "$ov" --image-kernel "$B/vmlinuz-$k" --image-cmdline "$args"
   --hostfwd "tcp:127.0.0.1:$NEF-:9100"
   --boot-timeout 600 --case-timeout 900 "$@")
log "system boot 1: the installed system, checked from inside"
"${H[@]}" system@image:system
# Boot 1 ends with persist = grub (retire.conf): the service wrote the retired
# frames into /etc/default/grub.d and ran update-grub, whose Xen entries now
# carry badpage=. This harness boots Xen with QEMU -kernel and its own Xen
# command line, not through GRUB: boots 2 and 3 get the badpage= word of that
# grub.cfg entry, which boot 1 printed on the console (XMC-XEN-ARGS).
xa=$(tr -d '\r' < "$XMC_CACHE/out/logs/xmc-system-system.serial.log" |
    sed -n 's/.*XMC-XEN-ARGS \(badpage=[0-9a-fx,-]*\).*/\1/p' | tail -1)
[ -n "$xa" ] || die "boot 1 printed no XMC-XEN-ARGS badpage=... (persist = grub)"
log "boots 2 and 3: Xen's command line also has $xa (GRUB's Xen entry, written in boot 1)"
H+=(--xen-args "$xa")
# The same disk again: the module loads at boot again, the services come up;
# it ends with a fatal machine check (Xen panics and saves it in ERST).
log "system boot 2: the same disk rebooted"
"${H[@]}" system@image:system
# Xen's console (the serial line) showed the list at boot: Xen prints nothing
# else about badpage= (xen/common/page_alloc.c init_boot_pages).
tr -d '\r' < "$XMC_CACHE/out/logs/xmc-system-system.serial.log" | grep -a "Command line: .*$xa" | head -1 |
    grep . || die "boot 2: Xen's console has no 'Command line: ... $xa'"
# The reset's fatal machine check reaches rasdaemon, the only consumer.
log "system boot 3: after the fatal machine check, rasdaemon only"
"${H[@]}" system@image:system
log "check-system: all three boots passed"
