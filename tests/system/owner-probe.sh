# shellcheck shell=sh
# xen_mcelog's page-owner probe (XMC_PAGE_OWNER; docs/page-retirement.md,
# "The owner probe") on the installed Debian 13 dom0, with a running PV domU:
# the ioctl's answers, that it leaves Xen's page state and the guest alone,
# and page retirement's two paths that asked Xen's page-offline sysctl about a
# guest's page before the probe (a deferred page's retry, which hung dom0 at
# that sysctl on Xen 4.20.4, 2026-12-02, and a retired page after a reboot).
#
# NOT WIRED IN YET: written before it could run under Xen. To wire it:
#  - tests/system/build-image.sh, harness(): install this file as
#    /usr/local/lib/xmc/owner-probe.sh and the static xmc-test ($OUT/bin,
#    make dom0-tools) as /usr/local/sbin/xmc-test (neither is packaged);
#  - tests/system/xmc-system-check, boot 2 (the `if [ $boot -ge 2 ]` part),
#    after the xmcguest2 block: `. /usr/local/lib/xmc/owner-probe.sh;
#    owner_probe_checks`, in place of the comment that says the deferred
#    page's case is not checked;
#  - docs/testing.md: what boot 2 checks.
# It uses xmc-system-check's helpers and settings: check ok fail diag wait_for
# (tests/lib/tap.sh), has retire_log mem_status online pfn_mfn dump_p2m, $cfg
# $stf, and sets $since.
# shellcheck disable=SC2154 # cfg and stf are xmc-system-check's

owner_probe_checks() {
    dev=/dev/xen_mcelog
    # probe_owner MFN DOMID: the ioctl's answer, xen_rc=N or owner=err:ERRNO.
    probe_owner() { xmc-test owner $dev "$1" "$2"; }
    journalctl -b -k -o cat | grep 'page-owner probe' | sed 's/^/# kernel: /'
    check "owner probe: the module set it up at load (no 'page-owner probe' line in the kernel log)" \
        sh -c "! journalctl -b -k -o cat | grep -q 'page-owner probe'"
    k=$(uname -r)
    printf 'name = "xmcguest3"\ntype = "pv"\nkernel = "/boot/vmlinuz-%s"\nramdisk = "/boot/initrd.img-%s"\nextra = "console=hvc0 root=/dev/xmc-none rootdelay=1 panic=0"\nmemory = 256\nvcpus = 1\n' "$k" "$k" > /run/xmcguest3.cfg
    check "  xl create a PV domU" xl create /run/xmcguest3.cfg
    gid=$(xl domid xmcguest3 2>/dev/null)
    wait_for 60 dump_p2m "$gid" 0x3500 /run/p2m3.txt || head -3 /run/p2m3.txt | sed 's/^/# p2m: /'
    G=$(pfn_mfn 0x3500 /run/p2m3.txt); G2=$(pfn_mfn 0x3600 /run/p2m3.txt)
    diag "domain $gid's guest frames 0x3500, 0x3600 are machine frames ${G:-?}, ${G2:-?}"
    if [ -z "$G" ] || [ -z "$G2" ] || [ $((G)) -le 256 ] || [ $((G2)) -le 256 ]; then
        fail "  xen-mfndump gives the machine frames of guest frames 0x3500 and 0x3600"
        xl destroy xmcguest3 2>/dev/null || true
        return
    fi
    # The ioctl: Xen's mmu_update result, or the module's refusal.
    check "  domain $gid owns $G: xen_rc=0 ($(probe_owner "$G" "$gid"))" test "$(probe_owner "$G" "$gid")" = xen_rc=0
    check "  a domain that does not exist: ESRCH, xen_rc=-3 ($(probe_owner "$G" $((gid + 100))))" \
        test "$(probe_owner "$G" $((gid + 100)))" = xen_rc=-3
    check "  a frame outside RAM (0xfe00000): EPERM, xen_rc=-1 ($(probe_owner 0xfe00000 "$gid"))" \
        test "$(probe_owner 0xfe00000 "$gid")" = xen_rc=-1
    for d in 0 32752 32754 32755; do   # dom0 itself, DOMID_SELF, DOMID_XEN, DOMID_COW
        check "  domain $d is refused before Xen is asked: EINVAL ($(probe_owner "$G" $d))" test "$(probe_owner "$G" $d)" = owner=err:22
    done
    check "  frame 2^40 - 1 (Xen's INVALID_MFN) is refused: EINVAL" test "$(probe_owner 0xffffffffff "$gid")" = owner=err:22
    # Nothing left behind: a thousand probes, then Xen's view of the page, the
    # guest and the kernel log as before.
    i=0; while [ $i -lt 1000 ]; do probe_owner "$G" "$gid" > /dev/null; i=$((i + 1)); done
    check "  after 1000 probes: still xen_rc=0" test "$(probe_owner "$G" "$gid")" = xen_rc=0
    check "  Xen's page state untouched: $G online, not offline-pending ($(mem_status "$G"))" online "$G"
    check "  the guest still runs (xl list: $(xl list xmcguest3 2>/dev/null | awk 'NR == 2 { print $5 }'))" \
        sh -c "xl list xmcguest3 | awk 'NR == 2 { exit (\$5 ~ /[cd]/) }'"
    # Page retirement: a deferred page's retry and a retired page after a
    # reboot, both now a guest's, written into the state file as the service
    # left them (service stopped); it starts with max-offlines room, asks the
    # probe and sends no offline request.
    sed -i 's|^max-offlines = .*|max-offlines = 10 / 1h|; s|^guest-pages = .*|guest-pages = skip|' "$cfg"
    systemctl stop xen-mcelog-json
    now=$(date +%s)
    {
        echo "page $G state=deferred count=0 since=$now errors=3 attempts=0 changed=$now owner=32756"
        echo "page $G2 state=offlined count=0 since=$now errors=3 attempts=0 changed=$now owner=32756"
    } >> "$stf"
    # shellcheck disable=SC2034 # retire_log reads it
    since=$(date +%s); sleep 1
    systemctl start xen-mcelog-json
    check "  deferred page $G, now domain $gid's: left to it, no offline request (60 s)" wait_for 60 has \
        "page $G: deferred earlier, max-offlines allows it now: in use by domain $gid, not offlined: domain $gid owns it now (xen_mcelog's page-owner probe; no offline request sent)"
    check "  retired page $G2, now domain $gid's: left to it, no offline request" wait_for 10 has \
        "page $G2: retired before, but Xen reports it 0x0 [online] (the host rebooted?): in use by domain $gid, not offlined: domain $gid owns it now (xen_mcelog's page-owner probe; no offline request sent)"
    retire_log | grep -E "page ($G|$G2)|page-owner probe" | sed 's/^/# journal: /'
    c=$(retire_log | grep -cE "page ($G|$G2): .*(offlining it|Xen's answer)")
    check "  no offline request and no Xen answer for either ($c)" test "$c" = 0
    c=$(retire_log | grep -c 'page-owner probe cannot answer')
    check "  the probe answered (no 'page-owner probe cannot answer': $c)" test "$c" = 0
    check "  Xen's page state untouched: $G online ($(mem_status "$G"))" online "$G"
    check "  Xen's page state untouched: $G2 online ($(mem_status "$G2"))" online "$G2"
    check "  the state file has both as the guest's" \
        sh -c "grep -q '^page $G state=guest .* owner=$gid\$' $stf && grep -q '^page $G2 state=guest .* owner=$gid\$' $stf"
    # The guest goes, promptly and wholly: what hung dom0 before the probe.
    check "  xl destroy xmcguest3 (60 s)" timeout 60 xl destroy xmcguest3
    # shellcheck disable=SC2317 # wait_for calls it
    gone3() { ! xl list 2>/dev/null | grep -Eq "^(xmcguest3|\(null\)) "; }
    check "  the domain is gone, no zombie (xl list, 30 s)" wait_for 30 gone3
    check "  its frame answers no more: ESRCH, xen_rc=-3 ($(probe_owner "$G" "$gid"))" test "$(probe_owner "$G" "$gid")" = xen_rc=-3
    st=$(journalctl -b -k -o cat | grep -E 'rcu.*stall|soft lockup|hung_task|WARNING:|BUG:')
    [ -n "$st" ] && echo "$st" | head -5 | sed 's/^/# kernel: /'
    check "  no RCU stall, lockup, WARNING or BUG in the kernel log" test -z "$st"
    # Back as it was: the two pages out of the state file.
    systemctl stop xen-mcelog-json
    sed -i "/^page $G /d; /^page $G2 /d" "$stf"
    systemctl start xen-mcelog-json
}
